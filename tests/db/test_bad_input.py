"""Broken migrations folders and database URLs, each with the exact error the user sees.

Every case runs the real CLI (in-process, output captured) against the real embedded
PostgreSQL and checks three things: the message says what is wrong and what to do
next, nothing in the database was touched (unless the input is one that must apply),
and the password appears nowhere in the output.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from tests.conftest import APP_PASSWORD, APP_ROLE
from tests.db.faultkit import (
    MarkedHistory,
    assert_invariant,
    assert_no_secret,
    mark_table,
    marked_scripts,
    read_state,
)

GOOD = marked_scripts(1)
GOOD_NAME = next(iter(GOOD))
SECOND = "20240101000002_second"


def _history(path: Path, *names: str) -> MarkedHistory:
    return MarkedHistory(path, {name: mark_table(name) for name in names})


def _assert_untouched(db) -> None:  # type: ignore[no-untyped-def]
    with db.admin() as admin:
        tables = admin.execute(
            "SELECT string_agg(relname, ', ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        ).fetchone()
    assert tables == (None,), f"the database was touched: {tables[0]}"


def _deploy(run_cli, db, folder: Path, *extra: str):  # type: ignore[no-untyped-def]
    code, out, err = run_cli("deploy", "--yes", "--database-url", db.url, "--migrations", str(folder), *extra)
    assert_no_secret(out, err)
    return code, out, err


# --- the migrations folder -----------------------------------------------------------------------


def test_missing_migration_sql_is_named_and_nothing_runs(db, migrations, run_cli):
    folder = migrations(GOOD)
    (folder / SECOND).mkdir()
    (folder / SECOND / "README.md").write_text("notes\n")
    code, _out, err = _deploy(run_cli, db, folder)
    assert code == 2
    assert f"error: The migration folder {SECOND} has no migration.sql." in err
    assert "README.md" in err
    assert f"Next step: Restore {SECOND}/migration.sql from version control, or remove the stray folder." in err
    _assert_untouched(db)


@pytest.mark.parametrize("content", [b"", b"\n  \n\t"], ids=["empty", "whitespace"])
def test_empty_migration_sql_is_applied_as_prisma_applies_it(db, migrations, run_cli, content):
    folder = migrations({**GOOD, SECOND: content})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert [row[:2] for row in db.history()] == [(GOOD_NAME, True), (SECOND, True)]


def test_comment_only_migration_applies_as_a_no_op_like_prisma(db, migrations, run_cli):
    folder = migrations({**GOOD, SECOND: "-- intentionally empty; nothing to do here\n"})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert [row[:2] for row in db.history()] == [(GOOD_NAME, True), (SECOND, True)]


def test_invalid_utf8_is_applied_with_replacement_characters_as_prisma_does(db, migrations, run_cli):
    latin1 = 'CREATE TABLE "t" (id int);\n-- caf\xe9\n'.encode("latin-1")
    folder = migrations({**GOOD, SECOND: latin1})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert "1 invalid UTF-8 sequence(s)" in out
    replaced = latin1.decode("utf-8", errors="replace").encode()
    assert db.query("SELECT checksum FROM _prisma_migrations WHERE migration_name = %s", (SECOND,)) == [
        (hashlib.sha256(replaced).hexdigest(),)]


def test_fifo_as_migration_sql_is_refused_before_the_database_is_touched(db, migrations, run_cli):
    folder = migrations({**GOOD, SECOND: "SELECT 1;"})
    (folder / SECOND / "migration.sql").unlink()
    os.mkfifo(folder / SECOND / "migration.sql")
    code, _out, err = _deploy(run_cli, db, folder)
    assert code == 2
    assert f"error: {SECOND}/migration.sql is a named pipe (FIFO), not a regular file" in err
    _assert_untouched(db)


def test_non_utf8_folder_name_is_refused_before_the_database_is_touched(db, migrations, run_cli):
    folder = migrations(GOOD)
    bad = os.path.join(os.fsencode(folder), b"20240102000000_caf\xe9")
    os.mkdir(bad)
    with open(os.path.join(bad, b"migration.sql"), "wb") as handle:
        handle.write(b"SELECT 2;")
    code, _out, err = _deploy(run_cli, db, folder)
    assert code == 2 and "is not valid UTF-8" in err and "Traceback" not in err
    _assert_untouched(db)


def test_bom_still_applies_and_checksum_covers_the_raw_bytes(db, migrations, run_cli):
    raw = b"\xef\xbb\xbf" + GOOD[GOOD_NAME].encode()
    folder = migrations({GOOD_NAME: raw})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert "byte-order mark" in out
    assert_invariant(db, _history(folder, GOOD_NAME))
    assert db.query("SELECT checksum FROM _prisma_migrations") == [(hashlib.sha256(raw).hexdigest(),)]


def test_crlf_script_applies_and_stays_applied_after_conversion_to_lf(db, migrations, run_cli):
    crlf = GOOD[GOOD_NAME].replace("\n", "\r\n").encode()
    folder = migrations({GOOD_NAME: crlf})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert db.query("SELECT checksum FROM _prisma_migrations") == [(hashlib.sha256(crlf).hexdigest(),)]
    assert_invariant(db, _history(folder, GOOD_NAME))
    # A checkout on another OS turns the file into LF: still the same migration, as Prisma decides.
    (folder / GOOD_NAME / "migration.sql").write_bytes(crlf.replace(b"\r\n", b"\n"))
    code, out, err = run_cli("status", "--database-url", db.url, "--migrations", str(folder))
    assert code == 0, out + err
    assert "MODIFIED" not in out and "Database schema is up to date." in out


@pytest.mark.parametrize("provider", ["mysql", "sqlite"])
def test_provider_other_than_postgresql_is_refused(db, migrations, run_cli, provider):
    folder = migrations(GOOD, provider=provider)
    code, _out, err = _deploy(run_cli, db, folder)
    assert code == 2
    assert f"migration_lock.toml says the migrations were written for `{provider}`, not PostgreSQL." in err
    assert "Next step: Point --migrations at the PostgreSQL history" in err
    _assert_untouched(db)


def test_folder_older_than_the_latest_applied_gets_a_notice_and_applies(db, migrations, run_cli):
    first, third = "20240101000001_first", "20240101000003_third"
    folder = migrations({first: 'CREATE TABLE "mark_first" (id int);', third: 'CREATE TABLE "mark_third" (id int);'})
    assert _deploy(run_cli, db, folder)[0] == 0
    migrations({SECOND: 'CREATE TABLE "mark_second" (id int);'}, folder=folder)
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert f"note: {SECOND} sort(s) before `{third}`, which is already applied" in out
    assert "They will be applied now, as Prisma would" in out
    state = assert_invariant(db, _history(folder, first, SECOND, third))
    assert state.applied == {first, SECOND, third}


def test_syntax_error_shows_line_and_column_and_rolls_back(db, migrations, run_cli):
    script = ('CREATE TABLE "mark_second" (id int);\n'
              "-- a comment; with a semicolon\n"
              'ALTER TABLE "mark_second" ADD COLUMN a int,, ADD COLUMN b int;\n')
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 1, out + err
    column = script.splitlines()[2].index(",,") + 2  # the second comma, 1-based
    assert f"✗ {SECOND} failed at statement 2 (line 3, column {column}): syntax error at or near \",\"" in out
    assert "SQLSTATE 42601" in out
    assert "Rolled back: nothing of this migration was kept" in out
    assert f"resolve --rolled-back {SECOND}" in out
    state = assert_invariant(db, _history(folder, GOOD_NAME, SECOND))
    assert state.applied == {GOOD_NAME} and state.failed == {SECOND}
    logs = db.query("SELECT logs FROM _prisma_migrations WHERE finished_at IS NULL")[0][0]
    assert "syntax error" in logs and "line 3" in logs


def test_dollar_quoted_function_and_do_block_with_semicolons_apply_whole(db, migrations, run_cli):
    script = '''CREATE TABLE "mark_second" (id int, note text);
CREATE FUNCTION "second_note"() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.note := 'set; by trigger';
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER "second_note" BEFORE INSERT ON "mark_second" FOR EACH ROW EXECUTE FUNCTION "second_note"();
DO $$
BEGIN
    INSERT INTO "mark_second" (id) VALUES (1);
    IF (SELECT note FROM "mark_second") <> 'set; by trigger' THEN RAISE EXCEPTION 'trigger did not run'; END IF;
END
$$;
'''
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert "Applying 2 migration(s), 6 statement(s)" in out
    assert db.query('SELECT id, note FROM "mark_second"') == [(1, "set; by trigger")]


def test_semicolons_in_comments_strings_and_identifiers_do_not_split(db, migrations, run_cli):
    script = '''-- first; second; third
/* block; comment /* nested; */ still; comment */
CREATE TABLE "mark;second" ("a;b" text DEFAULT 'x;y', c text DEFAULT E'it\\'s; fine');
INSERT INTO "mark;second" DEFAULT VALUES; -- trailing; comment
'''
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert "Applying 2 migration(s), 4 statement(s)" in out
    assert db.query('SELECT "a;b", c FROM "mark;second"') == [("x;y", "it's; fine")]


def test_copy_from_stdin_is_refused_before_anything_runs(db, migrations, run_cli):
    script = 'CREATE TABLE "mark_second" (id int);\nCOPY "mark_second" (id) FROM stdin;\n1\n2\n\\.\n'
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 2, out + err
    assert f"error: {SECOND}: statement 2 (line 2) is `COPY \"mark_second\" (id) FROM stdin`, which reads rows " \
           "from the client's standard input." in err
    assert "Next step: Load the data with INSERT ... VALUES statements" in err
    _assert_untouched(db)


@pytest.mark.parametrize("meta", ["\\connect other_db", "\\i seed.sql", "\\set ON_ERROR_STOP on"])
def test_psql_meta_command_is_refused_naming_the_line(db, migrations, run_cli, meta):
    script = f'-- seed\nCREATE TABLE "mark_second" (id int);\n{meta}\nINSERT INTO "mark_second" VALUES (1);\n'
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 2, out + err
    command = meta.split()[0]
    assert f"error: {SECOND}: line 3 holds `{command}`, a psql meta-command, not SQL." in err
    assert "Next step: Remove the line" in err
    _assert_untouched(db)


def test_unterminated_dollar_quote_is_refused_before_anything_runs(db, migrations, run_cli):
    script = 'CREATE TABLE "mark_second" (id int);\nDO $$ BEGIN PERFORM 1; END;\n'
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 2, out + err
    assert "cannot be split into statements" in err
    assert SECOND in err, "the message must name the migration that cannot be split"
    assert "line 2" in err, "the message must say where the unterminated quote starts"
    assert "Next step: Look for an unterminated quote, dollar quote or /* comment." in err
    _assert_untouched(db)


# --- the database URL ---------------------------------------------------------------------------


def _status(run_cli, url: str, folder: Path):  # type: ignore[no-untyped-def]
    code, out, err = run_cli("status", "--database-url", url, "--migrations", str(folder))
    assert_no_secret(out, err)
    return code, out, err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_malformed_url_port_is_explained(db, migrations, run_cli):
    folder = migrations(GOOD)
    url = db.url.replace(f":{db.server.port}/", ":54x2/")
    code, _out, err = _status(run_cli, url, folder)
    assert code == 2
    assert "error: The database URL from --database-url is not a valid URL." in err
    assert "must be percent-encoded" in err


def test_unencoded_at_sign_in_password_is_explained_without_echoing_it(db, migrations, run_cli):
    folder = migrations(GOOD)
    url = f"postgresql://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{db.server.port}/{db.name}"  # raw @ : / in it
    code, out, err = _status(run_cli, url, folder)
    assert code == 2, out + err
    assert "error:" in err and "Next step:" in err
    assert "percent-encoded" in err
    for piece in __import__("re").split(r"[@:/#?]", APP_PASSWORD):
        if len(piece) >= 4:
            assert piece not in out + err, f"a piece of the password ({piece!r}) is shown:\n{out}{err}"


def test_misspelt_parameter_suggests_the_right_one(db, migrations, run_cli):
    folder = migrations(GOOD)
    code, _out, err = _status(run_cli, db.url_with(sslmdoe="disable"), folder)
    assert code == 2
    assert "error: Unknown parameter `sslmdoe` in the database URL from --database-url." in err
    assert "Next step: Did you mean `sslmode`? Correct it in the URL." in err


def test_unknown_parameter_is_ignored_with_a_note_like_prisma(db, migrations, run_cli):
    folder = migrations(GOOD)
    code, out, err = _status(run_cli, db.url_with(frobnicate="1"), folder)
    assert code == 1, out + err  # one pending migration
    assert "Unknown URL parameter `frobnicate` is ignored, as Prisma ignores it." in out


def test_bad_sslmode_lists_the_valid_ones(db, migrations, run_cli):
    folder = migrations(GOOD)
    code, _out, err = _status(run_cli, db.url_with(sslmode="sometimes"), folder)
    assert code == 2
    assert "error: `sslmode=sometimes` in the database URL is not a valid sslmode." in err
    assert "Next step: Use one of: disable, allow, prefer, require, verify-ca, verify-full." in err


def test_sslmode_require_against_a_server_without_tls_is_explained(db, migrations, run_cli):
    folder = migrations(GOOD)
    code, _out, err = _status(run_cli, db.url_with(sslmode="require"), folder)
    assert code == 2
    assert "The TLS negotiation failed." in err
    assert "Next step: Check sslmode" in err


def test_wrong_password_names_the_user_and_echoes_no_password(db, migrations, run_cli):
    folder = migrations(GOOD)
    wrong = "Wr0ng-" + APP_PASSWORD[::-1]
    url = db.server.url(db.name, user=APP_ROLE, password=wrong)
    code, out, err = _status(run_cli, url, folder)
    assert code == 2
    assert f"The server rejected the password for user {APP_ROLE}." in err
    assert "Next step: Check the password in DATABASE_URL" in err
    assert wrong not in out + err


def test_nothing_listening_on_the_port(db, migrations, run_cli):
    folder = migrations(GOOD)
    port = _free_port()
    url = db.url.replace(f":{db.server.port}/", f":{port}/")
    code, _out, err = _status(run_cli, url, folder)
    assert code == 2
    assert f"Nothing accepts connections on 127.0.0.1:{port}." in err
    assert "Next step: Check that the PostgreSQL service is running and that the port is right." in err


def test_host_that_does_not_resolve(db, migrations, run_cli):
    folder = migrations(GOOD)
    url = db.url.replace("127.0.0.1", "db.lumiku.invalid")
    code, _out, err = _status(run_cli, url, folder)
    assert code == 2
    assert "The host name db.lumiku.invalid does not resolve." in err
    assert "Next step: Check the host part of the URL" in err


def test_host_that_never_answers_times_out_with_a_next_step(db, migrations, run_cli):
    folder = migrations(GOOD)
    # A listening socket with a backlog nobody accepts from: the TCP handshake completes, no byte comes back.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = db.url.replace(f":{db.server.port}/", f":{silent.getsockname()[1]}/") + "?connect_timeout=1"
        code, _out, err = _status(run_cli, url, folder)
    assert code == 2
    assert "within the connect timeout" in err
    assert "Next step:" in err


def test_database_that_does_not_exist(db, migrations, run_cli):
    folder = migrations(GOOD)
    url = db.server.url("no_such_db", user=APP_ROLE, password=APP_PASSWORD)
    code, _out, err = _status(run_cli, url, folder)
    assert code == 2
    assert 'database "no_such_db" does not exist' in err
    assert "Next step: Check the database and user names in the URL, or create the database first." in err


def test_not_a_postgres_url(db, migrations, run_cli):
    folder = migrations(GOOD)
    url = db.url.replace("postgresql://", "mysql://")
    code, _out, err = _status(run_cli, url, folder)
    assert code == 2
    assert "is not a PostgreSQL URL (scheme `mysql`)." in err


def test_deploy_with_bad_url_touches_nothing(db, migrations, run_cli):
    folder = migrations(GOOD)
    code, _out, _err = _deploy(run_cli, db, folder, "--database-url", db.url_with(sslmode="sometimes"))
    assert code == 2
    assert read_state(db, _history(folder, GOOD_NAME)).rows_per_name == {}
    _assert_untouched(db)


def test_password_given_as_a_query_parameter_is_masked_everywhere(db, migrations, run_cli):
    folder = migrations(GOOD)
    from urllib.parse import quote

    url = (f"postgresql://{APP_ROLE}@127.0.0.1:{db.server.port}/{db.name}"
           f"?password={quote(APP_PASSWORD, safe='')}&sslmdoe=disable")
    code, out, err = _status(run_cli, url, folder)
    assert code == 2
    assert "Unknown parameter `sslmdoe`" in err
    code, out, err = _status(run_cli, url.replace("&sslmdoe=disable", ""), folder)
    assert code == 1, out + err  # connects, one pending
    assert f"postgresql://{APP_ROLE}@127.0.0.1:{db.server.port}/{db.name}" in out


def test_stray_files_beside_the_migrations_are_ignored_like_prisma(db, migrations, run_cli):
    folder = migrations(GOOD)
    (folder / "README.md").write_text("how we migrate\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert_invariant(db, _history(folder, GOOD_NAME))


def test_nul_byte_in_a_script_is_refused_before_anything_runs(db, migrations, run_cli):
    # The NUL hides in a comment; the statement after it must not be silently lost.
    script = b'CREATE TABLE "mark_second" (id text);\n-- pasted from a binary \x00 dump\nCREATE TABLE "after_nul" (id int);\n'
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    with db.admin() as admin:
        silently_dropped = admin.execute("SELECT to_regclass('public.mark_second') IS NOT NULL "
                                         "AND to_regclass('public.after_nul') IS NULL").fetchone() == (True,)
    assert not silently_dropped, "the statement after the NUL byte was dropped and the migration recorded applied"
    assert code == 2, out + err
    assert f"{SECOND}/migration.sql" in err and "line 2" in err and "NUL" in err
    _assert_untouched(db)


def test_migrations_folder_that_does_not_exist(db, tmp_path, run_cli):
    code, _out, err = _deploy(run_cli, db, tmp_path / "prisma" / "migrashuns")
    assert code == 2
    assert f"error: The migrations folder {tmp_path / 'prisma' / 'migrashuns'} does not exist." in err
    assert "Next step: Pass --migrations with the path to prisma/migrations." in err
    _assert_untouched(db)


def test_copy_to_stdout_is_refused_before_anything_runs(db, migrations, run_cli):
    script = 'CREATE TABLE "mark_second" (id int);\nCOPY "mark_second" TO STDOUT;\n'
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert "use copy() instead" not in out + err, "a driver's API hint means nothing to the operator"
    assert code == 2, out + err
    assert f"{SECOND}: statement 2 (line 2)" in err and "COPY" in err
    _assert_untouched(db)


def test_percent_signs_and_placeholders_in_sql_are_sent_verbatim(db, migrations, run_cli):
    script = ('CREATE TABLE "mark_second" (v text);\n'
              "INSERT INTO \"mark_second\" VALUES ('100%'), ('%s'), ('%(name)s'), ('$1'), ('%%');\n")
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert db.query('SELECT v FROM "mark_second"') == [("100%",), ("%s",), ("%(name)s",), ("$1",), ("%%",)]


def test_malformed_url_from_the_environment_names_its_origin(db, migrations, run_cli, monkeypatch):
    folder = migrations(GOOD)
    monkeypatch.delenv("DIRECT_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", db.url.replace(f":{db.server.port}/", ":54x2/"))
    code, out, err = run_cli("status", "--migrations", str(folder))
    assert_no_secret(out, err)
    assert code == 2
    assert "error: The database URL from environment variable DATABASE_URL is not a valid URL." in err


def test_wizard_with_a_wrong_password_explains_and_never_draws_the_password(db, migrations, tmp_path):
    from tests.db.faultkit import WizardProcess

    folder = migrations(GOOD)
    wrong = "Wr0ng-" + APP_PASSWORD[::-1]
    wizard = WizardProcess.start(db.server.url(db.name, user=APP_ROLE, password=wrong), folder, tmp_path)
    try:
        wizard.wait_for_text("rejected the password")
        drawn = wizard.text()
    finally:
        wizard.kill()
    assert "Traceback" not in drawn
    for secret in (wrong, APP_PASSWORD):
        assert secret not in drawn and secret.replace("@", "%40") not in drawn
    _assert_untouched(db)


@pytest.mark.parametrize("password", ["9876/Secretxyz", "Secret#xyz1", "Secret?xyz1"], ids=["slash", "hash", "question"])
def test_unencoded_delimiter_in_password_never_shows_any_part_of_it(db, migrations, run_cli, password):
    """`/`, `#` and `?` end the host part of a URL, so an unencoded one splits the password apart:
    neither piece may be shown (as a host, a port, a database name or in the masked target)."""
    folder = migrations(GOOD)
    url = f"postgresql://{APP_ROLE}:{password}@127.0.0.1:{db.server.port}/{db.name}"
    code, out, err = run_cli("status", "--database-url", url, "--migrations", str(folder))
    pieces = [p for p in __import__("re").split(r"[/#?]", password) if len(p) >= 4]
    for piece in pieces:
        assert piece not in out + err, f"a piece of the password ({piece!r}) is shown:\n{out}{err}"
    assert code == 2
    assert "percent-encoded" in err


@pytest.mark.parametrize("mode", [(), ("--live",)], ids=["pipelined", "live"])
def test_failing_statement_in_the_middle_is_named_the_same_pipelined_or_live(db, migrations, run_cli, mode):
    script = ('CREATE TABLE "mark_second" (id int);\n'
              'INSERT INTO "mark_second" VALUES (1);\n'
              "-- the next one divides by zero\n"
              'UPDATE "mark_second" SET id = id / 0;\n'
              'CREATE TABLE "never_created" (id int);\n')
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder, *mode)
    assert code == 1, out + err
    assert f"✗ {SECOND} failed at statement 3 (line 4): division by zero" in out
    assert "SQLSTATE 22012" in out
    state = assert_invariant(db, _history(folder, GOOD_NAME, SECOND))
    assert state.applied == {GOOD_NAME} and state.failed == {SECOND}
    with db.admin() as admin:
        assert admin.execute("SELECT to_regclass('public.never_created')").fetchone() == (None,)
    logs = db.query("SELECT logs FROM _prisma_migrations WHERE migration_name = %s", (SECOND,))[0][0]
    assert "division by zero" in logs and "line 4" in logs and 'UPDATE "mark_second"' in logs


def test_json_error_for_a_wrong_password_is_one_document_without_the_password(db, migrations, run_cli):
    import json

    folder = migrations(GOOD)
    wrong = "Wr0ng-" + APP_PASSWORD[::-1]
    code, out, err = run_cli("status", "--json", "--database-url",
                             db.server.url(db.name, user=APP_ROLE, password=wrong), "--migrations", str(folder))
    assert code == 2
    assert wrong not in out + err and APP_PASSWORD not in out + err
    document = json.loads(out)
    assert document["error"] == "target"
    assert f"The server rejected the password for user {APP_ROLE}." in document["what"]
    assert document["hint"].startswith("Check the password in DATABASE_URL")


@pytest.mark.parametrize("script, where, message", [
    ('CREATE TABLE "mark_second" (id int);\n\nDO $$\nBEGIN\n  PERFORM 1;\n  SELEC 2;\nEND $$;\n',
     "statement 2 (line 6, column 3)", 'syntax error at or near "SELEC"'),
    ('CREATE FUNCTION "second_fn"() RETURNS int LANGUAGE plpgsql AS $fn$\nBEGIN\n  RETURN 1 +;\nEND\n$fn$;\n',
     "statement 1 (line 3, column 13)", "syntax error at end of input"),
], ids=["do-block", "function-body"])
def test_syntax_error_inside_a_dollar_quoted_body_points_into_the_body(db, migrations, run_cli, script, where,
                                                                        message):
    folder = migrations({**GOOD, SECOND: script})
    code, out, _err = _deploy(run_cli, db, folder)
    assert code == 1, out
    assert f"✗ {SECOND} failed at {where}: {message}" in out


def test_database_with_no_free_connection_slot(db, migrations, run_cli):
    from psycopg import sql

    folder = migrations(GOOD)
    with db.admin() as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT 0").format(sql.Identifier(db.name)))
    code, _out, err = _status(run_cli, db.url, folder)
    assert code == 2
    assert "The server has no free connection slots." in err
    assert "Next step:" in err


def test_wizard_with_a_broken_migrations_folder_explains_without_a_traceback(db, migrations, tmp_path):
    from tests.db.faultkit import WizardProcess

    folder = migrations({**GOOD})
    (folder / SECOND).mkdir()
    os.mkfifo(folder / SECOND / "migration.sql")
    wizard = WizardProcess.start(db.url, folder, tmp_path)
    try:
        wizard.wait_for_text("not a regular file")
        drawn = wizard.text()
    finally:
        wizard.kill()
    assert "Traceback" not in drawn
    assert SECOND in drawn
    assert_no_secret(drawn)
    _assert_untouched(db)


def test_standard_conforming_strings_off_is_named_as_the_reason(db, migrations, run_cli):
    script = ("SET standard_conforming_strings = off;\n"
              'CREATE TABLE "mark_second" (v text);\n'
              "INSERT INTO \"mark_second\" VALUES ('it\\'s; fine');\n")
    folder = migrations({**GOOD, SECOND: script})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 2, out + err
    assert "standard_conforming_strings" in err and "line 1" in err, err
    _assert_untouched(db)


def test_detach_partition_concurrently_with_long_names_runs_outside_a_transaction(db, migrations, run_cli):
    schema, parent, part = "s" * 63, "orders_" + "p" * 56, "orders_2023_" + "q" * 51
    setup = (f'CREATE SCHEMA "{schema}";\n'
             f'CREATE TABLE "{schema}"."{parent}" (id int, at date) PARTITION BY RANGE (at);\n'
             f'CREATE TABLE "{schema}"."{part}" PARTITION OF "{schema}"."{parent}" '
             "FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');\n")
    detach = f'ALTER TABLE "{schema}"."{parent}" DETACH PARTITION "{schema}"."{part}" CONCURRENTLY;\n'
    folder = migrations({GOOD_NAME: setup, SECOND: detach})
    code, out, err = _deploy(run_cli, db, folder)
    assert code == 0, out + err
    assert "outside a transaction" in out
    with db.admin() as admin:
        attached = admin.execute("SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass(%s)",
                                 (f'"{schema}"."{part}"',)).fetchone()
    assert attached == (0,)
