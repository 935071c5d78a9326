"""The deployment journal: durable, append-only, per target, readable while another process writes it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lumiku_tui.journal import Journal, current_deployment, journal_path, since_last_complete
from lumiku_tui.pg.target import parse_database_url

SECRET = "pw-Very$ecret9"


def _target(url: str = f"postgresql://app:{SECRET}@db.internal:5432/lumiku"):
    return parse_database_url(url, origin="test")


def test_an_entry_is_on_disk_with_who_and_when_and_without_the_password(tmp_path: Path) -> None:
    journal = Journal.for_target(_target(), tmp_path)
    entry = journal.append("approved", url=f"postgresql://app:{SECRET}@db.internal:5432/lumiku",
                           migrations=["0001_a"], checksums={"0001_a": "ab" * 32})
    text = journal.path.read_text()
    assert SECRET not in text
    assert entry.who and entry.at.tzinfo is not None
    (read,) = Journal(journal.path).entries()
    assert read.kind == "approved"
    assert read.get("migrations") == ["0001_a"]
    assert read.get("checksums") == {"0001_a": "ab" * 32}
    assert read.at == entry.at


def test_one_file_per_target_and_never_one_per_password(tmp_path: Path) -> None:
    # Passwords are registered as secrets process-wide: long ones, so no other test's text gets masked.
    one, two = "pw-first-Zq81xv", "pw-second-Kw27yb"
    same = journal_path(tmp_path, _target(f"postgresql://app:{one}@db.internal:5432/lumiku"))
    assert same == journal_path(tmp_path, _target(f"postgresql://app:{two}@db.internal:5432/lumiku"))
    assert same != journal_path(tmp_path, _target(f"postgresql://app:{one}@db.internal:5432/other"))
    assert same != journal_path(tmp_path, _target(f"postgresql://app:{one}@db.internal:5433/lumiku"))
    assert same != journal_path(tmp_path, _target(f"postgresql://app:{one}@db.internal:5432/lumiku?schema=s"))


def test_a_follower_reads_only_complete_lines_and_continues_from_its_offset(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("one")
    entries, offset = journal.read()
    assert [e.kind for e in entries] == ["one"]
    with open(journal.path, "ab") as handle:  # a writer caught in the middle of a line
        handle.write(b'{"kind": "tw')
    entries, later = journal.read(offset)
    assert entries == [] and later == offset
    with open(journal.path, "ab") as handle:
        handle.write(b'o", "at": "2026-01-01T00:00:00+00:00"}\n')
    journal.append("three")
    entries, _ = journal.read(offset)
    assert [e.kind for e in entries] == ["two", "three"]


def test_a_torn_line_does_not_hide_the_rest(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.append("before")
    with open(journal.path, "ab") as handle:
        handle.write(b"{not json\n")
    journal.append("after")
    assert [e.kind for e in journal.entries()] == ["before", "after"]


def test_the_current_deployment_starts_after_the_last_complete_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    for kind in ("approved", "deployment_complete", "approved", "migration_failed", "resolved"):
        journal.append(kind)
    assert [e.kind for e in since_last_complete(journal.entries())] == ["approved", "migration_failed", "resolved"]


def _append_many(path: str, worker: int) -> None:
    journal = Journal(Path(path))
    for index in range(50):
        journal.append("tick", worker=worker, index=index, padding="x" * 3000)


def test_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    workers = [multiprocessing.Process(target=_append_many, args=(str(path), n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    entries = Journal(path).entries()
    assert len(entries) == 200
    for n in range(4):
        assert [e.get("index") for e in entries if e.get("worker") == n] == list(range(50))


def test_the_last_deploy_process_is_read_from_its_start_entry_on(tmp_path: Path) -> None:
    from lumiku_tui.apply.detached import last_deploy_process

    journal = Journal(tmp_path / "j.jsonl")
    journal.append("deploy_process", approved=[{"name": "0001_a", "checksum": "x"}])
    journal.append("migration_started", name="0001_a")
    journal.append("deploy_process_ended", outcome="applied")
    journal.append("deploy_process", approved=[{"name": "0002_b", "checksum": "y"}])
    size_after_start = journal.path.stat().st_size
    journal.append("migration_started", name="0002_b")
    with open(journal.path, "ab") as handle:  # a line still being written
        handle.write(b'{"kind": "deploy_process", "at"')
    process = last_deploy_process(journal)
    assert process is not None and process.approved == ("0002_b",)
    assert [e.kind for e in process.entries] == ["migration_started"]
    assert process.offset == size_after_start  # a follower continues right after its start entry


def test_what_is_written_while_holding_the_journal_comes_before_what_another_writer_tried_meanwhile(tmp_path):
    """Ending a session a deploy waits behind: the end is journaled before what the deploy then journals."""
    import threading
    import time

    journal = Journal(tmp_path / "journal.jsonl")
    with journal.exclusive() as write:
        other = threading.Thread(target=lambda: journal.append("migration_finished"))
        other.start()
        time.sleep(0.3)  # the other writer is waiting for the journal by now
        write("session_ended", ended_pid=1)
    other.join(5)
    assert [e.kind for e in journal.entries()] == ["session_ended", "migration_finished"]


_KINDS = ["approved", "migration_started", "statement_finished", "deployment_complete", "verified", "dry_run"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(_KINDS), max_size=60), sizes=st.lists(st.integers(0, 300), min_size=60,
       max_size=60), torn=st.sampled_from([b"", b'{"kind": "deployment_complete", "at": "2026-', b'{"kind": "app']),
       read=st.integers(1, 700), marks=st.integers(1, 3))
def test_the_current_deployment_read_from_the_end_is_the_whole_journals(
        kinds: list[str], sizes: list[int], torn: bytes, read: int, marks: int, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Read back from its end in pieces down to one byte, with a line still being written at the end: the
    entries from the last (or the last but one) complete deployment on are the ones a reading of the whole
    file gives, so a deploy with nothing to do and the record tell the same as before, without reading every
    deploy there ever was."""
    from lumiku_tui import journal as journal_module

    monkeypatch.setattr(journal_module, "_TAIL_READ", read)
    journal = Journal(tmp_path / f"j{len(kinds)}-{read}-{marks}.jsonl")
    journal.path.unlink(missing_ok=True)
    for kind, size in zip(kinds, sizes):
        # Sizes vary so that marks fall across the pieces read, and a field may hold what looks like a mark.
        journal.append(kind, note="x" * size, text='\n{"kind": "deployment_complete", ')
    with journal.path.open("ab") as handle:
        handle.write(torn)
    whole = journal.entries()
    positions = [i for i, e in enumerate(whole) if e.kind == "deployment_complete"]
    expected = whole[positions[-marks]:] if len(positions) >= marks else whole
    assert [e.to_dict() for e in journal.entries_since("deployment_complete", marks)] == \
        [e.to_dict() for e in expected]
    assert [e.to_dict() for e in since_last_complete(journal.entries_since("deployment_complete"))] == \
        [e.to_dict() for e in since_last_complete(whole)]
    assert [e.to_dict() for e in current_deployment(journal.entries_since("deployment_complete", 2))] == \
        [e.to_dict() for e in current_deployment(whole)]


def test_a_missing_journal_has_no_entries(tmp_path: Path) -> None:
    assert Journal(tmp_path / "none.jsonl").entries_since("deployment_complete") == []
