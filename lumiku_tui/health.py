"""The app's health endpoint after a deploy: status code, latency, the JSON `status` field.

Connection errors, timeouts and 5xx answers are retried with a growing pause (an app
container restarting after a deploy refuses connections for a few seconds); a 4xx is
an answer, not a hiccup, and is not retried.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence
from urllib.parse import urlsplit

from lumiku_tui.redact import MASK, mask_url, redact

HEALTHY_STATUSES = ("ok", "healthy", "up", "pass")


@dataclass(frozen=True)
class HealthResult:
    url: str | None  # as shown (credentials in the URL masked)
    skipped: bool  # no URL given
    ok: bool  # 2xx and (if JSON with "status") status in HEALTHY_STATUSES
    status_code: int | None
    latency_ms: float | None
    status_field: str | None
    attempts: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line for a person."""
        if self.skipped:
            return "Health check skipped: no health URL given (--health-url or HEALTH_URL)."
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        if self.status_code is None:
            return f"{self.url}: no answer{tries}: {self.error}"
        field = f', status "{self.status_field}"' if self.status_field is not None else ""
        verdict = "healthy" if self.ok else "NOT healthy"
        latency = f" in {self.latency_ms:.0f} ms" if self.latency_ms is not None else ""
        reason = f" ({self.error})" if self.error and not self.ok else ""
        return f"{self.url}: HTTP {self.status_code}{field}{latency}{tries}: {verdict}{reason}"


def mask_http_url(url: str) -> str:
    """The URL with any user:password and token-like query values masked."""
    masked = mask_url(url)
    if masked == MASK and url != MASK:  # too malformed to parse: still show it, without its userinfo
        masked = redact(re.sub(r"(?<=//)[^/?#]*@", "***@", url))
    return masked


def _status_field(body: bytes, content_type: str) -> tuple[str | None, bool]:
    """The JSON body's `status` value, and whether the body was JSON at all."""
    if "json" not in content_type.lower() and body.lstrip()[:1] not in (b"{", b"["):
        return None, False
    try:
        data = json.loads(body)
    except ValueError:
        return None, False
    if isinstance(data, dict) and "status" in data:
        value = data["status"]
        return (str(value) if not isinstance(value, bool) else ("ok" if value else "false")), True
    return None, True


def check_health(url: str | None, *, timeout_s: float = 5.0, retries: int = 3, backoff_s: float = 0.5,
                 expect_status: int | None = None, expect_json: Sequence[tuple[str, str]] = ()) -> HealthResult:
    """GET `url`; `retries` is the number of attempts after the first one.

    Healthy by default means a 2xx whose JSON `status` (if any) says so; a runbook may ask for
    one status code and for JSON fields with given values instead.
    """
    if not url:
        return HealthResult(None, True, False, None, None, None, 0, None)
    import httpx

    shown = mask_http_url(url)
    problem = url_problem(url)
    if problem:
        # Nothing was sent (attempts 0): the URL itself is the fault, not the app.
        return HealthResult(shown, False, False, None, None, None, 0, problem)
    attempts = 0
    last_error: str | None = None
    status_code: int | None = None
    latency_ms: float | None = None
    status_field: str | None = None
    ok = False
    with httpx.Client(timeout=timeout_s, follow_redirects=True, headers={"Accept": "application/json"}) as client:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff_s * (2 ** (attempt - 1)))
            attempts += 1
            started = time.perf_counter()
            try:
                response = client.get(url)
            except httpx.TimeoutException:
                last_error = f"no response within {timeout_s:g} s"
                status_code = latency_ms = None
                continue
            except httpx.HTTPError as exc:
                last_error = _transport_error(exc)
                status_code = latency_ms = None
                continue
            except (httpx.InvalidURL, ValueError) as exc:  # a URL httpx reads differently: not worth a retry
                last_error = f"not a usable URL: {exc}"
                status_code = latency_ms = None
                break
            latency_ms = (time.perf_counter() - started) * 1000
            status_code = response.status_code
            content_type = response.headers.get("content-type", "")
            status_field, _is_json = _status_field(response.content, content_type)
            if expect_status is not None and status_code == expect_status or \
                    expect_status is None and 200 <= status_code < 300:
                if expect_json:
                    last_error = _json_mismatch(response.content, content_type, expect_json)
                elif expect_status is not None:
                    last_error = None  # the runbook named what healthy means: that status, no fields asked
                else:
                    healthy_field = status_field is None or status_field.lower() in HEALTHY_STATUSES
                    last_error = None if healthy_field else f'the body says status "{status_field}"'
                ok = last_error is None
                break
            if expect_status is not None and status_code < 500:
                last_error = f"HTTP {status_code} {response.reason_phrase}, expected {expect_status}".strip()
                break
            last_error = f"HTTP {status_code} {response.reason_phrase}".strip()
            if status_code < 500:
                break
    return HealthResult(shown, False, ok, status_code, latency_ms, status_field, attempts,
                        redact(last_error) if last_error else None)


_HINT = "give it as https://HOST/health"


def url_problem(url: str) -> str | None:
    """Why `url` cannot be fetched at all (None when it can be tried): checked before anything is sent."""
    import ipaddress

    import httpx

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed [IPv6 bracket, a port that is not a number or out of range
        return f"not a valid URL ({exc}); {_HINT}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"not an http(s) URL; {_HINT}"
    host = parts.hostname
    if any(char.isspace() or not char.isprintable() for char in host):
        return f"the host name holds a space or a control character; {_HINT}"
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return f"the host [{host}] is not an IPv6 address; {_HINT}"
    elif not _is_ipv4(host):
        labels = host.rstrip(".").split(".")
        if len(host) > 253 or any(not label or len(label) > 63 for label in labels):
            return ("the host name is not valid: each dot-separated part must be 1 to 63 characters, "
                    f"the whole at most 253; {_HINT}")
        try:
            host.encode("idna")
        except UnicodeError:
            return f"the host name is not a valid domain name; {_HINT}"
    if port == 0:
        return f"port 0 cannot be connected to; {_HINT}"
    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        return f"not a valid URL ({exc}); {_HINT}"
    return None


def _is_ipv4(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _json_mismatch(body: bytes, content_type: str, expected: Sequence[tuple[str, str]]) -> str | None:
    """Why the body does not hold the expected JSON fields (None when it does)."""
    try:
        data = json.loads(body)
    except ValueError:
        return "the body is not JSON (" + (content_type or "no content type") + ")"
    if not isinstance(data, dict):
        return "the JSON body is not an object"
    wrong = []
    for key, want in expected:
        if key not in data:
            wrong.append(f'no "{key}" field')
            continue
        value = data[key]
        got = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if got != want:
            wrong.append(f'"{key}" is "{got}", expected "{want}"')
    return "; ".join(wrong) or None


def _transport_error(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused (is the app running and listening on that port?)"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
        return "the host name does not resolve"
    if "certificate" in lowered or "ssl" in lowered:
        return "TLS failed: " + text
    return text
