"""Fixtures of the MAST tests: a local MAST server and clients with short timeouts and backoffs."""

from __future__ import annotations

from typing import Iterator

import pytest

from jwql_dagster.mast.client import MastClient, RetryPolicy
from jwql_dagster.demo.mast_server import MastServer, build_catalog, start_server

TOKEN = "tok-7f3a9c1e5b2d-SECRET"
# Short budgets keep failure tests fast: 0.4 s per attempt, at most 4 retries within 3 s.
FAST = RetryPolicy(max_retries=4, backoff_s=0.02, backoff_max_s=0.1, total_s=3.0, timeout_s=0.4)


@pytest.fixture(scope="session")
def catalog() -> dict:
    return build_catalog()


@pytest.fixture
def server(catalog) -> Iterator[MastServer]:
    with start_server(catalog=catalog, token=TOKEN) as srv:
        yield srv


@pytest.fixture
def client(server) -> MastClient:
    return MastClient(server.url, token=TOKEN, policy=FAST)
