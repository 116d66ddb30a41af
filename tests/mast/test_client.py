"""The real astroquery client (through MastClient) against the local MAST server: every query kind and failure."""

from __future__ import annotations

import time

import pytest

from jwql_dagster.demo.mast_catalog import catalog_truth
from jwql_dagster.demo.mast_server import Failures, Latency
from jwql_dagster.mast.client import MastClient
from jwql_dagster.mast.errors import MastLoginError, MastResponseError, MastUnavailableError, UnknownInstrumentError
from jwql_dagster.mast.queries import INSTRUMENTS, inventory_query
from jwql_dagster.mast.transport import RetryPolicy

from .conftest import FAST, TOKEN


def test_five_instrument_inventory_equals_catalogue_within_request_budget(client, server, catalog):
    inventory = client.inventory()
    truth = catalog_truth(catalog)
    got = {(i, s, dp): n for i, inv in inventory.items() for (s, dp), n in inv.counts.items()}
    assert got == truth
    assert sum(truth.values()) > 0 and all(truth[(i, "jwst", "all")] > 0 for i in INSTRUMENTS)
    kinds = server.counts_by_kind
    # 5 JWST counts + 15 CAOM counts + 10 keyword requests (jwql made 40)
    assert kinds["invoke"] == 30
    assert kinds["login"] == 1  # one token login for the whole inventory
    assert kinds["columnsconfig"] == 6  # once per service: 5 JWST + CAOM
    assert client.requests_made()["invoke"] == 30


def test_keywords_come_from_one_row_of_the_keyword_program(client, server, catalog):
    keywords = client.keywords("nirspec")
    names = [k for k, _ in keywords]
    assert "grating" in names and "pupil" not in names
    request = server.requests[-1]
    assert request["pagesize"] == 1 and request["page"] == 1
    assert request["params"]["filters"] == [{"paramName": "program", "values": ["01440", "1440"]}]
    assert names  # the service holds the program unpadded: the padded form alone would find no row
    caom = dict(client.keywords("nircam", caom=True))
    assert caom["instrument_name"] == "string"


def test_filters_are_honoured(client, catalog):
    rows = client.rows("nircam", caom=True, dataproducts=["spectrum"])
    assert rows, "the catalogue has NIRCam spectra"
    assert {r["dataproduct_type"] for r in rows} == {"spectrum"}
    assert {r["obs_collection"] for r in rows} == {"JWST"}
    assert all(r["instrument_name"].startswith("NIRCAM") for r in rows)
    one_program = client.rows("miri", add_filters={"program": "1440"})
    assert one_program and {r["program"] for r in one_program} == {"1440"}
    every = catalog["services"]["Mast.Jwst.Filtered.Miri"]["rows"]
    assert len(one_program) == sum(1 for r in every if r["program"] == "1440") < len(every)


def test_paging_over_several_pages(catalog, server):
    client = MastClient(server.url, token=TOKEN, policy=FAST, pagesize=7)
    rows = client.rows("nircam")
    expected = catalog["services"]["Mast.Jwst.Filtered.Nircam"]["rows"]
    assert [r["ArchiveFileID"] for r in rows] == [r["ArchiveFileID"] for r in expected]
    pages = [r["page"] for r in server.requests]
    assert pages == list(range(1, -(-len(expected) // 7) + 1)) and len(pages) > 3


def test_column_selection_and_count_query_shape(client, server):
    rows = client.program_characteristics_rows("nirspec", "jw01440")
    assert rows and set(rows[0]) == {"filter", "grating", "observtn", "program"}
    q = inventory_query("fgs")
    assert q.service == "Mast.Jwst.Filtered.Fgs" and q.params["columns"] == "COUNT_BIG(*)" and q.params["filters"] == []


def test_retries_injected_500s(client, server, catalog):
    server.failures = Failures(http_500=3)
    assert client.count("miri") == catalog_truth(catalog)[("miri", "jwst", "all")]
    assert server.faults == {"http_500": 3}
    assert client.requests_made()["retries"] == 3


def test_persistent_500s_give_up_within_the_bounded_time(server):
    server.failures = Failures(http_500=1000)
    policy = RetryPolicy(max_retries=50, backoff_s=0.2, backoff_max_s=0.4, total_s=1.5, timeout_s=0.4)
    client = MastClient(server.url, policy=policy)
    start = time.monotonic()
    with pytest.raises(MastUnavailableError, match="HTTP 500") as err:
        client.count("nircam")
    assert time.monotonic() - start < policy.total_s + 2  # the total budget, not 50 retries
    assert "attempt" in str(err.value)


def test_retries_timeouts_and_dropped_connections(client, server, catalog):
    server.failures = Failures(slow=1, slow_seconds=1.0, drop=1)
    assert client.count("niriss", caom=True, dataproduct="image") == catalog_truth(catalog)[("niriss", "caom", "image")]
    assert server.faults == {"slow": 1, "drop": 1}


def test_answer_cut_off_mid_body_is_retried(client, server, catalog):
    server.failures = Failures(truncated=2)
    assert client.count("miri") == catalog_truth(catalog)[("miri", "jwst", "all")]
    assert server.faults == {"truncated": 2}
    assert client.requests_made()["retries"] == 2


def test_answers_always_cut_off_fail_clearly(server):
    server.failures = Failures(truncated=100)
    client = MastClient(server.url, policy=RetryPolicy(max_retries=2, backoff_s=0.01, total_s=5.0, timeout_s=2.0))
    with pytest.raises(MastUnavailableError, match="cut off its answer .* after 3 attempt"):
        client.count("nircam")


def test_answer_that_never_arrives_fails_clearly(server):
    server.failures = Failures(slow=100, slow_seconds=0.8)
    client = MastClient(server.url, policy=RetryPolicy(max_retries=2, backoff_s=0.01, total_s=2.0, timeout_s=0.3))
    start = time.monotonic()
    with pytest.raises(MastUnavailableError, match="timed out .* after 3 attempt"):
        client.count("fgs")
    assert time.monotonic() - start < 3.0


def test_executing_before_complete_is_polled(client, server, catalog):
    server.failures = Failures(executing=2)
    assert client.count("nirspec") == catalog_truth(catalog)[("nirspec", "jwst", "all")]
    assert server.faults == {"executing": 2}


def test_malformed_answer_is_a_clear_error(client, server):
    server.failures = Failures(malformed=1)
    with pytest.raises(MastResponseError, match="malformed .*non-JSON"):
        client.count("nircam")


def test_error_status_is_reported(client):
    with pytest.raises(MastResponseError, match="error for Mast.Jwst.Filtered.Miri.*unknown filter column 'nosuchcolumn'"):
        client.run(inventory_query("miri", add_filters={"nosuchcolumn": 1}))


def test_refused_token_is_reported_clearly_without_the_token(server):
    wrong = "wrong-token-123456789"
    client = MastClient(server.url, token=wrong, policy=FAST)
    with pytest.raises(MastLoginError, match="refused the API token") as err:
        client.count("miri")
    assert wrong not in str(err.value) and TOKEN not in str(err.value)
    assert server.counts_by_kind["invoke"] == 0


def test_unknown_instrument_is_a_clear_error(client, server):
    with pytest.raises(UnknownInstrumentError, match="unknown JWST instrument 'wfc3'.*fgs, miri, nircam"):
        client.count("wfc3")
    assert server.counts == {}


def test_unreachable_server(catalog):
    from jwql_dagster.demo.mast_server import start_server

    with start_server(catalog=catalog) as srv:
        url = srv.url
    client = MastClient(url, policy=RetryPolicy(max_retries=1, backoff_s=0.01, total_s=1.0, timeout_s=0.3))
    with pytest.raises(MastUnavailableError, match="dropped or refused the connection"):
        client.count("nircam")


def test_clients_do_not_share_urls_or_caches(catalog):
    from jwql_dagster.demo.mast_server import start_server

    with start_server(catalog=catalog) as a, start_server(catalog=catalog) as b:
        MastClient(a.url, policy=FAST).count("miri")
        MastClient(b.url, policy=FAST).count("miri")
        assert a.counts_by_kind["columnsconfig"] == 1 and b.counts_by_kind["columnsconfig"] == 1
        assert a.counts_by_kind["invoke"] == 1 and b.counts_by_kind["invoke"] == 1


def test_observation_characteristics_count_each_combination_once_per_observation(client, catalog):
    pairs = dict(client.observation_characteristics("nircam", ["jw01440"]))
    rows = [r for r in catalog["services"]["Mast.Jwst.Filtered.Nircam"]["rows"] if r["program"] == "1440"]
    expected: dict[str, set] = {}
    for r in rows:
        expected.setdefault(f"{r['filter']}/{r['pupil']}", set()).add(r["observtn"])
    assert pairs == {k: len(v) for k, v in expected.items()}


# ------------------------------------------------------------------ the live service's ways

def test_recorded_live_answers_through_the_real_astroquery_client(replay):
    """Counts, EXECUTING polls, paging and keyword lists, as the live service answered them."""
    from .conftest import recorded

    client = MastClient(replay.url, token=TOKEN, policy=FAST, pagesize=5)
    replay.failures = Failures(executing=2)
    assert client.count("nircam", caom=True, dataproduct="image") == 599
    assert replay.faults == {"executing": 2} and client.requests_made()["polls"] == 2
    rows = client.rows("miri", caom=True)
    assert rows == recorded("caom")["data"]
    assert [r["page"] for r in replay.requests[1:]] == [1, 2, 3, 4]  # 19 rows in pages of 5
    keywords = client.keywords("nirspec", caom=True)
    assert keywords == [(f["name"], f["type"]) for f in recorded("caom")["fields"]]
    assert replay.requests[-1]["removenullcolumns"] is True and "removenullcolumns" not in replay.requests[-1]["params"]


def test_keyword_lists_need_the_unpadded_program_the_services_hold(client, server):
    """Live MAST holds JWST programs unpadded ('1440'): jwql's padded '01440' alone finds no row."""
    for caom in (False, True):
        assert client.keywords("nircam", caom=caom), "both forms in one OR filter find the row"
    padded_only = inventory_query("nircam", caom=True, add_filters={"proposal_id": "01440"},
                                  add_requests={"pagesize": 1, "page": 1}, return_data=True)
    assert client.run(padded_only)["data"] == []


def test_slow_answer_within_the_limits_is_awaited_not_retried(server, catalog):
    server.latency = Latency(services={"Mast.Caom.Filtered": 1.0})
    client = MastClient(server.url, policy=RetryPolicy(timeout_s=5.0, query_timeout_s=5.0, backoff_s=0.01))
    start = time.monotonic()
    assert client.count("miri", caom=True, dataproduct="image") == catalog_truth(catalog)[("miri", "caom", "image")]
    assert 1.0 <= time.monotonic() - start < 3.0
    made = client.requests_made()
    assert made["invoke"] == 1 and made["retries"] == 0


def test_query_limit_bounds_a_slow_answer_and_says_which_setting(server):
    server.latency = Latency(default=3.0)
    client = MastClient(server.url, policy=RetryPolicy(query_timeout_s=1.0, backoff_s=0.01))
    start = time.monotonic()
    with pytest.raises(MastUnavailableError, match=r"did not complete .*within 1 s \(JWQL_MAST_TIMEOUT_S\)"):
        client.count("fgs")
    assert time.monotonic() - start < 2.5


def test_executing_answers_are_polled_with_pauses_until_the_query_limit(server):
    server.failures = Failures(executing=10_000)
    client = MastClient(server.url, policy=RetryPolicy(query_timeout_s=1.0, poll_s=0.2))
    start = time.monotonic()
    with pytest.raises(MastUnavailableError, match="did not complete .*EXECUTING"):
        client.count("nircam")
    assert time.monotonic() - start < 2.0
    assert 3 <= server.faults["executing"] <= 7  # one ask every 0.2 s, not astroquery's busy loop


def test_progress_reaches_the_log_while_a_query_waits(server, catalog):
    server.latency = Latency(services={"Mast.Jwst.Filtered.Niriss": 1.0})
    said: list[str] = []
    client = MastClient(server.url, policy=RetryPolicy(progress_s=0.3, query_timeout_s=10.0), log=said.append)
    assert client.count("niriss") == catalog_truth(catalog)[("niriss", "jwst", "all")]
    assert said and all("still waiting for Mast.Jwst.Filtered.Niriss" in s and "limit 10 s" in s for s in said)
    said.clear()
    client.count("miri")  # answered at once: nothing to report
    assert said == []
