"""What a screen asks of the wizard: the requests it posts, and the app's state it may read.

A screen never imports another screen or the app. To go on it posts one of these messages
(they bubble from the screen to the app); to go back it dismisses itself. `WizardApp` alone
decides which screen comes next, so the screens form no import cycle and the flow is read in
one place (`tui/app.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from textual.message import Message

if TYPE_CHECKING:
    from lumiku_tui.apply.deploy import DeployOptions
    from lumiku_tui.apply.events import MigrationFailed
    from lumiku_tui.tui.context import WizardContext
    from lumiku_tui.tui.offload import Offloader


class Wizard(Protocol):
    """The app as a screen sees it: the shared context and the services screens read."""

    ctx: WizardContext
    offloader: Offloader
    #: Digits typed before a number dialog could take them (see TimeoutModal); None when not collecting.
    typeahead: list[str] | None

    @property
    def session(self) -> Any: ...

    @property
    def journal(self) -> Any: ...  # lumiku_tui.journal.Journal of the target, or None

    def saved_session_has_progress(self) -> bool: ...


class Request(Message):
    """A screen asks the app for the next step (the app, not the screen, picks the screen)."""


class PreviewRequested(Request):
    def __init__(self, pending: tuple[str, ...] | list[str]) -> None:
        super().__init__()
        self.pending = pending


class RehearsalRequested(Request):
    pass


class DeployAttachRequested(Request):
    """Follow a deploy running in a process of its own (apply/detached.py's DeployProcess)."""

    def __init__(self, process: Any) -> None:
        super().__init__()
        self.process = process


class ApprovalRequested(Request):
    def __init__(self, pending: tuple[str, ...] | list[str], run_counts: dict[str, int]) -> None:
        super().__init__()
        self.pending = pending
        self.run_counts = run_counts


class DeployApproved(Request):
    """The operator approved exactly these migrations, with the checksums of the files as shown."""

    def __init__(self, approved: tuple[str, ...], checksums: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__()
        self.approved = approved
        self.checksums = checksums


class DeployResumed(Request):
    """The operator chose to continue a migration in parts from the part that failed (`deploy --resume`);
    these are the migrations that deploy applies."""

    def __init__(self, approved: tuple[str, ...]) -> None:
        super().__init__()
        self.approved = approved


class DeployRetried(Request):
    """Run the rest of a deploy again (after a timeout), with these options."""

    def __init__(self, remaining: tuple[str, ...], options: DeployOptions) -> None:
        super().__init__()
        self.remaining = remaining
        self.options = options


class RetryRequested(Request):
    """Back to the deploy that gave up at a timeout, and offer its retry (from its troubleshooting screen)."""


class VerificationRequested(Request):
    """Check what is applied. `after_deploy`: the deploy's screen has done its part and is replaced."""

    def __init__(self, applied: tuple[str, ...], *, after_deploy: bool = False) -> None:
        super().__init__()
        self.applied = applied
        self.after_deploy = after_deploy


class HealthRequested(Request):
    pass


class ChecklistRequested(Request):
    pass


class KeysRequested(Request):
    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.screen = screen


#: Which troubleshooting screen: the menu, or one diagnosis straight away.
Topic = Literal["menu", "connect", "lock", "failure"]


class TroubleshootRequested(Request):
    """`failure`: a failed migration by its event (just now) or by `name` (recorded in the database)."""

    def __init__(self, topic: Topic = "menu", *, name: str | None = None,
                 failure: MigrationFailed | None = None) -> None:
        super().__init__()
        self.topic = topic
        self.name = name
        self.failure = failure


class TargetChangeRequested(Request):
    """Work on another database (the URL carries the password: never drawn or logged)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __repr__(self) -> str:
        return "TargetChangeRequested(url=<hidden>)"


class OverviewRequested(Request):
    """Close every screen above the overview."""


class EditRequested(Request):
    """Open `path` at `line` in the operator's editor; `then` runs on the screen once it closes."""

    def __init__(self, path: Path, line: int, then: Callable[[], None]) -> None:
        super().__init__()
        self.path = path
        self.line = line
        self.then = then
