"""MastService and the doctor's MAST check (mast/resources.py)."""

from __future__ import annotations

from .conftest import TOKEN


def test_doctor_check_reports_reachability_and_refused_token(jwql_env, server, monkeypatch):
    from jwql_dagster.config import load_settings
    from jwql_dagster.mast.resources import check_mast

    monkeypatch.setenv("MAST_API_URL", server.url)
    monkeypatch.setenv("MAST_API_TOKEN", TOKEN)
    ok, msg = check_mast(load_settings())
    assert ok and "reachable (token accepted)" in msg
    monkeypatch.setenv("MAST_API_TOKEN", "a-wrong-token-42")
    ok, msg = check_mast(load_settings())
    assert not ok and "refused the API token" in msg and "a-wrong-token-42" not in msg
    server.stop()
    ok, msg = check_mast(load_settings())
    assert not ok and f"MAST at {server.url}" in msg and "refused the connection" in msg


def test_service_limits_reach_the_client():
    from jwql_dagster.mast.resources import MastService

    policy = MastService(url="http://127.0.0.1:1", timeout_s=45, query_timeout_s=900, poll_seconds=3).policy()
    assert (policy.timeout_s, policy.query_timeout_s, policy.poll_s) == (45, 900, 3)
    defaults = MastService().policy()
    assert defaults.query_timeout_s >= 600 and defaults.timeout_s >= 600  # live MAST answers in minutes
