"""The bounds README states are the defaults the engine uses.

Tests shorten the grace periods through `DeployOptions` instead of waiting them out in real
time; this file is what keeps the shipped values and README's sentences in step.
"""

from __future__ import annotations

import re
from pathlib import Path

from lumiku_tui import defaults
from lumiku_tui.apply.deploy import DeployOptions
from lumiku_tui.pg.connection import BoundedConnection

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _readme_says(pattern: str) -> None:
    assert re.search(pattern, README), f"README no longer says {pattern!r}"


def test_deploy_options_default_to_the_bounds_readme_states() -> None:
    options = DeployOptions()
    assert options.lock_timeout_s == 5.0
    _readme_says(r"`lock_timeout` \(default 5 s\)")
    assert options.advisory_lock_wait_s == 10.0
    _readme_says(r"wait up to 10 s as Prisma does")
    assert options.reply_grace_s == 5.0
    _readme_says(r"the statement timeout plus 5 s")
    assert options.cancel_grace_s == 2.0
    _readme_says(r"a server that does not answer is cut off 2 s later")
    assert options.in_doubt_check_s == 3.0
    _readme_says(r"when the server cannot be asked within 3 s the failure says `commit_in_doubt`")


def test_session_bounds_are_the_ones_readme_states() -> None:
    assert BoundedConnection.reply_deadline_s == defaults.REPLY_DEADLINE_S == 30.0
    _readme_says(r"in every command \| 30 s, or Prisma's `socket_timeout`")
    assert defaults.IDLE_IN_TRANSACTION_TIMEOUT_S == 2.0
    _readme_says(r"2 s after the running statement finishes \(`idle_in_transaction_session_timeout`\)")
    assert defaults.IDLE_SESSION_TIMEOUT_S == 60.0
    _readme_says(r"60 s \(`idle_session_timeout`")
    assert defaults.TCP_USER_TIMEOUT_S == 30.0 and defaults.CLIENT_CHECK_INTERVAL_S == 1.0
    _readme_says(r"`tcp_user_timeout` \(30 s\)")
    _readme_says(r"`client_connection_check_interval` \(1 s")
