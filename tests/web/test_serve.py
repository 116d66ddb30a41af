"""`jwql-dagster serve` as a user runs it: a real socket, raw request targets, a clean stop; links and settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.web.world import P1

RAW_TRAVERSALS = [
    "/files/..%2F..%2Fetc%2Fpasswd", "/files/../../etc/passwd", "/outputs/../../../../../../etc/passwd",
    "/outputs/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", f"/previews/{P1}/../../../../../../etc/passwd",
    f"/thumbnails/{P1}/..%2F..%2Fjwql.db", "/squares/jw01068/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "//etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd", "/bokeh/static/../../../../../../../../etc/passwd",
]


def _raw_get(port: int, target: str) -> tuple[int, bytes]:
    """One GET with the request target sent byte for byte (no client-side normalisation of ../)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(world):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(JWQL_HOME=str(world.settings.home), DAGSTER_HOME=str(world.settings.dagster_home))
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from jwql_dagster.cli import main; sys.exit(main())",
                             "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _raw_get(port, "/healthz") == (200, b"ok"):
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode(errors="replace")
            time.sleep(0.2)
        yield port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("target", RAW_TRAVERSALS)
def test_raw_traversal_targets_on_a_real_socket_are_404(served, target: str) -> None:
    port, _ = served
    status, body = _raw_get(port, target)
    assert status in (400, 404), (target, status)
    assert b"root:" not in body and b"SQLite format" not in body


def test_pages_answer_on_the_socket_and_sigterm_stops_the_server_cleanly(served) -> None:
    port, proc = served
    status, body = _raw_get(port, f"/programs/{P1}")
    assert status == 200 and b"jw01068001001_02102_00001_nrca1_rate" in body
    assert _raw_get(port, "/programs/jw09999")[0] == 404
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert b"quicklook pages stopped" in proc.stdout.read()


def test_listen_address_comes_from_the_options_else_jwql_web_url() -> None:
    from jwql_dagster.cli.serve import listen_address

    assert listen_address("http://127.0.0.1:3001", None, None) == ("127.0.0.1", 3001)
    assert listen_address("http://quicklook.example:8080/", None, None) == ("quicklook.example", 8080)
    assert listen_address("https://quicklook.example", None, None) == ("quicklook.example", 443)
    assert listen_address("http://127.0.0.1:3001", "0.0.0.0", 9000) == ("0.0.0.0", 9000)


def test_links_build_page_urls_from_jwql_web_url() -> None:
    from jwql_dagster.web.links import dashboards_url, failures_url, file_url, program_url, stem_of

    assert program_url(None, P1) == "http://127.0.0.1:3001/programs/jw01068"
    assert program_url("http://q.example/", P1) == "http://q.example/programs/jw01068"
    stem = "jw01068001001_02102_00001_nrca1_rate"
    for name in (f"{stem}.fits", f"{stem}_integ3.jpg", f"{stem}_integ0.thumb", f"/archive/public/{stem}.fits", stem):
        assert stem_of(name) == stem
    assert file_url("http://q", f"{stem}.fits") == f"http://q/files/{stem}"
    assert file_url("http://q", f"{stem}.fits", 2) == f"http://q/files/{stem}?integ=2"
    assert failures_url("http://q", "not a FITS") == "http://q/failures?q=not+a+FITS"
    assert failures_url("http://q") == "http://q/failures" and dashboards_url("http://q") == "http://q/dashboards"
    assert program_url("http://q", "jw0/../x") == "http://q/programs/jw0%2F..%2Fx"  # a key never becomes a path


def test_jwql_web_url_setting(tmp_path: Path) -> None:
    from jwql_dagster.config import ConfigError, load_settings

    assert load_settings({"JWQL_HOME": str(tmp_path)}).web_url == "http://127.0.0.1:3001"
    assert load_settings({"JWQL_HOME": str(tmp_path), "JWQL_WEB_URL": "http://q.example:80/"}).web_url == \
        "http://q.example:80"
    with pytest.raises(ConfigError, match="JWQL_WEB_URL"):
        load_settings({"JWQL_HOME": str(tmp_path), "JWQL_WEB_URL": "q.example"})
