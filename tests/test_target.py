"""Where the database is: Prisma URL parameters, .env discovery, masking, connection errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumiku_tui.errors import TargetError
from lumiku_tui.pg.target import mask_url, parse_database_url, resolve_target

from .conftest import APP_PASSWORD


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
