"""`.env` files as dotenv reads them and URLs as libpq reads them: each form deploys into the database it names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from lumiku_tui.pg.target import parse_database_url
from lumiku_tui.prisma.env import read_env_file

from tests.conftest import APP_PASSWORD, APP_ROLE

ONE = {"20240101000000_a": "CREATE TABLE made_here (id int);"}


def _env_forms(url: str) -> dict[str, str]:
    return {
        "a trailing comment after a quoted value": f'DATABASE_URL="{url}" # production\n',
        "single quotes": f"DATABASE_URL='{url}'\n",
        "a multi-line double-quoted value before it, and export": (
            'CERT="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"\n'
            f"export DATABASE_URL=\"{url}\"\n"),
        "${VAR} expansion from the file": (
            "DB_PASSWORD=" + quote(APP_PASSWORD, safe="") + "\n"
            + "DATABASE_URL=" + url.replace(quote(APP_PASSWORD, safe=""), "${DB_PASSWORD}") + "\n"),
    }


@pytest.mark.parametrize("form", ["a trailing comment after a quoted value", "single quotes",
                                  "a multi-line double-quoted value before it, and export",
                                  "${VAR} expansion from the file"])
def test_env_file_forms_deploy_into_the_database_they_name(db, migrations, run_cli, tmp_path, monkeypatch, form):
    folder = migrations(ONE)
    app = tmp_path / "app"
    app.mkdir()
    (app / ".env").write_text(_env_forms(db.url)[form])
    monkeypatch.chdir(app)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DIRECT_URL", raising=False)
    code, out, err = run_cli("deploy", "--yes", "--migrations", str(folder))
    assert code == 0, out + err
    assert db.query("SELECT to_regclass('made_here') IS NOT NULL") == [(True,)]
    assert APP_PASSWORD not in out + err


def test_a_socket_url_with_query_host_port_and_user_deploys_there(db, migrations, run_cli):
    folder = migrations(ONE)
    url = (f"postgresql:///{db.name}?host={db.server.socket_dir}&port={db.server.port}&user={APP_ROLE}"
           f"&password={quote(APP_PASSWORD, safe='')}")
    code, out, err = run_cli("deploy", "--yes", "--database-url", url, "--migrations", str(folder))
    assert code == 0, out + err
    assert db.query("SELECT to_regclass('made_here') IS NOT NULL") == [(True,)]
    assert APP_PASSWORD not in out + err


def test_dotenv_rules_match_dotenv_and_dotenv_expand(tmp_path: Path):
    env = tmp_path / ".env"
    env.write_text('A="x" # comment\nB=\'raw ${A}\'\nC="line1\nline2"\nexport D=${A}-${E:-dflt}\nE_URL=${HOST}/db\n')
    values = read_env_file(env, {"HOST": "from-environment"})
    assert values == {"A": "x", "B": "raw ${A}", "C": "line1\nline2", "D": "x-dflt", "E_URL": "from-environment/db"}
    # The environment wins over the file's own earlier value, as dotenv-expand does.
    assert read_env_file(env, {"A": "env"})["D"] == "env-dflt"


def test_urls_are_read_as_libpq_reads_them():
    target = parse_database_url("postgresql:///app?host=/var/run/postgresql&port=5432&user=app")
    assert (target.host, target.port, target.dbname, target.user) == ("/var/run/postgresql", "5432", "app", "app")
    assert target.display == "postgresql://app@/app?host=/var/run/postgresql&port=5432"
    # A query host= overrides the URL's host for libpq: the display shows where it connects.
    overridden = parse_database_url("postgresql://u:Pw-9x@ignored.example:5432/db?host=real.internal")
    assert overridden.host == "real.internal" and "ignored" not in overridden.display
    assert overridden.display == "postgresql://u:***@real.internal:5432/db"
    listed = parse_database_url("postgresql://u:Pw-9x@h1:5432,h2:5433/db")
    assert listed.display == "postgresql://u:***@h1:5432,h2:5433/db" and (listed.host, listed.port) == ("h1", "5432")
    service = parse_database_url("postgresql://?service=billing&dbname=ledger")
    assert "service=billing" in service.display and service.dbname == "ledger"
    assert service.with_database("other").dbname == "other"
    assert "dbname=ledger" not in service.with_database("other")._conninfo
    for shown in (overridden.display, listed.display, repr(overridden)):
        assert "Pw-9x" not in shown
