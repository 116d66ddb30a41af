"""Fixtures of the MAST tests: a local MAST server and clients with short timeouts and backoffs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from jwql_dagster.demo.mast_catalog import build_catalog
from jwql_dagster.demo.mast_server import MastServer, start_server
from jwql_dagster.mast.client import MastClient
from jwql_dagster.mast.transport import RetryPolicy

TOKEN = "tok-7f3a9c1e5b2d-SECRET"
# Short budgets keep failure tests fast: 0.4 s per attempt, at most 4 retries within 3 s.
FAST = RetryPolicy(max_retries=4, backoff_s=0.02, backoff_max_s=0.1, total_s=3.0, timeout_s=0.4, poll_s=0.05)


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


RECORDED = Path(__file__).resolve().parents[1] / "data" / "mast"  # live answers, see SOURCE.md


def recorded(name: str) -> dict:
    """One recorded answer of the live service (tests/data/mast/<name>.json)."""
    return json.loads((RECORDED / f"{name}.json").read_text())


class RecordedAnswers:
    """A replay of the live service: counts answer countsResp.json, row queries page through caom.json's
    rows (``paging`` as MAST computes it for the requested page size), columnsconfig answers columnsconfig.json."""

    def __init__(self) -> None:
        self.count = recorded("countsResp")
        self.rows = recorded("caom")
        self.config = recorded("columnsconfig")

    def invoke(self, request: dict) -> dict:
        if str(request["params"].get("columns", "")).upper() == "COUNT_BIG(*)":
            return self.count
        pagesize, page = int(request.get("pagesize") or 50000), int(request.get("page") or 1)
        rows = self.rows["data"]
        chunk = rows[(page - 1) * pagesize: page * pagesize]
        paging = {"page": page, "pageSize": pagesize, "pagesFiltered": -(-len(rows) // pagesize), "rows": len(chunk),
                  "rowsFiltered": len(rows), "rowsTotal": len(rows)}
        return dict(self.rows, data=chunk, paging=paging)

    def columns_config(self, service: str) -> dict:
        return self.config


@pytest.fixture
def replay() -> Iterator[MastServer]:
    """A MAST-protocol server answering with recorded live answers."""
    with start_server(engine=RecordedAnswers(), token=TOKEN) as srv:
        yield srv
