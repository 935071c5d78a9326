"""The one place that keeps secrets out of output.

Every password the program learns (from a URL, an environment variable or a .env
file) is registered here. Anything that may reach a person - error text, logs,
JSON, records, tracebacks - goes through `redact`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember a secret in every spelling it may be echoed in."""
    if not secret or len(secret) < 2:
        # A one-character password would mask every occurrence of that letter.
        return
    spellings = {secret, quote(secret, safe=""), quote_plus(secret)}
    # Text redacted after JSON encoding holds the secret as escapes (\u00e4, \"): mask those spellings too.
    spellings.update(json.dumps(secret, ensure_ascii=ascii_only)[1:-1] for ascii_only in (True, False))
    with _lock:
        _secrets.update(spellings)


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(value: Any) -> Any:
    """`value` (dicts, lists, strings, as for JSON) with every string redacted: mask, then encode."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(key): redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return value


# C0 and C1 controls (tab aside), DEL, and the bidirectional overrides that reorder what a reader sees.
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\e"}


def show_controls(text: str) -> str:
    """`text` with control characters spelled out (\\e, \\n, \\x07, \\u202e): a name or message read from
    a folder or a server cannot clear the screen, move the cursor or start a forged line."""
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(0)) or (
        f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else f"\\u{ord(m.group(0)):04x}"), text)


def install_excepthook() -> None:
    """Make an unexpected traceback safe to paste into a ticket."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
        import traceback

        text = "".join(traceback.format_exception(exc_type, exc, tb))
        sys.stderr.write(redact(text))

    if previous is not hook:
        sys.excepthook = hook


_SECRET_KEY_WORDS = ("password", "token", "secret", "key", "auth")


def mask_url(url: str) -> str:
    """Any URL (database or HTTP) with its password and secret-looking query values replaced by ***.

    The secrets found are registered, so they are masked wherever else they turn up.
    """
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, password = userinfo.partition(":")
        if password:
            register_secret(password)
        netloc = f"{user}:{MASK}@{hostport}" if sep else f"{user}@{hostport}"
    pairs = []
    for pair in parts.query.split("&") if parts.query else ():
        key, eq, value = pair.partition("=")
        if eq and value and any(word in key.lower() for word in _SECRET_KEY_WORDS):
            register_secret(value)
            value = MASK
        pairs.append(key + eq + value)
    return redact(parts._replace(netloc=netloc, query="&".join(pairs)).geturl())
