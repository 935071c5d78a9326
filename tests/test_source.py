"""The migrations folder: Prisma's ordering, checksums and the errors for broken folders."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from lumiku_tui.errors import SourceError
from lumiku_tui.prisma.folder import checksum, checksum_matches, find_migrations_dir, load_folder, prisma_sort_key


def test_checksum_is_sha256_hex_of_the_file_bytes(migrations):
    folder = load_folder(migrations({"20240101000000_init": "CREATE TABLE a (id int);\n"}))
    assert folder.migrations[0].checksum == hashlib.sha256(b"CREATE TABLE a (id int);\n").hexdigest()


def test_checksum_tolerates_crlf_and_lf_conversions():
    lf = b"CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n"
    crlf = lf.replace(b"\n", b"\r\n")
    # Applied from a Windows checkout, checked out on Linux later, and the other way round.
    assert checksum_matches(lf, checksum(crlf))
    assert checksum_matches(crlf, checksum(lf))
    assert not checksum_matches(lf + b"-- edited\n", checksum(crlf))


def test_checksum_accepts_old_unpadded_checksums():
    script = b"SELECT 1;\n"
    digest = hashlib.sha256(script).digest()
    legacy = "".join(format(b, "x") for b in digest)
    assert any(b < 16 for b in digest), "this script's digest must contain a byte below 0x10"
    assert len(legacy) < 64
    assert checksum_matches(script, legacy)
    assert not checksum_matches(b"SELECT 2;\n", legacy)


LOCALE_NAMES = [
    "20240101000000_b", "20240101000000_A", "20240101_x", "2024010100000_short", "20240101000000-dash",
    "20240101000000_a", "20240101000000.x", "20240101000000$x", "20240101000000~x", "20240101000000_\u00e9",
    "20240101000000_e", "20240101000000_f", "20240101000000__x", "20240101000000_1",
]
# What Node's localeCompare (Prisma's CLI sorts folders with it) returns for LOCALE_NAMES.
NODE_ORDER = [
    "20240101_x", "2024010100000_short", "20240101000000__x", "20240101000000_1", "20240101000000_a",
    "20240101000000_A", "20240101000000_b", "20240101000000_e", "20240101000000_\u00e9", "20240101000000_f",
    "20240101000000-dash", "20240101000000.x", "20240101000000~x", "20240101000000$x",
]


def test_folders_are_ordered_like_prismas_locale_compare(migrations):
    folder = load_folder(migrations({n: "SELECT 1;" for n in LOCALE_NAMES}))
    # Byte order would put "2024010100000_short" after the 14-digit names and "_" after digits.
    assert [m.name for m in folder.migrations] == NODE_ORDER


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed; the fixed order above still runs")
def test_sort_key_agrees_with_node_locale_compare():
    import json
    import subprocess

    names = LOCALE_NAMES + ["20250101_Init", "20250101_init", "2025_0101", "20250101120000_add_user_x"]
    script = "const n=JSON.parse(process.argv[1]);console.log(JSON.stringify(n.sort((a,b)=>a.localeCompare(b))))"
    node = subprocess.run(["node", "-e", script, json.dumps(names)], capture_output=True, text=True, check=True)
    assert json.loads(node.stdout) == sorted(names, key=prisma_sort_key)


def test_folder_without_migration_sql_is_named(migrations, tmp_path):
    root = migrations({"20240101000000_ok": "SELECT 1;"})
    (root / "20240102000000_broken").mkdir()
    (root / "20240102000000_broken" / "notes.txt").write_text("x")
    with pytest.raises(SourceError) as err:
        load_folder(root)
    assert "20240102000000_broken has no migration.sql" in err.value.what
    assert "notes.txt" in err.value.why


def test_empty_and_non_utf8_scripts_are_refused_with_the_folder_name(migrations):
    with pytest.raises(SourceError, match="20240101000000_empty/migration.sql is empty"):
        load_folder(migrations({"20240101000000_empty": "  \n"}))
    with pytest.raises(SourceError) as err:
        load_folder(migrations({"20240101000000_latin1": "SELECT 'caf\xe9';".encode("latin-1")},
                               folder=Path(str(migrations({})) + "_2")))
    assert "20240101000000_latin1/migration.sql is not valid UTF-8" in err.value.what
    assert "line 1" in err.value.what


def test_provider_other_than_postgresql_is_refused(migrations):
    with pytest.raises(SourceError) as err:
        load_folder(migrations({"20240101000000_a": "SELECT 1;"}, provider="mysql"))
    assert "`mysql`" in err.value.what and "P3019" in err.value.why


def test_bom_is_kept_for_the_checksum_and_dropped_for_running(migrations):
    raw = b"\xef\xbb\xbfCREATE TABLE a (id int);"
    folder = load_folder(migrations({"20240101000000_bom": raw}))
    migration = folder.migrations[0]
    assert migration.checksum == hashlib.sha256(raw).hexdigest()
    assert migration.script.startswith("CREATE TABLE")
    assert migration.has_bom


def test_migrations_folder_is_found_like_prisma_projects_lay_it_out(tmp_path):
    (tmp_path / "backend" / "prisma" / "migrations").mkdir(parents=True)
    path, how = find_migrations_dir(cwd=tmp_path)
    assert path == tmp_path / "backend" / "prisma" / "migrations"
    assert "backend/prisma/migrations" in how
    with pytest.raises(SourceError, match="No migrations folder found"):
        find_migrations_dir(cwd=tmp_path / "backend" / "prisma" / "migrations")
