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
import stat
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

from lumiku_tui.errors import ScriptChanged, SourceError

SCRIPT_NAME = "migration.sql"
LOCK_FILE = "migration_lock.toml"
SEARCHED_FOLDERS = ("prisma/migrations", "backend/prisma/migrations", "migrations")
#: The largest migration.sql read: far above any real migration, well below what would exhaust memory.
MAX_SCRIPT_BYTES = 256 * 1024 * 1024
#: The provider Prisma's schema engine names PostgreSQL with (what migration_lock.toml must say).
PROVIDER = "postgresql"
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
    """One migration folder's script, read as Prisma reads it.

    Prisma decodes the file as UTF-8 with each invalid sequence replaced by U+FFFD, runs that
    text and checksums it; so does this class (for a valid file the text's bytes are the file's).
    Of a valid file only the text is kept (the bytes are the text's own): a data migration of
    tens of megabytes is held once, not twice. A valid file larger than STREAM_FROM_BYTES is not
    held at all (`streamed`): it is read in windows when it is split, linted or sent, each reading
    checked against the checksum taken when the folder was read.
    """

    name: str
    path: Path
    #: The file's bytes; None: read the file at `path` in pieces and keep no text when it is larger than
    #: STREAM_FROM_BYTES and valid UTF-8 (else it is read whole, as bytes given here are).
    content: InitVar[bytes | None]
    #: Prisma's checksum: of the decoded text's UTF-8 bytes, byte-order mark included.
    checksum: str = field(init=False)
    #: How many invalid UTF-8 sequences were replaced by U+FFFD (0 for a valid file).
    replaced: int = field(init=False, compare=False)
    #: The file's length in bytes.
    size: int = field(init=False, compare=False)
    has_bom: bool = field(init=False, compare=False)
    #: The file's bytes, kept only when they are not valid UTF-8 (then the text cannot give them back).
    _invalid: bytes | None = field(init=False, repr=False)
    #: The SQL to run (decoded, without a byte-order mark); None when streamed.
    _text: str | None = field(init=False, repr=False, compare=False)
    #: For a streamed file: whether it holds nothing but white space.
    _blank: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self, content: bytes | None) -> None:
        if content is None:
            scanned = _read_or_scan(self.path, f"{self.name}/{SCRIPT_NAME}")
            if isinstance(scanned, bytes):
                content = scanned
            elif scanned is not None:
                object.__setattr__(self, "checksum", scanned.checksum)
                object.__setattr__(self, "replaced", 0)
                object.__setattr__(self, "size", scanned.size)
                object.__setattr__(self, "has_bom", scanned.has_bom)
                object.__setattr__(self, "_invalid", None)
                object.__setattr__(self, "_text", None)
                object.__setattr__(self, "_blank", scanned.blank)
                return
            else:
                content = _read_regular(self.path, f"{self.name}/{SCRIPT_NAME}")
        try:
            text = content.decode("utf-8")
            replaced = 0
        except UnicodeDecodeError:
            text = content.decode("utf-8", errors="replace")
            replaced = text.count("\ufffd") - content.decode("utf-8", errors="ignore").count("\ufffd")
        has_bom = content.startswith(b"\xef\xbb\xbf")
        object.__setattr__(self, "_text", text[1:] if text.startswith(_BOM) else text)
        object.__setattr__(self, "_blank", False)
        object.__setattr__(self, "replaced", replaced)
        object.__setattr__(self, "size", len(content))
        object.__setattr__(self, "has_bom", has_bom)
        object.__setattr__(self, "_invalid", content if replaced else None)
        object.__setattr__(self, "checksum", checksum(content if not replaced else text.encode("utf-8")))

    @property
    def streamed(self) -> bool:
        """Not held in memory: read in windows (`windows`) by what splits, lints and sends it."""
        return self._text is None

    @property
    def script(self) -> str:
        """The SQL to run. Of a streamed file, read whole now (and checked against the checksum): what reads
        every statement of a large file reads `windows()` instead."""
        if self._text is not None:
            return self._text
        return "".join(self.windows())

    def windows(self, chars: int = 1 << 20) -> Iterator[str]:
        """The SQL to run in pieces of about `chars` characters (the whole text for a held file). Of a streamed
        file, the bytes read are checksummed as they go: ScriptChanged, after the last piece, when the file is no
        longer the one the folder read."""
        if self._text is not None:
            yield self._text
            return
        yield from _read_windows(self, chars)

    @property
    def raw(self) -> bytes:
        """The file's bytes as read."""
        if self._invalid is not None:
            return self._invalid
        if self._text is None:
            data = _read_regular(self.path, f"{self.name}/{SCRIPT_NAME}")
            if checksum(data) != self.checksum:
                raise changed_on_disk(self)
            return data
        return (_BOM if self.has_bom else "").encode("utf-8") + self._text.encode("utf-8")

    @property
    def _prisma_bytes(self) -> bytes:
        """The bytes Prisma checksums: the file itself unless invalid sequences were replaced."""
        if not self.replaced:
            return self.raw
        return self.raw.decode("utf-8", errors="replace").encode("utf-8")

    @property
    def is_empty(self) -> bool:
        if self._text is None:
            return self._blank
        return not self._text.strip()

    def matches(self, recorded_checksum: str) -> bool:
        if recorded_checksum == self.checksum:
            return True
        return checksum_matches(self._prisma_bytes, recorded_checksum)


def changed_on_disk(migration: "LocalMigration") -> ScriptChanged:
    """The error for a streamed file whose reading did not end with the checksum the folder read. Said where
    it is read (a plan, a lint, a deploy, a preview): what that reading did about it is its caller's to say."""
    return ScriptChanged(
        f"{migration.name}/{SCRIPT_NAME} changed on disk after it was read: it is no longer the file that was "
        "checked and approved.",
        why="Its checksum is no longer the one taken when the folder was read (the one to be recorded).",
        hint="Read it again (run the command again, or press r on the wizard's overview): the file as it is now "
        "is then checked, and approved, anew.")


#: A valid UTF-8 migration.sql larger than this is not held in memory: it is read in windows.
STREAM_FROM_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Scanned:
    checksum: str
    size: int
    has_bom: bool
    blank: bool


def _read_or_scan(path: Path, shown: str) -> "bytes | _Scanned | None":
    """The file's bytes when it is no larger than STREAM_FROM_BYTES; else Prisma's checksum and the facts a
    streamed migration keeps, the file read in pieces; None when it is to be read whole all the same (not valid
    UTF-8: Prisma checksums the text with invalid sequences replaced). SourceError for a file that is not
    regular, too big, or holds a NUL."""
    import codecs

    handle = _open_regular(path, shown)
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size <= STREAM_FROM_BYTES:
            return _read_bounded(handle, shown)
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")()
        blank = True
        first = True
        head = b""
        lines = 0
        total = 0
        while chunk := handle.read(1 << 20):
            total += len(chunk)
            if total > MAX_SCRIPT_BYTES:
                raise _grew_past(shown)
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise _nul_error(shown, lines + chunk.count(b"\n", 0, nul) + 1)
            lines += chunk.count(b"\n")
            if len(head) < 3:
                head += chunk[:3]
            digest.update(chunk)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                return None
            if first and text:  # a byte-order mark at the start is not part of the SQL, as for a held file
                text, first = text.removeprefix(_BOM), False
            if blank and text.strip():
                blank = False
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return _Scanned(digest.hexdigest(), total, head.startswith(b"\xef\xbb\xbf"), blank)


def _read_windows(migration: LocalMigration, chars: int) -> Iterator[str]:
    import codecs

    handle = _open_regular(migration.path, f"{migration.name}/{SCRIPT_NAME}")
    with handle:
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")()
        first = True
        try:
            while chunk := handle.read(chars):
                digest.update(chunk)
                text = decoder.decode(chunk)
                if first and text.startswith(_BOM):
                    text = text[1:]
                first = False
                if text:
                    yield text
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise changed_on_disk(migration) from None
    if digest.hexdigest() != migration.checksum:
        raise changed_on_disk(migration)


@dataclass(frozen=True)
class MigrationsFolder:
    path: Path
    how_found: str
    migrations: tuple[LocalMigration, ...]
    provider: str | None

    def by_name(self) -> dict[str, LocalMigration]:
        return {m.name: m for m in self.migrations}


def checksums_of(folder: "MigrationsFolder | None", names: "Iterable[str]") -> dict[str, str]:
    """The checksums of the files `names` as read now (what an approval or a dry run saw)."""
    local = folder.by_name() if folder is not None else {}
    return {name: local[name].checksum for name in names if name in local}


def find_migrations_dir(explicit: str | Path | None = None, *, cwd: Path | None = None,
                        schema: str | None = None, config: str | None = None) -> tuple[Path, str]:
    """The folder to use and how it was chosen (shown to the operator).

    --migrations, else where the Prisma project puts it (prisma.config.ts `migrations.path`, else beside
    the schema), else the first of SEARCHED_FOLDERS.
    """
    from lumiku_tui.prisma.config import discover

    cwd = Path.cwd() if cwd is None else cwd
    if explicit is not None:
        path = Path(explicit)
        if not path.is_dir():
            raise SourceError(
                f"The migrations folder {path} does not exist.",
                hint="Pass --migrations with the path to prisma/migrations.",
            )
        return path, "--migrations"
    project = discover(cwd, schema=schema, config=config)
    if project is not None:
        project.refuse_unknown("migrations")
    if project is not None and project.migrations_dir is not None:
        if project.migrations_dir.is_dir():
            return project.migrations_dir, f"{project.shown(project.migrations_dir)}: {project.migrations_how}"
        if project.config_file is not None and "migrations.path" in project.migrations_how:
            raise SourceError(
                f"The migrations folder {project.migrations_dir} named in {project.config_file.name} does not exist.",
                hint="Correct `migrations.path` in the config file, or pass --migrations.",
            )
    for candidate in SEARCHED_FOLDERS:
        path = cwd / candidate
        if path.is_dir():
            return path, f"found {candidate} in {cwd}"
    raise SourceError(
        f"No migrations folder found in {cwd}.",
        why="Looked for " + ", ".join(SEARCHED_FOLDERS) + ".",
        hint="Run from the app folder (the one holding prisma/) or pass --migrations PATH.",
    )


#: What Prisma reports when migration_lock.toml has no provider line.
NO_PROVIDER = "<PROVIDER NOT FOUND>"


def read_provider(folder: Path) -> str | None:
    """The provider in migration_lock.toml as Prisma's schema engine reads it; None without the file.

    Prisma takes the first line that starts with `provider`, strips a leading `provider = ` and
    the surrounding quotes; a file without such a line yields NO_PROVIDER (its P3019).
    """
    lock = folder / LOCK_FILE
    if not lock.is_file():
        return None
    text = _read_regular(lock, LOCK_FILE).decode("utf-8", errors="replace")
    for line in text.splitlines():
        if line.startswith("provider"):
            value = line[len("provider = "):] if line.startswith("provider = ") else line
            return value.strip('"')
    return NO_PROVIDER


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MiB" if count >= 1024 * 1024 else f"{count} bytes"


def _open_regular(path: Path | str, shown: str) -> IO[bytes]:
    """A regular file opened for reading, no larger than MAX_SCRIPT_BYTES when opened; anything else (FIFO,
    device, socket) is refused unread."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SourceError(f"{shown} cannot be read: {exc.strerror or exc}.",
                          hint="Check the file's permissions and that it is a plain file.") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode) else "a device" if
                stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket" if
                stat.S_ISSOCK(info.st_mode) else "a directory" if stat.S_ISDIR(info.st_mode) else "not a file")
        raise SourceError(
            f"{shown} is {kind}, not a regular file; nothing was read or applied.",
            why="Only regular files are read as migrations: a pipe or device could block or never end.",
            hint="Replace it with the real file (from version control).",
        )
    if info.st_size > MAX_SCRIPT_BYTES:
        raise SourceError(
            f"{shown} is {_size(info.st_size)}, more than the {_size(MAX_SCRIPT_BYTES)} lumiku-tui reads as one "
            "file; nothing was applied.",
            why="A script this size is almost always a data dump placed in the wrong folder.",
            hint="Load bulk data with psql or COPY outside the migration history.",
        )
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open() still returns.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise SourceError(f"{shown} cannot be read: {exc.strerror or exc}.",
                          hint="Check the file's permissions.") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise SourceError(f"{shown} changed while it was read; nothing was applied.", hint="Run again.")
    return handle


def _read_regular(path: Path | str, shown: str) -> bytes:
    """A regular file's bytes, bounded; anything else (FIFO, device, socket) is refused unread."""
    with _open_regular(path, shown) as handle:
        return _read_bounded(handle, shown)


def _read_bounded(handle: IO[bytes], shown: str) -> bytes:
    data = handle.read(MAX_SCRIPT_BYTES + 1)
    if len(data) > MAX_SCRIPT_BYTES:
        raise _grew_past(shown)
    return data


def _grew_past(shown: str) -> SourceError:
    return SourceError(f"{shown} grew past {_size(MAX_SCRIPT_BYTES)} while it was read; nothing was applied.",
                       hint="Run again once the file is complete.")


def _nul_error(shown: str, line: int) -> SourceError:
    return SourceError(
        f"{shown} holds a NUL byte (line {line}).",
        why="PostgreSQL cannot take a NUL character in SQL text, and its scanner would stop there, "
        "silently dropping the rest of the script.",
        hint="Remove the NUL byte (it usually comes from a paste of binary data).",
    )


def checksum_on_disk(path: Path) -> str | None:
    """Prisma's checksum of the file as it is now, read in pieces (a data migration is never held whole);
    None when it is not a regular file or cannot be read."""
    import codecs

    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        # Prisma checksums the text with invalid sequences replaced: read it whole, as the folder does.
        try:
            return LocalMigration(path.parent.name, path, _read_regular(path, str(path))).checksum
        except (OSError, SourceError):
            return None
    except OSError:
        return None
    return digest.hexdigest()


def load_folder(path: Path, how_found: str = "--migrations") -> MigrationsFolder:
    provider = read_provider(path)
    if provider is not None and provider != PROVIDER:
        what = (f"{path / LOCK_FILE} has no provider line; Prisma expects `provider = \"{PROVIDER}\"` there."
                if provider == NO_PROVIDER else
                f"{path / LOCK_FILE} says the migrations were written for `{provider}`, not PostgreSQL.")
        raise SourceError(
            what,
            why="Prisma refuses to apply a history whose lock file does not name the datasource's provider "
            "(P3019), and so does lumiku-tui.",
            hint=f"Point --migrations at the PostgreSQL history; if it is one, write `provider = \"{PROVIDER}\"` "
            f"as the first line of {LOCK_FILE}.",
        )
    migrations: list[LocalMigration] = []
    with os.scandir(path) as listing:
        names = [e.name for e in listing if e.is_dir() and not e.name.startswith(".")]
    root = str(path)
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            shown = name.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")
            raise SourceError(
                f"The migration folder name {shown!r} is not valid UTF-8; nothing was read or applied.",
                why="Its name is recorded in the history table, which holds UTF-8 text only.",
                hint="Rename the folder (it came from a system with another file name encoding).",
            ) from None
    for name in sorted(names, key=prisma_sort_key):
        script_file = os.path.join(root, name, SCRIPT_NAME)
        shown = f"{name}/{SCRIPT_NAME}"
        try:
            migration = LocalMigration(name, Path(script_file), None)
        except (FileNotFoundError, NotADirectoryError):
            entry = path / name
            raise SourceError(
                f"The migration folder {entry.name} has no {SCRIPT_NAME}.",
                why=f"Every folder in {path} is a migration to Prisma; {entry} holds "
                + (", ".join(sorted(p.name for p in entry.iterdir())) or "nothing") + ".",
                hint=f"Restore {entry.name}/{SCRIPT_NAME} from version control, or remove the stray folder.",
            ) from None
        if not migration.streamed:  # a streamed file was looked at for NUL bytes as it was read
            text = migration.script  # decoding keeps NUL and newline bytes as they are
            nul = text.find("\x00")
            if nul >= 0:
                raise _nul_error(shown, text.count("\n", 0, nul) + 1)
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
