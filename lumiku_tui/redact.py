"""The one place that keeps secrets out of output.

Every password the program learns (from a URL, an environment variable or a .env
file) is registered here. Anything that may reach a person - error text, logs,
JSON, records, tracebacks - goes through `redact`.
"""

from __future__ import annotations

import sys
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember a secret in every spelling it may be echoed in."""
    if not secret or len(secret) < 2:
        # A one-character password would mask every occurrence of that letter.
        return
    with _lock:
        _secrets.update({secret, quote(secret, safe=""), quote_plus(secret)})


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install_excepthook() -> None:
    """Make an unexpected traceback safe to paste into a ticket."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
        import traceback

        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(redact(text))

    if previous is not hook:
        sys.excepthook = hook
