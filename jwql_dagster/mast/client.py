"""MAST queries of jwql's monitor_mast and get_observation_characteristics, through astroquery.

Pure code (no Dagster): query building, answer parsing, retry policy and a small
client over the real ``astroquery.mast.MastClass``. The client is pointed at any
MAST-protocol server by overriding the portal URLs on a fresh ``MastClass`` (the
class attributes are frozen from ``conf.server`` at import time), and every HTTP
request goes through a retrying, counting ``requests`` adapter so retries, time
bounds and request budgets hold without touching astroquery's code.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import requests
from requests.adapters import HTTPAdapter

INSTRUMENTS: tuple[str, ...] = ("fgs", "miri", "nircam", "niriss", "nirspec")
DATAPRODUCTS: tuple[str, ...] = ("image", "spectrum", "cube")
JWST_DATAPRODUCT = "all"  # the JWST service has no dataproduct column: one count per instrument
SERVICES: tuple[str, ...] = ("jwst", "caom")
CAOM_SERVICE = "Mast.Caom.Filtered"
KEYWORD_PROGRAM = "01440"  # jwql reads the keyword list from one row of this program
# Columns jwql asks for per program in get_observation_characteristics; FGS is skipped.
CHARACTERISTICS_COLUMNS: dict[str, str] = {
    "nircam": "filter,pupil,observtn",
    "niriss": "filter,pupil,observtn",
    "nirspec": "filter,grating,observtn",
    "miri": "filter,observtn",
}
NOT_APPLICABLE = "not applicable"
REQUEST_KINDS: tuple[str, ...] = ("invoke", "columnsconfig", "login", "other")


class MastError(Exception):
    """Any MAST failure; the message is safe to show (no token)."""


class UnknownInstrumentError(MastError, ValueError):
    """The instrument is not one of the five JWST instruments."""


class MastUnavailableError(MastError):
    """MAST could not be reached or kept failing (5xx, timeouts, dropped or cut-off answers) within the retry budget."""


class MastResponseError(MastError):
    """MAST answered, but with something unusable (malformed JSON, ERROR status, unexpected shape, 4xx)."""


class MastLoginError(MastError):
    """The MAST API token was refused."""


def check_instrument(instrument: str) -> str:
    """The lower-case instrument name, or UnknownInstrumentError naming the valid ones."""
    name = str(instrument).strip().lower()
    if name not in INSTRUMENTS:
        raise UnknownInstrumentError(f"unknown JWST instrument {instrument!r}; expected one of {', '.join(INSTRUMENTS)}")
    return name


def jwst_service(instrument: str) -> str:
    """jwql's JWST service name: ``Mast.Jwst.Filtered.Nircam`` etc."""
    return f"Mast.Jwst.Filtered.{check_instrument(instrument).title()}"


def service_name(instrument: str, caom: bool) -> str:
    return CAOM_SERVICE if caom else jwst_service(instrument)


def filters_from_mapping(add_filters: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """jwql's add_filters: ``{name: value}`` -> ``[{"paramName": name, "values": [value]}]`` (lists kept as lists)."""
    out: list[dict[str, Any]] = []
    for key, value in (add_filters or {}).items():
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        out.append({"paramName": key, "values": values})
    return out


def caom_instrument_filter(instrument: str) -> dict[str, Any]:
    """CAOM ``instrument_name`` values carry the mode (``NIRCAM/IMAGE``): match the bare name or any mode."""
    name = check_instrument(instrument).upper()
    return {"paramName": "instrument_name", "values": [name], "freeText": f"{name}/%"}


@dataclass(frozen=True)
class Query:
    """One portal request: service, params and optional paging (page None = every page)."""

    service: str
    params: dict[str, Any]
    pagesize: int | None = None
    page: int | None = None


def inventory_query(
    instrument: str,
    caom: bool = False,
    dataproducts: Sequence[str] | None = None,
    add_filters: Mapping[str, Any] | None = None,
    add_requests: Mapping[str, Any] | None = None,
    return_data: bool = False,
) -> Query:
    """jwql's instrument_inventory query: COUNT_BIG(*) (or every column with ``return_data``).

    CAOM filters on obs_collection, instrument and dataproduct type; the JWST service has no
    dataproduct column, so it is counted once per instrument. ``add_requests`` may hold
    params and the paging keys ``pagesize``/``page``.
    """
    instrument = check_instrument(instrument)
    if caom:
        products = list(dataproducts or DATAPRODUCTS)
        filters = [
            {"paramName": "obs_collection", "values": ["JWST"]},
            caom_instrument_filter(instrument),
            {"paramName": "dataproduct_type", "values": products},
        ]
    else:
        filters = []
    filters += filters_from_mapping(add_filters)
    params: dict[str, Any] = {
        "columns": "*" if return_data else "COUNT_BIG(*)",
        "filters": filters,
        "removenullcolumns": True,
    }
    extra = dict(add_requests or {})
    pagesize = extra.pop("pagesize", None)
    page = extra.pop("page", None)
    params.update(extra)
    return Query(service_name(instrument, caom), params, pagesize, page)


def keywords_query(instrument: str, caom: bool = False, program: str = KEYWORD_PROGRAM) -> Query:
    """jwql's instrument_keywords query: one row (pagesize 1, page 1) of one program, every column."""
    key = "proposal_id" if caom else "program"
    return inventory_query(
        instrument, caom=caom, add_filters={key: program}, add_requests={"pagesize": 1, "page": 1}, return_data=True
    )


def characteristics_query(instrument: str, program: str) -> Query:
    """get_observation_characteristics: the filter/pupil (or grating) and observation of every file of a program."""
    instrument = check_instrument(instrument)
    if instrument not in CHARACTERISTICS_COLUMNS:
        raise UnknownInstrumentError(f"{instrument} has no observation characteristics (jwql skips it)")
    return Query(
        jwst_service(instrument),
        {"columns": CHARACTERISTICS_COLUMNS[instrument], "filters": filters_from_mapping({"program": program_number(program)})},
    )


def program_number(program: str | int) -> str:
    """``jw01068``, ``1068`` or ``01068`` -> ``01068`` (MAST's zero-padded program column)."""
    text = str(program).strip().lower()
    if text.startswith("jw"):
        text = text[2:]
    if not text.isdigit():
        raise ValueError(f"not a JWST program number: {program!r}")
    return text.zfill(5)


# ---------------------------------------------------------------- parsing

def parse_answers(answers: Sequence[Mapping[str, Any]], what: str) -> dict[str, Any]:
    """Merge the pages of one portal answer into ``{"fields": [...], "data": [...], "paging": {...}}``.

    Raises MastResponseError on an ERROR status or a shape that is not MAST's.
    """
    fields: list[dict[str, Any]] | None = None
    data: list[dict[str, Any]] = []
    paging: Mapping[str, Any] = {}
    for answer in answers:
        if not isinstance(answer, Mapping):
            raise MastResponseError(f"MAST answer to {what} is not a JSON object")
        status = answer.get("status")
        if status == "ERROR":
            raise MastResponseError(f"MAST reported an error for {what}: {answer.get('msg') or 'no message'}")
        if status != "COMPLETE":
            raise MastResponseError(f"MAST answer to {what} has status {status!r}, expected COMPLETE")
        page_fields, page_data = answer.get("fields"), answer.get("data")
        if not isinstance(page_fields, list) or not isinstance(page_data, list):
            raise MastResponseError(f"MAST answer to {what} lacks the 'fields'/'data' lists")
        fields = fields if fields is not None else page_fields
        data.extend(page_data)
        paging = answer.get("paging") or paging
    return {"fields": fields or [], "data": data, "paging": dict(paging)}


def parse_count(result: Mapping[str, Any], what: str) -> int:
    """The COUNT_BIG(*) value (``data[0]["Column1"]``)."""
    try:
        value = result["data"][0]["Column1"]
        return int(value)
    except (KeyError, IndexError, TypeError, ValueError):
        raise MastResponseError(f"MAST answer to {what} holds no Column1 count") from None


def parse_keywords(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(keyword, dtype) of every field of the answer, as jwql's instrument_keywords."""
    out = []
    for f in result.get("fields", []):
        if isinstance(f, Mapping) and f.get("name"):
            out.append((str(f["name"]), str(f.get("type", ""))))
    return out


def observation_characteristics(rows: Iterable[Mapping[str, Any]], instrument: str) -> list[tuple[str, int]]:
    """(FILTER/PUPIL, observations using it), counting each combination once per (program, observation).

    Rows carry ``program`` (added by the caller), ``observtn``, ``filter`` and ``pupil`` / ``grating``
    (MIRI: filter only). Sorted by combination name.
    """
    instrument = check_instrument(instrument)
    second = {"nircam": "pupil", "niriss": "pupil", "nirspec": "grating"}.get(instrument)
    per_obs: dict[tuple[Any, Any], set[str]] = {}
    for row in rows:
        filt = _text(row.get("filter"))
        combo = filt if second is None else f"{filt}/{_text(row.get(second))}"
        per_obs.setdefault((row.get("program"), row.get("observtn")), set()).add(combo)
    counts: Counter[str] = Counter()
    for combos in per_obs.values():
        counts.update(combos)
    return sorted(counts.items())


def _text(value: Any) -> str:
    return "N/A" if value in (None, "") else str(value).upper()


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***`` (for messages that might echo a request)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------- retries and counting

@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time per HTTP request."""

    max_retries: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    total_s: float = 60.0
    timeout_s: float = 30.0  # connect and read timeout of one attempt

    def delay(self, retry: int) -> float:
        """Sleep before retry number ``retry`` (1-based): backoff * 2**(retry-1), capped, +-20% jitter."""
        base = min(self.backoff_max_s, self.backoff_s * 2 ** (retry - 1))
        return base * (0.8 + 0.4 * random.random())

    @staticmethod
    def retryable_status(code: int) -> bool:
        return 500 <= code <= 599


def request_kind(url: str) -> str:
    """invoke / columnsconfig / login / other, from the request path."""
    path = url.split("?", 1)[0].rstrip("/")
    if path.endswith("/api/v0/invoke"):
        return "invoke"
    if path.lower().endswith("/columnsconfig"):
        return "columnsconfig"
    if path.endswith("/whoami"):
        return "login"
    return "other"


@dataclass
class RequestCounter:
    """HTTP attempts by kind (every attempt, retries included) and the number of retries; thread-safe."""

    counts: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str) -> None:
        with self._lock:
            self.counts[kind] += 1

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            out = {k: int(self.counts.get(k, 0)) for k in REQUEST_KINDS}
            out["retries"] = self.retries
            return out


# The connection died while the body was arriving (requests reads it after the adapter returns).
BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class RetryingAdapter(HTTPAdapter):
    """A requests adapter that retries 5xx, connection errors, timeouts and cut-off answers with backoff, and counts attempts.

    Retrying per HTTP request (not per astroquery call) keeps paged queries from restarting at page 1.
    After the last attempt a 5xx response is returned as is (astroquery raises on it) and
    an exception is re-raised; the client turns both into MastUnavailableError.
    """

    def __init__(self, policy: RetryPolicy, counter: RequestCounter, pool_size: int = 10) -> None:
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.policy = policy
        self.counter = counter

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["timeout"] = (min(self.policy.timeout_s, 10.0), self.policy.timeout_s)
        kind = request_kind(request.url or "")
        start = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.counter.add(kind)
            error: Exception | None = None
            response: requests.Response | None = None
            try:
                response = super().send(request, **kwargs)
                if not kwargs.get("stream"):
                    response.content  # read the body here, so an answer cut off mid-way is retried too
            except (requests.ConnectionError, requests.Timeout, *BODY_ERRORS) as exc:
                error, response = exc, None
            if response is not None and not self.policy.retryable_status(response.status_code):
                return response
            if attempt > self.policy.max_retries:
                break
            wait = self.policy.delay(attempt)
            if time.monotonic() - start + wait > self.policy.total_s:
                break
            if response is not None:
                response.close()
            self.counter.add_retry()
            time.sleep(wait)
        if response is not None:
            response.headers["X-Jwql-Attempts"] = str(attempt)
            return response
        assert error is not None
        setattr(error, "jwql_attempts", attempt)
        raise error


# ---------------------------------------------------------------- the client

@dataclass(frozen=True)
class InstrumentInventory:
    """Counts and keyword lists of one instrument from both services."""

    instrument: str
    counts: dict[tuple[str, str], int]  # (service, dataproduct) -> files
    keywords: dict[str, list[tuple[str, str]]]  # service -> [(keyword, dtype)]


class MastClient:
    """astroquery's MastClass pointed at ``url``, with timeouts, retries, request counts and token login.

    One instance per resource: a fresh MastClass (own session, own column-config cache) so URLs,
    cookies and caches never leak between servers. Thread-safe for the portal queries used here.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        policy: RetryPolicy | None = None,
        pagesize: int = 50000,
        workers: int = 5,
    ) -> None:
        from astroquery.mast import MastClass

        self.url = url.rstrip("/")
        self._token = token or None
        self.policy = policy or RetryPolicy()
        self.counter = RequestCounter()
        self.workers = max(1, workers)
        self._lock = threading.Lock()
        self._login_lock = threading.Lock()
        self._mast = MastClass()
        session = self._mast._session
        adapter = RetryingAdapter(self.policy, self.counter, pool_size=max(10, self.workers * 2))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        portal = self._mast._portal_api_connection
        portal.MAST_REQUEST_URL = f"{self.url}/api/v0/invoke"
        portal.COLUMNS_CONFIG_URL = f"{self.url}/portal/Mashup/Mashup.asmx/columnsconfig"
        portal.PAGESIZE = pagesize
        # astroquery re-polls EXECUTING answers until this many seconds have passed
        portal.TIMEOUT = max(self.policy.total_s, self.policy.timeout_s)
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
        if isinstance(exc, MastError):
            return type(exc)(self._safe(str(exc)))
        if isinstance(exc, requests.HTTPError):
            response = exc.response
            code = response.status_code if response is not None else 0
            attempts = response.headers.get("X-Jwql-Attempts", "1") if response is not None else "1"
            if code >= 500:
                return MastUnavailableError(
                    f"MAST at {self.url} answered HTTP {code} to {what} after {attempts} attempt(s)"
                    f" (retry budget {self.policy.max_retries} retries / {self.policy.total_s:g} s)"
                )
            return MastResponseError(f"MAST at {self.url} refused {what}: HTTP {code}")
        if isinstance(exc, (requests.ConnectionError, requests.Timeout, *BODY_ERRORS)):
            attempts = getattr(exc, "jwql_attempts", 1)
            if isinstance(exc, requests.Timeout):
                kind = "timed out"
            elif isinstance(exc, BODY_ERRORS):
                kind = "cut off its answer"
            else:
                kind = "dropped or refused the connection"
            return MastUnavailableError(
                f"MAST at {self.url} {kind} for {what} after {attempts} attempt(s)"
                f" (timeout {self.policy.timeout_s:g} s, retry budget {self.policy.total_s:g} s): {type(exc).__name__}"
            )
        if isinstance(exc, TimeoutError):
            return MastUnavailableError(f"MAST at {self.url} did not complete {what} within {self.policy.total_s:g} s")
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
        """Execute one portal query (every page unless ``query.page``) and return the merged answer."""
        what = f"{query.service} {json.dumps(query.params.get('columns'))}"
        try:
            self.login()
            portal = self._mast._portal_api_connection
            with self._lock:
                if query.service not in portal._column_configs:
                    portal._get_col_config(query.service)
            responses = self._mast.service_request_async(
                query.service, query.params, pagesize=query.pagesize, page=query.page
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

    def instrument_inventory(self, instrument: str, program: str = KEYWORD_PROGRAM) -> InstrumentInventory:
        """1 JWST count + 3 CAOM counts + 2 keyword requests for one instrument."""
        instrument = check_instrument(instrument)
        counts: dict[tuple[str, str], int] = {("jwst", JWST_DATAPRODUCT): self.count(instrument)}
        for dp in DATAPRODUCTS:
            counts[("caom", dp)] = self.count(instrument, caom=True, dataproduct=dp)
        keywords = {
            "jwst": self.keywords(instrument, caom=False, program=program),
            "caom": self.keywords(instrument, caom=True, program=program),
        }
        return InstrumentInventory(instrument, counts, keywords)

    def inventory(self, instruments: Sequence[str] = INSTRUMENTS) -> dict[str, InstrumentInventory]:
        """Every instrument's inventory, instruments in parallel (a thread pool)."""
        names = [check_instrument(i) for i in instruments]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(names) or 1)) as pool:
            results = list(pool.map(self.instrument_inventory, names))
        return dict(zip(names, results))

    def program_characteristics_rows(self, instrument: str, program: str) -> list[dict[str, Any]]:
        """The filter/pupil/observation rows of one program, each tagged with its program number."""
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

