"""The HTTP layer under astroquery (mast/transport.py): retry policy, request kinds, limits and polls."""

from __future__ import annotations

from jwql_dagster.mast.parse import scrub
from jwql_dagster.mast.transport import RetryPolicy, request_kind

# the `server` fixture (a local MAST server) comes from conftest.py


def test_retry_delays_grow_and_are_capped():
    p = RetryPolicy(backoff_s=1.0, backoff_max_s=4.0)
    assert 0.8 <= p.delay(1) <= 1.2 and 1.6 <= p.delay(2) <= 2.4 and 3.2 <= p.delay(5) <= 4.8
    assert p.retryable_status(503) and not p.retryable_status(404)


def test_request_kinds_and_scrub():
    assert request_kind("http://h/api/v0/invoke") == "invoke"
    assert request_kind("http://h/portal/Mashup/Mashup.asmx/columnsconfig") == "columnsconfig"
    assert request_kind("http://h/whoami") == "login"
    assert scrub("token abc123 in text", ["abc123", None]) == "token *** in text"


def _session(policy: RetryPolicy):
    import requests

    from jwql_dagster.mast.transport import MastAdapter, RequestCounter

    counter = RequestCounter()
    session = requests.Session()
    session.mount("http://", MastAdapter(policy, counter))
    return session, counter


def test_refusals_are_not_retried_and_server_errors_are(server):
    """4xx means the request is wrong (asking again cannot help); 5xx may pass: urllib3's Retry asks again."""
    from jwql_dagster.demo.mast_server import Failures

    session, counter = _session(RetryPolicy(max_retries=3, backoff_s=0.01))
    assert session.post(f"{server.url}/api/v0/invoke", data={"nope": "1"}, timeout=5).status_code == 400
    assert counter.snapshot()["invoke"] == 1 and counter.snapshot()["retries"] == 0
    server.failures = Failures(http_500=2)
    ok = session.post(f"{server.url}/api/v0/invoke", data={"request": '{"service": "Mast.Jwst.Filtered.Fgs", '
                      '"params": {"columns": "COUNT_BIG(*)"}}'}, timeout=5)
    assert ok.status_code == 200 and ok.json()["status"] == "COMPLETE"
    assert counter.snapshot()["invoke"] == 4 and counter.snapshot()["retries"] == 2
    assert server.faults == {"http_500": 2}


def test_last_server_error_is_returned_with_its_attempt_count(server):
    from jwql_dagster.demo.mast_server import Failures

    server.failures = Failures(http_500=100)
    session, counter = _session(RetryPolicy(max_retries=2, backoff_s=0.01))
    answer = session.post(f"{server.url}/api/v0/invoke", data={"request": "{}"}, timeout=5)
    assert answer.status_code == 500 and answer.headers["X-Jwql-Attempts"] == "3"
    assert counter.snapshot()["invoke"] == 3
