"""The HTTP layer under astroquery (mast/transport.py): retry policy, request kinds, limits and polls."""

from __future__ import annotations

from jwql_dagster.mast.transport import RetryPolicy, request_kind


def test_retry_delays_grow_and_are_capped():
    p = RetryPolicy(backoff_s=1.0, backoff_max_s=4.0)
    assert 0.8 <= p.delay(1) <= 1.2 and 1.6 <= p.delay(2) <= 2.4 and 3.2 <= p.delay(5) <= 4.8
    assert p.retryable_status(503) and not p.retryable_status(404)


def test_request_kinds():
    assert request_kind("http://h/api/v0/invoke") == "invoke"
    assert request_kind("http://h/portal/Mashup/Mashup.asmx/columnsconfig") == "columnsconfig"
    assert request_kind("http://h/whoami") == "login"
