"""Finding what Prisma finds: the schema, the migrations folder, the datasource URL and the .env files.

The oracle is the pinned Prisma CLI itself: `prisma migrate status` prints the schema it loaded, the .env
file it loaded and the database it resolved before it starts its engine (stubbed here), so each layout is
checked against what Prisma says, not against a reading of its documentation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lumiku_tui.errors import SourceError, TargetError
from lumiku_tui.prisma.config import discover, find_target
from lumiku_tui.prisma.folder import find_migrations_dir

from tests.prisma_cli.prisma_runner import CLI_JS, prisma_available

URL = "postgresql://u:Pw-disc0very@{host}:5432/{db}"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def datasource(*lines: str) -> str:
    return "datasource db {\n  provider = \"postgresql\"\n" + "".join(f"  {line}\n" for line in lines) + "}\n"


def prisma_sees(root: Path, environ: dict[str, str], *args: str) -> dict[str, str]:
    """What the real Prisma CLI resolves in `root`: database, host, schema file, .env file (or its error)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRISMA_") and k not in ("DATABASE_URL",
                                                                                           "DIRECT_URL")}
    env.update(environ)
    env.update({"PRISMA_SCHEMA_ENGINE_BINARY": "/bin/true", "PRISMA_QUERY_ENGINE_LIBRARY": "/bin/true",
                "PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING": "1", "PRISMA_HIDE_UPDATE_MESSAGE": "1",
                "CHECKPOINT_DISABLE": "1", "NO_COLOR": "1", "CI": "1"})
    proc = subprocess.run([shutil.which("node") or "node", str(CLI_JS), "migrate", "status", *args], cwd=root,
                          env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    text = proc.stdout + proc.stderr
    seen: dict[str, str] = {}
    match = re.search(r'Datasource "\w+": PostgreSQL database "([^"]*)", schema "[^"]*" at "([^":]*)', text)
    if match:
        seen["database"], seen["host"] = match.groups()
    match = re.search(r"Environment variables loaded from (\S+)", text)
    seen["env_file"] = match.group(1) if match else ""
    match = re.search(r"Prisma schema loaded from (\S+)", text)
    seen["schema"] = match.group(1) if match else ""
    if "Environment variable not found" in text:
        seen["error"] = "missing variable"
    return seen


LAYOUTS = {
    # package.json moves the schema; directUrl (not url) is what migrations use; the root .env has both.
    "package_json_schema_direct_url": (
        {"package.json": json.dumps({"name": "app", "prisma": {"schema": "db/schema.prisma"}}),
         "db/schema.prisma": datasource('url = env("POSTGRES_PRISMA_URL") // pooled',
                                        'directUrl = env("POSTGRES_URL_NON_POOLING")'),
         ".env": "POSTGRES_PRISMA_URL=" + URL.format(host="pooler", db="pooled") + "\n"
                 "POSTGRES_URL_NON_POOLING=" + URL.format(host="direct", db="directdb") + "\n"},
        {}, (), "POSTGRES_URL_NON_POOLING (directUrl in db/schema.prisma, .env)"),
    # The .env beside package.json wins over prisma/.env.
    "root_env_over_prisma_env": (
        {"package.json": "{}", "prisma/schema.prisma": datasource('url = env("DATABASE_URL")'),
         ".env": "DATABASE_URL=" + URL.format(host="root", db="rootdb") + "\n",
         "prisma/.env": "DATABASE_URL=" + URL.format(host="prisma", db="prismadb") + "\n"},
        {}, (), "DATABASE_URL (url in prisma/schema.prisma, .env)"),
    # Without a package.json, prisma/.env is the one Prisma loads.
    "prisma_env_without_package_json": (
        {"prisma/schema.prisma": datasource('url = env("DATABASE_URL")'),
         "prisma/.env": "DATABASE_URL=" + URL.format(host="prisma", db="prismadb") + "\n"},
        {}, (), "DATABASE_URL (url in prisma/schema.prisma, prisma/.env)"),
    # The real environment wins over every .env file.
    "environment_over_env_files": (
        {"package.json": "{}", "prisma/schema.prisma": datasource('url = env("DATABASE_URL")'),
         ".env": "DATABASE_URL=" + URL.format(host="root", db="rootdb") + "\n"},
        {"DATABASE_URL": URL.format(host="process", db="procdb")}, (),
        "DATABASE_URL (url in prisma/schema.prisma, environment)"),
    # A literal URL in ./schema.prisma.
    "literal_url": (
        {"schema.prisma": datasource('url = "' + URL.format(host="literal", db="literaldb") + '"')},
        {}, (), "the literal url in schema.prisma"),
    # --schema: the .env beside it is the schema's .env.
    "schema_flag_with_env_beside_it": (
        {"custom/app.prisma": datasource('url = env("APP_DB")'),
         "custom/.env": "APP_DB=" + URL.format(host="custom", db="customdb") + "\n",
         "prisma/schema.prisma": datasource('url = "' + URL.format(host="wrong", db="wrongdb") + '"')},
        {}, ("--schema", "custom/app.prisma"), "APP_DB (url in custom/app.prisma, custom/.env)"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_url_is_the_one_prisma_resolves(tmp_path, layout):
    files, environ, args, origin = LAYOUTS[layout]
    root = write(tmp_path / "app", files)
    schema = args[1] if args else None
    target = find_target(cwd=root, environ=environ, schema=schema)
    assert target.origin == origin
    assert "Pw-disc0very" not in target.display + target.origin
    if prisma_available():
        seen = prisma_sees(root, environ, *args)
        assert (seen.get("database"), seen.get("host")) == (target.dbname, target.host), seen


def test_a_config_file_stops_env_loading_for_both(tmp_path):
    root = write(tmp_path / "app", {
        "prisma.config.ts": "export default {}\n",
        "prisma/schema.prisma": datasource('url = env("DATABASE_URL")'),
        ".env": "DATABASE_URL=" + URL.format(host="root", db="rootdb") + "\n"})
    with pytest.raises(TargetError) as err:
        find_target(cwd=root, environ={})
    assert "DATABASE_URL is not set" in err.value.what and "no .env file" in err.value.why
    if prisma_available():
        assert prisma_sees(root, {}).get("error") == "missing variable"
    # With `import "dotenv/config"` the config loads ./.env itself.
    (root / "prisma.config.ts").write_text('import "dotenv/config";\nexport default {}\n')
    assert find_target(cwd=root, environ={}).dbname == "rootdb"


def test_a_missing_direct_url_variable_is_an_error_not_a_fallback_to_url(tmp_path):
    root = write(tmp_path / "app", {
        "prisma/schema.prisma": datasource('url = env("DATABASE_URL")', 'directUrl = env("DIRECT_DB")'),
        "prisma/.env": "DATABASE_URL=" + URL.format(host="pooled", db="pooled") + "\n"})
    with pytest.raises(TargetError) as err:
        find_target(cwd=root, environ={})
    assert 'env("DIRECT_DB")' in err.value.what and "directUrl in prisma/schema.prisma" in err.value.what


PRISMA7_CONFIG = """\
import "dotenv/config";
import { defineConfig, env } from "prisma/config";

// The schema lives in a folder; migrations elsewhere.
export default defineConfig({
  schema: "db/schema",
  migrations: {
    path: "db/history",
    seed: "tsx db/seed.ts",
  },
  datasource: {
    url: env("DATABASE_URL_UNPOOLED"),
  },
});
"""


def test_prisma7_config_file_is_read_without_node(tmp_path):
    root = write(tmp_path / "app", {
        "prisma.config.ts": PRISMA7_CONFIG,
        "db/schema/main.prisma": "datasource db {\n  provider = \"postgresql\"\n}\n",
        "db/schema/models/user.prisma": "model User {\n  id Int @id\n}\n",
        "db/history/20240101000000_a/migration.sql": "SELECT 1;",
        ".env": "DATABASE_URL_UNPOOLED=" + URL.format(host="direct", db="appdb") + "\n"})
    project = discover(root)
    assert project.schema_path == root / "db/schema" and project.migrations_dir == root / "db/history"
    path, how = find_migrations_dir(cwd=root)
    assert path == root / "db/history" and "migrations.path" in how
    target = find_target(cwd=root, environ={})
    assert (target.dbname, target.origin) == ("appdb", "DATABASE_URL_UNPOOLED (url in prisma.config.ts, .env)")


def test_schema_folder_puts_migrations_beside_the_datasource_file_in_prisma6(tmp_path):
    root = write(tmp_path / "app", {
        "prisma/schema/base/db.prisma": datasource('url = env("DATABASE_URL")'),
        "prisma/schema/user.prisma": "model User {\n  id Int @id\n}\n",
        "prisma/schema/base/migrations/20240101000000_a/migration.sql": "SELECT 1;"})
    path, how = find_migrations_dir(cwd=root, schema="prisma/schema")
    assert path == root / "prisma/schema/base/migrations" and "--schema" in how


def test_config_values_that_need_node_are_named_not_guessed(tmp_path):
    root = write(tmp_path / "app", {
        "prisma.config.ts": 'import path from "node:path";\nexport default {\n  schema: path.join("db", "x.prisma"),\n'
                            '  datasource: { url: process.env.DB_URL },\n}\n'})
    project = discover(root)
    assert project.schema_path is None
    assert any("`schema: path.join(" in note and "without running Node" in note for note in project.notes)
    assert project.url_setting.env_name == "DB_URL"


def test_explicit_locations_that_do_not_exist_are_errors(tmp_path):
    with pytest.raises(SourceError, match="given with --schema does not exist"):
        discover(tmp_path, schema="nope.prisma")
    with pytest.raises(SourceError, match="given with --config does not exist"):
        discover(tmp_path, config="nope.ts")


def test_cli_global_schema_option_finds_the_database_and_says_where_the_url_came_from(db, run_cli, tmp_path,
                                                                                        monkeypatch):
    root = write(tmp_path / "app", {
        "db/app.prisma": datasource('url = env("APP_POOLED")', 'directUrl = env("APP_DIRECT")'),
        "db/migrations/20240101000000_a/migration.sql": "CREATE TABLE a (id int);",
        "db/migrations/migration_lock.toml": 'provider = "postgresql"\n',
        ".env": f"APP_POOLED=postgresql://nobody:x@127.0.0.1:1/none\nAPP_DIRECT={db.url}\n"})
    monkeypatch.chdir(root)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DIRECT_URL", raising=False)
    code, out, err = run_cli("--schema", "db/app.prisma", "status")
    assert code == 1, out + err  # one pending migration
    assert "APP_DIRECT (directUrl in db/app.prisma, .env)" in out
    assert "db/migrations" in out and "20240101000000_a" in out
    code, out, err = run_cli("status", "--json", "--schema", "db/app.prisma")
    assert code == 1 and json.loads(out)["migrations"][0]["state"] == "pending"
    # Without --schema nothing is found in this layout (no prisma/ and no package.json entry).
    code, out, err = run_cli("status")
    assert code == 2


def test_doctor_finds_the_database_through_the_same_locations(db, run_cli, tmp_path, monkeypatch):
    root = write(tmp_path / "app", {
        "db/app.prisma": datasource('url = env("APP_DIRECT")'),
        "db/migrations/20240101000000_a/migration.sql": "CREATE TABLE a (id int);",
        "db/migrations/migration_lock.toml": 'provider = "postgresql"\n',
        ".env": f"APP_DIRECT={db.url}\n"})
    monkeypatch.chdir(root)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DIRECT_URL", raising=False)
    code, out, err = run_cli("doctor", "--schema", "db/app.prisma")
    assert "APP_DIRECT (url in db/app.prisma, .env)" in out, out + err
    assert "Migrations\n  1 pending" in out
    assert "Pw" not in out and db.url not in out


def test_command_line_locations_do_not_outlive_their_command_line(run_cli, tmp_path, monkeypatch):
    """--schema of one command line is not remembered by the process for the next discovery."""
    from lumiku_tui.project import Locations, open_project

    root = write(tmp_path / "app", {
        "db/app.prisma": datasource('url = "' + URL.format(host="given", db="givendb") + '"'),
        "db/migrations/20240101000000_a/migration.sql": "SELECT 1;"})
    monkeypatch.chdir(root)
    run_cli("--schema", "db/app.prisma", "status")
    assert open_project(Locations.from_options(schema="db/app.prisma")).target.dbname == "givendb"
    later = open_project(Locations())
    assert later.target is None and later.error is not None
