"""Where the database is: Prisma URL parameters, .env discovery, masking, connection errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumiku_tui.errors import TargetError
from lumiku_tui.pg.target import mask_url, parse_database_url
from lumiku_tui.prisma.config import find_target as resolve_target

from tests.conftest import APP_PASSWORD


def test_prisma_only_parameters_are_translated_or_dropped():
    target = parse_database_url(
        "postgresql://u:pw@db.internal:5433/app?schema=tenant&connection_limit=5&pool_timeout=10"
        "&socket_timeout=30&sslcert=/etc/ca.pem&sslmode=require&application_name=x"
    )
    params = dict(target._params)
    assert target.schema == "tenant"
    assert params["tcp_user_timeout"] == "30000"
    assert params["sslrootcert"] == "/etc/ca.pem"
    assert 'search_path="tenant"' in params["options"]
    assert "connection_limit" not in target._conninfo and "schema=" not in target._conninfo
    assert "sslmode=require" in target._conninfo and "application_name=x" in target._conninfo
    assert target.display == "postgresql://u:***@db.internal:5433/app?schema=tenant"
    assert any("connection_limit" in note for note in target.notes)


def test_pgbouncer_and_pooler_ports_are_flagged():
    assert parse_database_url("postgresql://u:p@h/db?pgbouncer=true").pooler
    assert parse_database_url("postgresql://u:p@aws-0-eu.pooler.supabase.com:6543/postgres").pooler
    assert not parse_database_url("postgresql://u:p@h:5432/db").pooler


def test_misspelt_parameter_is_an_error_and_an_unknown_one_is_ignored_like_prisma():
    with pytest.raises(TargetError) as err:
        parse_database_url("postgresql://u:p@h/db?sslmdoe=require")
    assert "`sslmdoe`" in err.value.what and "sslmode" in err.value.hint
    target = parse_database_url("postgresql://u:p@h/db?frobnicate=1")
    assert any("frobnicate" in note for note in target.notes)


def test_bad_sslmode_and_non_postgres_urls_are_refused():
    with pytest.raises(TargetError, match="sslmode=sometimes"):
        parse_database_url("postgresql://u:p@h/db?sslmode=sometimes")
    with pytest.raises(TargetError, match="not a PostgreSQL URL"):
        parse_database_url("mysql://u:p@h/db")
    with pytest.raises(TargetError, match="not a valid URL"):
        parse_database_url("postgresql://u:p@h:notaport/db")


def test_mask_url_hides_password_and_secret_parameters():
    masked = mask_url("postgresql://app:Sup3r%40Secret@h:5432/db?sslpassword=abc123&schema=s")
    assert "Sup3r" not in masked and "abc123" not in masked
    assert masked.startswith("postgresql://app:***@h:5432/db")


def test_url_comes_from_flag_then_environment_then_env_files(tmp_path: Path):
    migrations = tmp_path / "backend" / "prisma" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "backend" / "prisma" / ".env").write_text('DATABASE_URL="postgresql://u:fromfile@h/db1"\n')
    target = resolve_target(None, migrations_dir=migrations, environ={}, cwd=tmp_path)
    assert target.dbname == "db1" and "prisma/.env" in target.origin
    (tmp_path / ".env").write_text("export DATABASE_URL=postgresql://u:cwd@h/db2 # comment\n")
    assert resolve_target(None, migrations_dir=migrations, environ={}, cwd=tmp_path).dbname == "db2"
    env = {"DATABASE_URL": "postgresql://u:p@pooler:6543/db3", "DIRECT_URL": "postgresql://u:p@primary/db4"}
    target = resolve_target(None, migrations_dir=migrations, environ=env, cwd=tmp_path)
    assert target.dbname == "db4" and target.origin == "environment variable DIRECT_URL"
    assert resolve_target("postgresql://u:p@h/db5", environ=env, cwd=tmp_path).dbname == "db5"


def test_env_file_interpolation(tmp_path: Path):
    (tmp_path / ".env").write_text("PGPASS=abc\nDATABASE_URL=postgresql://u:${PGPASS}@h/db\n")
    target = resolve_target(None, environ={}, cwd=tmp_path)
    assert target._conninfo.startswith("postgresql://u:abc@h/db")


def test_no_url_anywhere_says_where_it_looked(tmp_path: Path):
    with pytest.raises(TargetError) as err:
        resolve_target(None, environ={}, cwd=tmp_path)
    assert "No database URL" in err.value.what
    assert str(tmp_path / ".env") in err.value.why
    assert "--database-url" in err.value.hint


def test_wrong_password_is_explained_without_the_password(db):
    url = db.url.replace(db.url.split("@")[0].split(":")[-1], "not-the-password")
    target = parse_database_url(url)
    with pytest.raises(TargetError) as err:
        target.connect()
    text = str(err.value)
    assert "rejected the password" in text
    assert "not-the-password" not in text and APP_PASSWORD not in text


def test_unreachable_port_and_missing_database(db, pg_server):
    with pytest.raises(TargetError) as err:
        parse_database_url(f"postgresql://u:pw@127.0.0.1:1/db?connect_timeout=2").connect()
    assert "Nothing accepts connections on 127.0.0.1:1" in err.value.what
    missing = db.target.with_database("no_such_db")
    with pytest.raises(TargetError) as err:
        missing.connect()
    assert "does not exist" in err.value.what and "create the database" in err.value.hint


def test_schema_param_sets_search_path(db):
    target = parse_database_url(db.url + "?schema=tenant_a")
    with target.connect() as conn:
        assert conn.execute("SHOW search_path").fetchone()[0] == '"tenant_a"'


# --- the schema: ?schema= or the server's choice, as Prisma -------------------------------------


def test_without_schema_param_the_servers_search_path_decides(db, pg_server, tmp_path):
    """A role owning a schema named after itself gets the history there, as with Prisma (no search_path set)."""
    import secrets

    from psycopg import sql

    from lumiku_tui.apply.deploy import Deployment
    from lumiku_tui.prisma.folder import load_folder
    from lumiku_tui.prisma.status import read_status

    role, password = f"tenant_{secrets.token_hex(3)}", "Pw-" + secrets.token_hex(6)
    with db.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        admin.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(role), sql.Identifier(role)))
        admin.execute(sql.SQL("GRANT CONNECT, CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(db.name), sql.Identifier(role)))
    target = parse_database_url(pg_server.url(db.name, user=role, password=password), origin="test")
    assert target.explicit_schema is None and target.display.endswith(f"/{db.name}")
    tmp = tmp_path / "migrations"
    tmp.mkdir()
    (tmp / "20240101000000_a").mkdir()
    (tmp / "20240101000000_a" / "migration.sql").write_text("CREATE TABLE a (id int);")
    (tmp / "migration_lock.toml").write_text('provider = "postgresql"\n')
    assert Deployment(target, load_folder(tmp)).run().ok
    where = db.query("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE c.relname IN ('a', '_prisma_migrations') ORDER BY 2")
    assert where == [(role, "_prisma_migrations"), (role, "a")]
    # A fresh target (another run) finds the same history there; the next deploy applies only what is new.
    again = parse_database_url(pg_server.url(db.name, user=role, password=password), origin="test")
    report = read_status(again, load_folder(tmp))
    assert report.schema == role and report.up_to_date
    (tmp / "20240102000000_b").mkdir()
    (tmp / "20240102000000_b" / "migration.sql").write_text("CREATE TABLE b (id int);")
    assert [m.name for m in Deployment(again, load_folder(tmp)).run().applied] == ["20240102000000_b"]


def test_no_schema_on_the_search_path_is_a_clear_error(db):
    with db.admin() as admin:
        admin.execute("DROP SCHEMA public CASCADE")
    with pytest.raises(TargetError) as err:
        parse_database_url(db.url).connect()
    assert "no schema on the search_path exists" in err.value.what and "?schema=" in err.value.hint


def test_schema_with_a_backslash_is_the_same_schema_for_history_and_statements(db, migrations):
    from lumiku_tui.apply.deploy import Deployment
    from lumiku_tui.prisma.folder import load_folder

    target = parse_database_url(db.url + "?schema=x%5C")
    assert target.schema == "x\\"
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert Deployment(target, load_folder(path)).run().ok
    where = db.query("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE c.relname IN ('a', '_prisma_migrations') ORDER BY 2")
    assert where == [("x\\", "_prisma_migrations"), ("x\\", "a")]


def test_password_query_parameter_reaches_libpq_decoded(db, pg_server):
    from psycopg import sql

    with db.admin() as admin:
        admin.execute(sql.SQL("CREATE ROLE spaced LOGIN PASSWORD 'pw with space+plus'"))
    url = f"postgresql://spaced@127.0.0.1:{pg_server.port}/{db.name}?password=pw%20with%20space%2Bplus"
    with parse_database_url(url).connect() as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("spaced",)


@pytest.mark.parametrize("url", [
    "postgresql:/app:Typo-Secret-1@db.internal:5432/app",
    "postgresql:app:Typo-Secret-1@db.internal:5432/app",
    "postgres:///app:Typo-Secret-1@db.internal:5432/app",
    "app:Typo-Secret-1@db.internal:5432/app",
])
def test_a_mistyped_url_never_shows_its_password(url, run_cli, migrations, capsys):
    from lumiku_tui.redact import redact

    path = migrations({"20240101000000_a": "SELECT 1;"})
    for args in (("status",), ("status", "--json"), ("doctor",), ("doctor", "--json")):
        code, out, err = run_cli(*args, "--database-url", url, "--migrations", str(path))
        assert code != 0
        assert "Typo-Secret-1" not in out + err, (args, out + err)
    assert "Typo-Secret-1" not in redact(url)


def test_sslaccept_is_read_as_prisma_means_it():
    def params(url):
        target = parse_database_url(url)
        return dict(target._params), target._conninfo

    extra, conninfo = params("postgresql://u:p@h/db?sslaccept=strict")
    assert "sslmode=verify-full" in conninfo and extra["sslrootcert"] == "system"
    extra, conninfo = params("postgresql://u:p@h/db?sslaccept=strict&sslcert=/etc/ca.pem&sslmode=require")
    assert "sslmode=verify-full" in conninfo and extra["sslrootcert"] == "/etc/ca.pem"
    extra, conninfo = params("postgresql://u:p@h/db?sslaccept=strict&sslmode=disable")
    assert "sslmode=disable" in conninfo and "sslrootcert" not in extra
    extra, conninfo = params("postgresql://u:p@h/db?sslaccept=sometimes")  # Prisma reads an unknown value as strict
    assert "sslmode=verify-full" in conninfo
    extra, conninfo = params("postgresql://u:p@h/db?sslaccept=accept_invalid_certs&sslmode=require")
    assert "sslmode=require" in conninfo and "sslrootcert" not in extra and "verify" not in conninfo


def test_sslaccept_strict_refuses_a_server_whose_certificate_cannot_be_verified(db):
    # The test server offers no TLS: with strict, Prisma needs a verified certificate; nothing is sent in clear.
    with pytest.raises(TargetError) as err:
        parse_database_url(db.url + "?sslaccept=strict&sslmode=require").connect()
    assert APP_PASSWORD not in str(err.value.what) + str(err.value.why)


# --- a missing database: created after approval, as Prisma's migrate deploy does ----------------


def test_deploy_creates_a_missing_database_only_after_approval(db, pg_server, migrations, run_cli):
    import secrets

    from lumiku_tui.pg.server import database_missing, ensure_database

    name = "created_" + secrets.token_hex(4)
    target = db.target.with_database(name)
    url = db.url.rsplit("/", 1)[0] + "/" + name
    path = migrations({"20240101000000_a": "CREATE TABLE a (id int);"})
    assert database_missing(target) and not database_missing(db.target)
    code, out, err = run_cli("deploy", "--database-url", url, "--migrations", str(path))
    assert code == 2 and f"The database {name} does not exist and would be created" in err
    assert database_missing(target)  # not approved: nothing created
    code, out, err = run_cli("deploy", "--yes", "--database-url", url, "--migrations", str(path))
    assert code == 0, out + err
    assert f"Created the database {name}" in out and APP_PASSWORD not in out + err
    with target.connect() as conn:
        assert conn.execute("SELECT migration_name FROM _prisma_migrations").fetchall() == [("20240101000000_a",)]
    assert ensure_database(target) is False  # it exists now: nothing to do
