"""Errors survive the trip across a process pipe (the wizard runs the deploy in a child process)."""

from __future__ import annotations

import importlib
import inspect
import multiprocessing
import pickle
import pkgutil

import pytest

import lumiku_tui
from lumiku_tui.errors import DeployBlocked, LumikuError


def _all_error_classes() -> list[type[LumikuError]]:
    for module in pkgutil.walk_packages(lumiku_tui.__path__, "lumiku_tui."):
        if module.name.startswith(("lumiku_tui.tui", "lumiku_tui.__main__")):
            continue
        importlib.import_module(module.name)
    found: list[type[LumikuError]] = []
    pending = [LumikuError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__qualname__)


def _example(cls: type[LumikuError]) -> LumikuError:
    """An instance with every field set, whatever extra keyword-only fields the class requires."""
    extra = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            extra[name] = [f"{name}-value"]
    return cls("what happened", why="because", hint="do this", **extra)


def test_every_error_class_is_found():
    names = {cls.__name__ for cls in _all_error_classes()}
    assert {"LumikuError", "DeployBlocked", "PlanError", "TargetError", "LockTimeout"} <= names


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_pickles_with_all_its_fields(cls):
    error = _example(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.to_dict() == error.to_dict()
    assert vars(copy) == vars(error)
    assert copy.exit_code == error.exit_code


def _raise_blocked(conn) -> None:  # runs in a child process
    try:
        raise DeployBlocked("`m1` failed and is not resolved.", failed=["m1", "m2"], why="P3009", hint="resolve it")
    except LumikuError as exc:
        conn.send(exc)
    finally:
        conn.close()


def test_deploy_blocked_crosses_a_process_pipe_with_its_failed_list():
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_raise_blocked, args=(child,))
    process.start()
    try:
        assert parent.poll(30), "the child sent nothing"
        received = parent.recv()
    finally:
        process.join(10)
    assert isinstance(received, DeployBlocked)
    assert received.failed == ["m1", "m2"]
    assert received.hint == "resolve it"
    assert "Next step: resolve it" in str(received)


def test_a_pickled_error_stays_redacted():
    from lumiku_tui.redact import register_secret

    register_secret("s3cret-pw")
    error = LumikuError("Cannot connect to postgresql://app:s3cret-pw@db.example/app")
    copy = pickle.loads(pickle.dumps(error))
    assert "s3cret-pw" not in str(copy)
    assert "s3cret-pw" not in pickle.dumps(error).decode("latin-1")
