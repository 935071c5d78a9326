"""Certain or silent: a Prisma config file leads to Prisma's own database, or to a refusal before connecting.

Each layout is read twice: with the project's own Prisma installed (its config loader answers) and without
it (the file is parsed, and only what is certain is taken). The oracle is the pinned Prisma CLI run in the
same layout: whatever lumiku-tui connects to must be the database Prisma names; anything else must be a
refusal that names the option to pass.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from lumiku_tui.errors import LumikuError, SourceError, TargetError
from lumiku_tui.prisma.config import discover, find_target
from lumiku_tui.prisma.config_file import read_statically

from tests.prisma_cli.prisma_runner import HERE as PRISMA_CLI, prisma_available
from .test_discovery import datasource, prisma_sees, write

GOOD = "postgresql://u:Pw-cert41n@good-host:5432/gooddb"
BAD = "postgresql://u:Pw-cert41n@bad-host:5432/baddb"
THIRD = "postgresql://u:Pw-cert41n@third-host:5432/thirddb"
ENV = {"GOOD_URL": GOOD, "BAD_URL": BAD, "SCHEMA_URL": THIRD}
SCHEMA = {"prisma/schema.prisma": datasource('url = env("SCHEMA_URL")'),
          "prisma/migrations/20240101000000_a/migration.sql": "CREATE TABLE a (id int);"}
HEAD = 'import { defineConfig, env } from "prisma/config";\n'


def config(body: str, before: str = "", after: str = "") -> dict[str, str]:
    return {**SCHEMA, "prisma.config.ts": HEAD + before + "export default defineConfig(" + body + ");\n" + after}


CLASSIC = '{\n  engine: "classic",\n  datasource: { url: env("GOOD_URL") },\n}'

#: The wrong-database cases of issue 19, and more: a config whose text could mislead a reader.
CASES = {
    "a const legacy config before defineConfig": config(
        CLASSIC, before='const legacy = { engine: "classic", datasource: { url: env("BAD_URL") } };\n'),
    "the same text inside a string literal": config(
        CLASSIC, before='const note = "datasource: { url: env(\\"BAD_URL\\") }";\n'),
    "a template literal holding /* that a comment-stripper would follow": config(
        CLASSIC, before="const glob = `prisma/*`;\n", after="// */ const x = { datasource: { url: env('BAD_URL') } }\n"),
    "a conditional url": config(
        '{\n  engine: "classic",\n  datasource: { url: process.env.USE_LEGACY_DB ? env("BAD_URL") : env("GOOD_URL") },\n}'),
    "a commented-out datasource before the real one": config(
        '{\n  engine: "classic",\n  // datasource: { url: env("BAD_URL") },\n  datasource: { url: env("GOOD_URL") },\n}'),
    "a datasource Prisma 6 ignores (no engine: classic)": config('{\n  datasource: { url: env("BAD_URL") },\n}'),
    "the environment changed by the config itself": config(
        CLASSIC, before='process.env.GOOD_URL = process.env.BAD_URL;\n'),
    "a spread of another object": config(
        '{\n  ...{ engine: "classic", datasource: { url: env("BAD_URL") } },\n}'),
    "a default export computed by a function": {
        **SCHEMA, "prisma.config.ts": HEAD + 'function make() { return defineConfig({ engine: "classic", datasource: '
        '{ url: env("GOOD_URL") } }); }\nexport default make();\n'},
    "a schema path computed at run time, beside a default schema": {
        **SCHEMA, "db/schema.prisma": datasource('url = env("GOOD_URL")'),
        "db/migrations/20240101000000_a/migration.sql": "CREATE TABLE a (id int);",
        "prisma.config.ts": HEAD + 'import path from "node:path";\nexport default defineConfig({\n'
        '  schema: path.join("db", "schema.prisma"),\n});\n'},
    "an url built from parts": config(
        '{\n  engine: "classic",\n  datasource: { url: `postgresql://u:${process.env.PW}@bad-host/baddb` },\n}'),
}


def _ours(root: Path, environ: dict[str, str]) -> str:
    """The database lumiku-tui would connect to, or `refused: ...` (raised before any connection)."""
    try:
        return find_target(cwd=root, environ=environ).dbname
    except LumikuError as err:
        return f"refused: {err.what}"


def _layout(tmp_path: Path, name: str, files: dict[str, str], *, with_prisma: bool) -> Path:
    root = write(tmp_path / (name.replace(" ", "_").replace("/", "") + ("_prisma" if with_prisma else "_bare")), files)
    if with_prisma:
        (root / "node_modules").symlink_to(PRISMA_CLI / "node_modules")
    return root


@pytest.mark.parametrize("with_prisma", [False, True], ids=["without_prisma", "with_prisma"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_config_leads_to_prismas_database_or_to_a_refusal(tmp_path, case, with_prisma):
    if with_prisma and not prisma_available():
        pytest.skip("the pinned Prisma CLI is not installed (npm ci in tests/prisma_cli)")
    environ = {**ENV, "PATH": os.environ.get("PATH", "")}
    root = _layout(tmp_path, case, CASES[case], with_prisma=with_prisma)
    ours = _ours(root, environ)
    if not with_prisma:
        # Read without Node, every one of these either names the right database or is refused.
        assert ours != "baddb", f"{case}: lumiku-tui chose a database Prisma does not use"
    assert "Pw-cert41n" not in ours
    if ours.startswith("refused"):
        assert "--database-url" in ours or "Prisma" in ours, ours
    if prisma_available():
        oracle_root = root if with_prisma else _layout(tmp_path / "oracle", case, CASES[case], with_prisma=True)
        seen = prisma_sees(oracle_root, environ)
        if not ours.startswith("refused"):
            assert ours == seen.get("database"), (case, ours, seen)
        if with_prisma and seen.get("database"):
            # Prisma's own loader answered: its answer is certain, so lumiku-tui does not refuse it.
            assert ours == seen["database"], (case, ours, seen)


def test_the_refusal_names_the_option_and_the_reason(tmp_path):
    root = _layout(tmp_path, "conditional", CASES["a conditional url"], with_prisma=False)
    with pytest.raises(TargetError) as err:
        find_target(cwd=root, environ=ENV)
    assert "cannot be known for certain" in err.value.what and "process.env.USE_LEGACY_DB ?" in err.value.what
    assert "--database-url" in err.value.hint and "Nothing was connected to" in err.value.what
    # Given the URL, nothing of the config is needed for it: no refusal.
    assert find_target("postgresql://u:p@given/givendb", cwd=root, environ=ENV).dbname == "givendb"


def test_an_unreadable_config_stops_the_folder_too_unless_it_is_given(tmp_path):
    root = write(tmp_path / "app", {
        "prisma.config.ts": HEAD + 'import path from "node:path";\nexport default defineConfig({\n'
                            '  migrations: { path: process.env.MIGRATIONS_DIR },\n});\n',
        "db/migrations/20240101000000_a/migration.sql": "SELECT 1;"})
    from lumiku_tui.prisma.folder import find_migrations_dir

    with pytest.raises(SourceError) as err:
        find_migrations_dir(cwd=root)
    assert "--migrations" in err.value.hint and "migrations.path" in err.value.what
    assert find_migrations_dir(root / "db/migrations", cwd=root)[1] == "--migrations"


def test_two_datasource_blocks_are_refused_as_prisma_refuses_them(tmp_path):
    root = write(tmp_path / "app", {
        "prisma/schema/a.prisma": datasource('url = env("BAD_URL")'),
        "prisma/schema/b.prisma": datasource('url = env("GOOD_URL")'),
        "prisma/schema/migrations/20240101000000_a/migration.sql": "SELECT 1;"})
    # Prisma's schema validation says "You defined more than one datasource" (the stubbed engine of the
    # oracle here does not validate, so the CLI cannot be asked).
    with pytest.raises(SourceError, match="more than one datasource"):
        find_target(cwd=root, environ=ENV, schema="prisma/schema")
    from lumiku_tui.prisma.folder import find_migrations_dir

    with pytest.raises(SourceError, match="more than one datasource"):
        find_migrations_dir(cwd=root, schema="prisma/schema")


def test_a_large_config_ending_in_an_unclosed_comment_is_read_in_linear_time(tmp_path):
    path = tmp_path / "prisma.config.ts"
    path.write_text(HEAD + "export default defineConfig({});\n" + "const pad = 'x';\n" * 6000
                    + "/* " + "datasource: { url: env('BAD_URL') } " * 500)
    assert path.stat().st_size > 120_000
    started = time.process_time()
    values = read_statically(path)
    assert time.process_time() - started < 2.0
    assert values.unknown and values.url is None


def test_prisma7_takes_only_datasource_url_and_no_package_json_schema(tmp_path):
    root = write(tmp_path / "app", {
        "node_modules/prisma/package.json": json.dumps({"name": "prisma", "version": "7.1.0"}),
        "package.json": json.dumps({"name": "app", "prisma": {"schema": "other/schema.prisma"}}),
        "other/schema.prisma": datasource('url = env("BAD_URL")'),
        "prisma/schema.prisma": 'datasource db {\n  provider = "postgresql"\n}\n',
        "prisma/migrations/20240101000000_a/migration.sql": "SELECT 1;",
        "prisma.config.ts": HEAD + 'export default defineConfig({\n  datasource: { url: env("GOOD_URL"), '
                            'directUrl: env("BAD_URL") },\n});\n'})
    project = discover(root, environ=ENV)
    assert project.schema_path == root / "prisma/schema.prisma"  # package.json's prisma.schema is Prisma 6's
    target = find_target(cwd=root, environ=ENV)
    assert target.dbname == "gooddb" and target.origin == "GOOD_URL (url in prisma.config.ts, environment)"
    assert any("directUrl` is ignored" in note for note in target.notes)
    # Prisma 7 requires datasource.url in the config: none there, and no fallback to the environment.
    (root / "prisma.config.ts").write_text(HEAD + "export default defineConfig({});\n")
    with pytest.raises(TargetError, match="Prisma 7 reads the database URL only from `datasource.url`"):
        find_target(cwd=root, environ={**ENV, "DATABASE_URL": BAD})


def test_prisma6_keeps_direct_url_and_package_json_schema(tmp_path):
    root = write(tmp_path / "app", {
        "node_modules/prisma/package.json": json.dumps({"name": "prisma", "version": "6.19.3"}),
        "package.json": json.dumps({"name": "app", "prisma": {"schema": "db/schema.prisma"}}),
        "db/schema.prisma": datasource('url = env("BAD_URL")', 'directUrl = env("GOOD_URL")')})
    target = find_target(cwd=root, environ=ENV)
    assert target.dbname == "gooddb" and "directUrl in db/schema.prisma" in target.origin


@pytest.mark.parametrize("with_prisma", [False, True], ids=["without_prisma", "with_prisma"])
def test_a_deploy_goes_to_prismas_database_not_the_legacy_one(make_db, run_cli, tmp_path, monkeypatch, with_prisma):
    if with_prisma and not prisma_available():
        pytest.skip("the pinned Prisma CLI is not installed (npm ci in tests/prisma_cli)")
    good, bad = make_db(), make_db()
    files = {**CASES["a const legacy config before defineConfig"],
             "prisma/schema.prisma": datasource('url = env("GOOD_URL")')}
    root = _layout(tmp_path, "deploy", files, with_prisma=with_prisma)
    monkeypatch.chdir(root)
    for name in ("DATABASE_URL", "DIRECT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOD_URL", good.url)
    monkeypatch.setenv("BAD_URL", bad.url)
    monkeypatch.setenv("SCHEMA_URL", bad.url)
    code, out, err = run_cli("deploy", "--yes")
    assert code == 0, out + err
    assert good.query("SELECT to_regclass('a') IS NOT NULL") == [(True,)]
    assert bad.query("SELECT to_regclass('a') IS NULL, to_regclass('_prisma_migrations') IS NULL") == [(True, True)]


def test_a_computed_schema_is_named_as_the_reason_and_given_options_stand_in(tmp_path):
    case = "a schema path computed at run time, beside a default schema"
    root = _layout(tmp_path, "computed", CASES[case], with_prisma=False)
    with pytest.raises(TargetError) as err:
        find_target(cwd=root, environ=ENV)
    assert '`schema: path.join("db", "schema.prisma")`' in err.value.what, err.value.what
    # --schema gives what the config computes: then the URL is the schema's, with no refusal.
    assert find_target(cwd=root, environ=ENV, schema="db/schema.prisma").dbname == "gooddb"
