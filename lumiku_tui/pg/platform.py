"""Where this program runs, when it can tell: a hint names a hosting platform only where it was detected.

Coolify sets COOLIFY_* variables in the containers it runs (COOLIFY_FQDN, COOLIFY_URL, ...);
elsewhere its menus mean nothing to the reader, so its advice is left out.
"""

from __future__ import annotations

import os
from typing import Mapping


def on_coolify(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(key.startswith("COOLIFY_") for key in env)


def coolify_hint(text: str, environ: Mapping[str, str] | None = None) -> str:
    """` text` inside a Coolify container, else nothing: appended to a hint that stands on its own."""
    return " " + text if on_coolify(environ) else ""
