"""MastClient: astroquery's MastClass pointed at any MAST-protocol server, with limits, retries, counts and login.

Pure code (no Dagster). The client is pointed at a server by overriding the portal URLs on a fresh
``MastClass`` (the class attributes are frozen from ``conf.server`` at import time); every HTTP
request goes through ``transport.MastAdapter``. Query building lives in ``queries``, answer
parsing in ``parse``.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ReadTimeoutError

from jwql_dagster.mast.errors import MastError, MastLoginError, MastResponseError, MastUnavailableError
from jwql_dagster.mast.parse import observation_characteristics, parse_answers, parse_count, parse_keywords, scrub
from jwql_dagster.mast.queries import (
    CAOM_SERVICE, DATAPRODUCTS, INSTRUMENTS, JWST_DATAPRODUCT, KEYWORD_PROGRAM, Query, characteristics_query,
    check_instrument, inventory_query, keywords_query, program_number,
)
from jwql_dagster.mast.transport import (
    BODY_ERRORS, MastAdapter, Progress, QueryTimeout, RequestCounter, RetryPolicy, query_deadline,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class InstrumentInventory:
    """Counts and keyword lists of one instrument from both services."""

    instrument: str
    counts: dict[tuple[str, str], int]  # (service, dataproduct) -> files
    keywords: dict[str, list[tuple[str, str]]]  # service -> [(keyword, dtype)]


def _reason(exc: BaseException) -> BaseException | None:
    """What urllib3 gave up on (a ReadTimeoutError inside MaxRetryError reaches us as a ConnectionError)."""
    arg = exc.args[0] if exc.args else None
    return arg.reason if isinstance(arg, MaxRetryError) else arg if isinstance(arg, BaseException) else None


class MastClient:
    """astroquery's MastClass pointed at ``url``, with time limits, retries, request counts and token login.

    One instance per resource: a fresh MastClass (own session, own column-config cache) so URLs,
    cookies and caches never leak between servers. Thread-safe for the portal queries used here.
    ``log`` (e.g. a run's logger) hears about queries that keep MAST waiting.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        policy: RetryPolicy | None = None,
        pagesize: int = 50000,
        workers: int = 5,
        log: Log | None = None,
    ) -> None:
        from astroquery.mast import MastClass

        self.url = url.rstrip("/")
        self._token = token or None
        self.policy = policy or RetryPolicy()
        self.counter = RequestCounter()
        self.workers = max(1, workers)
        self.log = log
        self._lock = threading.Lock()
        self._login_lock = threading.Lock()
        self._mast = MastClass()
        session = self._mast._session
        adapter = MastAdapter(self.policy, self.counter, pool_size=max(10, self.workers * 2))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        portal = self._mast._portal_api_connection
        portal.MAST_REQUEST_URL = f"{self.url}/api/v0/invoke"
        portal.COLUMNS_CONFIG_URL = f"{self.url}/portal/Mashup/Mashup.asmx/columnsconfig"
        portal.PAGESIZE = pagesize
        # astroquery checks its TIMEOUT after each answer and raises even on a COMPLETE one; our
        # adapter enforces the query limit (and polls EXECUTING answers), so astroquery's never fires
        portal.TIMEOUT = float("inf")
        portal._column_configs = {}  # a class-level dict in astroquery: keep ours private
        self._mast._auth_obj.SESSION_INFO_URL = f"{self.url}/whoami"
        session.hooks["response"].append(self._raise_for_failed_login)
        self.logged_in = False

    def _raise_for_failed_login(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """astroquery reads the /whoami answer as JSON without looking at its status, so an error page
        (5xx after our retries, 4xx) would surface as a KeyError; raise the HTTP error for _wrap instead."""
        if response.status_code >= 400 and response.url.split("?")[0] == self._mast._auth_obj.SESSION_INFO_URL:
            response.raise_for_status()

    # -- errors ---------------------------------------------------------
    def _safe(self, text: str) -> str:
        return scrub(text, [self._token])

    def _wrap(self, exc: BaseException, what: str) -> MastError:
        p = self.policy
        if isinstance(exc, MastError):
            return type(exc)(self._safe(str(exc)))
        if isinstance(exc, requests.HTTPError):
            response = exc.response
            code = response.status_code if response is not None else 0
            attempts = response.headers.get("X-Jwql-Attempts", "1") if response is not None else "1"
            if p.retryable_status(code) or code >= 500:
                return MastUnavailableError(
                    f"MAST at {self.url} answered HTTP {code} to {what} after {attempts} attempt(s)"
                    f" (retry budget {p.max_retries} retries / {p.total_s:g} s)"
                )
            return MastResponseError(f"MAST at {self.url} refused {what}: HTTP {code}")
        if isinstance(exc, QueryTimeout):
            return MastUnavailableError(
                f"MAST at {self.url} did not complete {what} within {p.query_timeout_s:g} s"
                f" (JWQL_MAST_TIMEOUT_S): {exc}"
            )
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, *BODY_ERRORS)):
            attempts = getattr(exc, "jwql_attempts", 1)
            reason = _reason(exc)
            timed_out = isinstance(reason, (ReadTimeoutError, ConnectTimeoutError)) and not isinstance(reason, NewConnectionError)
            if isinstance(exc, requests.Timeout) or timed_out:  # urllib3's refused connection is a ConnectTimeoutError
                kind = "timed out"
            elif isinstance(exc, BODY_ERRORS):
                kind = "cut off its answer"
            else:
                kind = "dropped or refused the connection"
            return MastUnavailableError(
                f"MAST at {self.url} {kind} for {what} after {attempts} attempt(s)"
                f" (timeout {p.timeout_s:g} s per attempt, retry budget {p.total_s:g} s): {type(exc).__name__}"
            )
        if isinstance(exc, TimeoutError):
            return MastUnavailableError(f"MAST at {self.url} did not complete {what} within {p.query_timeout_s:g} s")
        if isinstance(exc, ValueError):  # requests' JSONDecodeError is a ValueError
            return MastResponseError(f"MAST at {self.url} sent a malformed (non-JSON) answer to {what}")
        return MastResponseError(f"unexpected failure of {what} at {self.url}: {type(exc).__name__}")

    # -- login ----------------------------------------------------------
    def login(self) -> bool:
        """Log in with the token through astroquery (cookie mast_token, GET /whoami); no token = anonymous."""
        if not self._token:
            return False
        with self._login_lock:
            return self._login_locked()

    def _login_locked(self) -> bool:
        if self.logged_in:
            return True
        from astroquery.exceptions import LoginError

        try:
            with query_deadline(self.policy.query_timeout_s):
                self._mast.login(token=self._token)
        except LoginError:
            raise MastLoginError(
                f"MAST at {self.url} refused the API token (it answers as anonymous): "
                "check MAST_API_TOKEN or create a new token at https://auth.mast.stsci.edu/token"
            ) from None
        except Exception as exc:
            raise self._wrap(exc, "the token login (/whoami)") from None
        self.logged_in = True
        return True

    # -- queries --------------------------------------------------------
    def run(self, query: Query) -> dict[str, Any]:
        """Execute one portal query (every page unless ``query.page``) within the query limit; the merged answer."""
        what = f"{query.service} {json.dumps(query.params.get('columns'))}"
        try:
            self.login()
            portal = self._mast._portal_api_connection
            with Progress(self.log, what, self.policy.progress_s, self.policy.query_timeout_s):
                with query_deadline(self.policy.query_timeout_s):
                    with self._lock:
                        if query.service not in portal._column_configs:
                            portal._get_col_config(query.service)
                    responses = self._mast.service_request_async(
                        query.service, query.params, pagesize=query.pagesize, page=query.page,
                        **(query.properties or {}),
                    )
                    answers = [r.json() for r in responses]
        except MastLoginError:
            raise
        except Exception as exc:
            raise self._wrap(exc, what) from None
        return parse_answers(answers, what)

    def count(self, instrument: str, caom: bool = False, dataproduct: str | None = None,
              add_filters: Mapping[str, Any] | None = None, add_requests: Mapping[str, Any] | None = None) -> int:
        """Files of an instrument: JWST service (every file) or CAOM for one dataproduct."""
        products = [dataproduct] if dataproduct else None
        q = inventory_query(instrument, caom=caom, dataproducts=products, add_filters=add_filters, add_requests=add_requests)
        return parse_count(self.run(q), f"the {q.service} count")

    def rows(self, instrument: str, caom: bool = False, add_filters: Mapping[str, Any] | None = None,
             add_requests: Mapping[str, Any] | None = None, dataproducts: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every matching row (all pages), as jwql's instrument_inventory(return_data=True)."""
        q = inventory_query(instrument, caom=caom, dataproducts=dataproducts, add_filters=add_filters,
                            add_requests=add_requests, return_data=True)
        return self.run(q)["data"]

    def keywords(self, instrument: str, caom: bool = False, program: str = KEYWORD_PROGRAM) -> list[tuple[str, str]]:
        return parse_keywords(self.run(keywords_query(instrument, caom=caom, program=program)))

    def _tasks(self, instrument: str, program: str) -> list[tuple[str, Callable[[], Any]]]:
        """The six requests of one instrument's inventory, as (key, call)."""
        tasks: list[tuple[str, Callable[[], Any]]] = [("jwst/" + JWST_DATAPRODUCT, lambda: self.count(instrument))]
        for dp in DATAPRODUCTS:
            tasks.append((f"caom/{dp}", lambda dp=dp: self.count(instrument, caom=True, dataproduct=dp)))
        tasks.append(("keywords/jwst", lambda: self.keywords(instrument, caom=False, program=program)))
        tasks.append(("keywords/caom", lambda: self.keywords(instrument, caom=True, program=program)))
        return tasks

    def inventory(self, instruments: Sequence[str] = INSTRUMENTS, program: str = KEYWORD_PROGRAM) -> dict[str, InstrumentInventory]:
        """Every instrument's inventory: 1 JWST count + 3 CAOM counts + 2 keyword requests each, all in parallel.

        One pool over every request, so a slow service delays its own answers only (a 45-s CAOM
        count costs an instrument 45 s, not four times that).
        """
        names = [check_instrument(i) for i in instruments]
        jobs = [(name, key, call) for name in names for key, call in self._tasks(name, program)]
        pool = ThreadPoolExecutor(max_workers=min(self.workers, len(jobs) or 1))
        try:
            futures = [(name, key, pool.submit(call)) for name, key, call in jobs]
            results = [(name, key, future.result()) for name, key, future in futures]
        finally:  # the first failure fails the inventory: requests not yet sent are not sent
            pool.shutdown(wait=True, cancel_futures=True)
        out: dict[str, InstrumentInventory] = {}
        for name in names:
            mine = {key: value for n, key, value in results if n == name}
            counts = {tuple(k.split("/", 1)): v for k, v in mine.items() if not k.startswith("keywords/")}
            keywords = {k.split("/", 1)[1]: v for k, v in mine.items() if k.startswith("keywords/")}
            out[name] = InstrumentInventory(name, counts, keywords)  # type: ignore[arg-type]
        return out

    def instrument_inventory(self, instrument: str, program: str = KEYWORD_PROGRAM) -> InstrumentInventory:
        """1 JWST count + 3 CAOM counts + 2 keyword requests for one instrument (in parallel)."""
        instrument = check_instrument(instrument)
        return self.inventory([instrument], program=program)[instrument]

    def program_characteristics_rows(self, instrument: str, program: str) -> list[dict[str, Any]]:
        """The filter/pupil/observation rows of one program (any id form), each tagged with its padded number."""
        number = program_number(program)
        rows = self.run(characteristics_query(instrument, number))["data"]
        return [{**r, "program": number} for r in rows]

    def observation_characteristics(self, instrument: str, programs: Iterable[str]) -> list[tuple[str, int]]:
        """(FILTER/PUPIL, observations) over the given programs, programs queried in parallel."""
        instrument = check_instrument(instrument)
        programs = sorted({program_number(p) for p in programs})
        if not programs:
            return []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(programs))) as pool:
            chunks = list(pool.map(lambda p: self.program_characteristics_rows(instrument, p), programs))
        return observation_characteristics([r for chunk in chunks for r in chunk], instrument)

    def ping(self) -> str:
        """One cheap round trip (columns config of the CAOM service + login): a reachability probe."""
        try:
            self.login()
            portal = self._mast._portal_api_connection
            with query_deadline(self.policy.query_timeout_s):
                responses = portal._request("POST", portal.COLUMNS_CONFIG_URL, data=f"colConfigId={CAOM_SERVICE}",
                                            headers={"Content-type": "application/x-www-form-urlencoded"})
            responses[0].json()
        except MastLoginError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "the columns-config probe") from None
        return "token accepted" if self.logged_in else "anonymous"

    def requests_made(self) -> dict[str, int]:
        return self.counter.snapshot()
