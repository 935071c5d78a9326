"""The migrations folder: discovery, order, checksums, the lock file.

Mirrors Prisma's schema engine: one sub-folder per migration holding `migration.sql`,
ordered by folder name; the checksum is the SHA-256 of the script's bytes, and an
applied checksum still matches after a CRLF/LF conversion or when it was written by an
old Prisma that dropped the leading zero of each byte's hex.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from lumiku_tui.errors import SourceError

SCRIPT_NAME = "migration.sql"
LOCK_FILE = "migration_lock.toml"
SEARCHED_FOLDERS = ("prisma/migrations", "backend/prisma/migrations", "migrations")
_BOM = "\ufeff"


# Prisma's CLI orders migration folders with JavaScript's localeCompare (ICU root collation),
# not byte order: punctuation sorts before digits, digits before letters, and letters compare
# case-insensitively first (lower case first on a tie).
_PUNCTUATION_ORDER = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"


def _char_keys(char: str) -> tuple[tuple[int, int], str, int]:
    import unicodedata

    base = unicodedata.normalize("NFD", char)
    letter, accents = base[0], base[1:]
    if char.isspace():
        primary = (0, ord(char))
    elif char in _PUNCTUATION_ORDER:
        primary = (1, _PUNCTUATION_ORDER.index(char))
    elif char.isdigit():
        primary = (3, int(char) if char.isascii() else ord(char))
    elif letter.isalpha():
        primary = (4, ord(letter.lower()))
    else:
        primary = (2, ord(char))
    return primary, accents, 1 if char.isupper() else 0


_ASCII_KEYS = {chr(code): _char_keys(chr(code)) for code in range(128)}


@functools.lru_cache(maxsize=8192)
def prisma_sort_key(name: str) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...], tuple[int, ...]]:
    """Primary (character class and base letter), secondary (accents), tertiary (case) levels."""
    keys = [_ASCII_KEYS[c] for c in name] if name.isascii() else [_char_keys(c) for c in name]
    return tuple(k[0] for k in keys), tuple(k[1] for k in keys), tuple(k[2] for k in keys)


def checksum(script: bytes) -> str:
    return hashlib.sha256(script).hexdigest()


def _legacy_checksum(script: bytes) -> str:
    # Old Prisma versions formatted each byte with {:x}, dropping leading zeros.
    return "".join(format(byte, "x") for byte in hashlib.sha256(script).digest())


def checksum_matches(script: bytes, recorded: str) -> bool:
    """Whether a recorded checksum belongs to this script, as Prisma decides it.

    The script as it is, with CRLF turned to LF and with LF turned to CRLF are all tried;
    a recorded value that is not 64 characters long is an old unpadded one.
    """
    legacy = bool(recorded) and len(recorded) != 64
    as_lf = script.replace(b"\r\n", b"\n")
    for variant in (script, as_lf, as_lf.replace(b"\n", b"\r\n")):
        if (_legacy_checksum(variant) if legacy else checksum(variant)) == recorded:
            return True
    return False


@dataclass(frozen=True)
class LocalMigration:
    """One migration folder's script. Construction fails with UnicodeDecodeError on non-UTF-8 bytes."""

    name: str
    path: Path
    raw: bytes = field(repr=False)
    #: The SQL to run: decoded, without a byte-order mark (PostgreSQL rejects one).
    script: str = field(init=False, repr=False, compare=False)
    #: Prisma's checksum: of the raw bytes, byte-order mark included.
    checksum: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        text = self.raw.decode("utf-8")
        object.__setattr__(self, "script", text[1:] if text.startswith(_BOM) else text)
        object.__setattr__(self, "checksum", checksum(self.raw))

    @property
    def has_bom(self) -> bool:
        return self.raw.startswith(b"\xef\xbb\xbf")

    def matches(self, recorded_checksum: str) -> bool:
        if recorded_checksum == self.checksum:
            return True
        return checksum_matches(self.raw, recorded_checksum)


@dataclass(frozen=True)
class MigrationsFolder:
    path: Path
    how_found: str
    migrations: tuple[LocalMigration, ...]
    provider: str | None

    def by_name(self) -> dict[str, LocalMigration]:
        return {m.name: m for m in self.migrations}


def find_migrations_dir(explicit: str | Path | None = None, *, cwd: Path | None = None) -> tuple[Path, str]:
    """The folder to use and how it was chosen (shown to the operator)."""
    cwd = Path.cwd() if cwd is None else cwd
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise SourceError(
                f"The migrations folder {path} does not exist.",
                hint="Pass --migrations with the path to prisma/migrations.",
            )
        return path, "--migrations"
    for candidate in SEARCHED_FOLDERS:
        path = cwd / candidate
        if path.is_dir():
            return path, f"found {candidate} in {cwd}"
    raise SourceError(
        f"No migrations folder found in {cwd}.",
        why="Looked for " + ", ".join(SEARCHED_FOLDERS) + ".",
        hint="Run from the app folder (the one holding prisma/) or pass --migrations PATH.",
    )


_PROVIDER = re.compile(r'^\s*provider\s*=\s*"([^"]*)"', re.MULTILINE)


def read_provider(folder: Path) -> str | None:
    lock = folder / LOCK_FILE
    if not lock.is_file():
        return None
    match = _PROVIDER.search(lock.read_text(encoding="utf-8", errors="replace"))
    return match.group(1) if match else None


def load_folder(path: Path, how_found: str = "--migrations") -> MigrationsFolder:
    provider = read_provider(path)
    if provider is not None and provider not in ("postgresql", "postgres"):
        raise SourceError(
            f"{path / LOCK_FILE} says the migrations were written for `{provider}`, not PostgreSQL.",
            why="Prisma refuses to apply a history made for another database (P3019), and so does lumiku-tui.",
            hint="Point --migrations at the PostgreSQL history, or regenerate the history for postgresql.",
        )
    migrations: list[LocalMigration] = []
    with os.scandir(path) as listing:
        names = [e.name for e in listing if e.is_dir() and not e.name.startswith(".")]
    root = str(path)
    for name in sorted(names, key=prisma_sort_key):
        script_file = os.path.join(root, name, SCRIPT_NAME)
        try:
            with open(script_file, "rb") as handle:
                raw = handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raw = None
        if raw is None:
            entry = path / name
            raise SourceError(
                f"The migration folder {entry.name} has no {SCRIPT_NAME}.",
                why=f"Every folder in {path} is a migration to Prisma; {entry} holds "
                + (", ".join(sorted(p.name for p in entry.iterdir())) or "nothing") + ".",
                hint=f"Restore {entry.name}/{SCRIPT_NAME} from version control, or remove the stray folder.",
            )
        try:
            migration = LocalMigration(name, Path(script_file), raw)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise SourceError(
                f"{name}/{SCRIPT_NAME} is not valid UTF-8 (byte {exc.start}, line {line}).",
                why="Prisma reads migration scripts as UTF-8 and would refuse this file too.",
                hint="Re-save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`).",
            ) from None
        nul = raw.find(b"\x00")
        if nul >= 0:
            line = raw.count(b"\n", 0, nul) + 1
            raise SourceError(
                f"{name}/{SCRIPT_NAME} holds a NUL byte (line {line}).",
                why="PostgreSQL cannot take a NUL character in SQL text, and its scanner would stop there, "
                "silently dropping the rest of the script.",
                hint="Remove the NUL byte (it usually comes from a paste of binary data).",
            )
        if not migration.script.strip():
            raise SourceError(
                f"{name}/{SCRIPT_NAME} is empty.",
                why="An empty migration would be recorded as applied while changing nothing; that is "
                "almost always a file lost in a merge.",
                hint="Restore its contents, or write `-- intentionally empty` in it to apply it as a no-op.",
            )
        migrations.append(migration)
    return MigrationsFolder(path=path, how_found=how_found, migrations=tuple(migrations), provider=provider)


def shipped_migrations_dir() -> Path:
    """The Lumiku history that travels with the package (for the demo)."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_shipped_migrations", package.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    raise SourceError("The shipped demo migrations are missing from this installation.",
                      hint="Reinstall lumiku-tui.")
