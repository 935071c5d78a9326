"""The health check against a real HTTP server on 127.0.0.1 (no mocks of httpx)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from lumiku_tui.health import check_health


class _App(BaseHTTPRequestHandler):
    """Routes: /ok, /degraded, /down (503), /plain, /slow, /flaky (503 twice, then ok)."""

    hits: dict[str, int] = {}

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/ok":
            self._send(200, json.dumps({"status": "ok", "db": "up"}).encode(), "application/json")
        elif path == "/degraded":
            self._send(200, json.dumps({"status": "degraded"}).encode(), "application/json")
        elif path == "/down":
            self._send(503, b'{"status": "error"}', "application/json")
        elif path == "/plain":
            self._send(200, b"<html>fine</html>", "text/html")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b'{"status": "ok"}', "application/json")
        elif path == "/flaky":
            if self.hits[path] <= 2:
                self._send(503, b"starting", "text/plain")
            else:
                self._send(200, b'{"status": "healthy"}', "application/json")
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture
def app_url() -> Iterator[str]:
    _App.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_healthy_json_endpoint(app_url):
    result = check_health(app_url + "/ok")
    assert result.ok and not result.skipped
    assert result.status_code == 200
    assert result.status_field == "ok"
    assert result.attempts == 1
    assert result.latency_ms is not None and result.latency_ms > 0
    assert "HTTP 200" in result.describe() and "healthy" in result.describe()


def test_200_with_an_unhealthy_status_field_is_not_ok(app_url):
    result = check_health(app_url + "/degraded", retries=0)
    assert result.status_code == 200
    assert not result.ok
    assert result.status_field == "degraded"
    assert "degraded" in result.error


def test_503_is_retried_then_reported(app_url):
    result = check_health(app_url + "/down", retries=2, backoff_s=0.01)
    assert not result.ok
    assert result.status_code == 503
    assert result.attempts == 3
    assert _App.hits["/down"] == 3
    assert "503" in result.error


def test_a_restarting_app_recovers_within_the_retries(app_url):
    result = check_health(app_url + "/flaky", retries=3, backoff_s=0.01)
    assert result.ok
    assert result.attempts == 3
    assert result.status_field == "healthy"


def test_404_is_an_answer_and_is_not_retried(app_url):
    result = check_health(app_url + "/nope", retries=3, backoff_s=0.01)
    assert not result.ok and result.status_code == 404
    assert result.attempts == 1


def test_non_json_200_is_ok_without_a_status_field(app_url):
    result = check_health(app_url + "/plain")
    assert result.ok
    assert result.status_field is None


def test_a_slow_endpoint_times_out(app_url):
    result = check_health(app_url + "/slow", timeout_s=0.3, retries=1, backoff_s=0.01)
    assert not result.ok
    assert result.status_code is None
    assert result.attempts == 2
    assert "0.3 s" in result.error


def test_a_closed_port_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = check_health(f"http://127.0.0.1:{port}/health", retries=1, backoff_s=0.01)
    assert not result.ok and result.status_code is None
    assert result.attempts == 2
    assert "refused" in result.error


def test_no_url_is_skipped():
    result = check_health(None)
    assert result.skipped and not result.ok and result.attempts == 0
    assert "skipped" in result.describe()


def test_credentials_in_the_url_are_masked(app_url):
    url = app_url.replace("http://", "http://monitor:hunter2-secret@") + "/ok?token=tok-abc123"
    result = check_health(url)
    assert result.ok
    assert "hunter2-secret" not in result.url and "tok-abc123" not in result.url
    assert "***" in result.url


def test_health_cli_json_and_exit_codes(app_url, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no app here, so no runbook with a URL of its own
    monkeypatch.delenv("HEALTH_URL", raising=False)
    code, out, _ = run_cli("health", "--json", app_url + "/ok")
    assert code == 0
    assert json.loads(out)["status_code"] == 200
    code, out, _ = run_cli("health", app_url + "/nope")
    assert code == 1
    assert "HTTP 404" in out and "Next step" in out
    code, out, _ = run_cli("--health-url", "", "health")
    assert code == 2 and "skipped" in out


def test_a_url_that_is_not_http_is_refused_without_a_request():
    result = check_health("dev.lumiku.com/health")
    assert not result.ok and not result.skipped and result.attempts == 0
    assert "https://HOST/health" in result.error


def test_a_runbooks_expected_json_fields_must_all_match(app_url):
    good = check_health(app_url + "/ok", retries=0, expect_status=200, expect_json=(("status", "ok"), ("db", "up")))
    assert good.ok
    bad = check_health(app_url + "/ok", retries=0, expect_status=200, expect_json=(("db", "down"), ("queue", "up")))
    assert not bad.ok
    assert bad.error == '"db" is "up", expected "down"; no "queue" field'
    plain = check_health(app_url + "/plain", retries=0, expect_json=(("status", "ok"),))
    assert not plain.ok and "not JSON" in (plain.error or "")


def test_a_runbooks_expected_status_is_the_one_that_counts(app_url):
    # A runbook that expects the 503 of a maintenance page gets it, without retries...
    maintenance = check_health(app_url + "/down", retries=2, backoff_s=0.01, expect_status=503)
    assert maintenance.ok and maintenance.attempts == 1
    # ...and one that expects 200 is not satisfied by a 404.
    missing = check_health(app_url + "/nope", retries=2, backoff_s=0.01, expect_status=200)
    assert not missing.ok and missing.attempts == 1 and "expected 200" in (missing.error or "")
