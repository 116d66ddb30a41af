"""A local server speaking MAST's portal protocol, for tests and the demo (no internet needed): HTTP and faults.

It answers what astroquery's ``MastClass`` sends: ``POST /portal/Mashup/Mashup.asmx/columnsconfig``,
``POST /api/v0/invoke`` (form field ``request`` = JSON with service, params, pagesize, page and
request properties) and ``GET /whoami`` (token login through the ``mast_token`` cookie). What it
answers comes from an engine: by default the catalogue (``mast_catalog``) and its query engine
(``mast_query``); tests plug in recorded live answers. Failures can be injected (HTTP 500, slow
answers, dropped connections, answers cut off mid-body, malformed JSON, EXECUTING before
COMPLETE) and each service can answer with its own latency, so clients can be tested against them.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping, Protocol
from urllib.parse import parse_qs, urlsplit

from jwql_dagster.demo.mast_catalog import build_catalog, columns_config, load_catalog
from jwql_dagster.demo.mast_query import QueryError, run_query
from jwql_dagster.mast.transport import REQUEST_KINDS

INVOKE_PATH = "/api/v0/invoke"
COLUMNS_CONFIG_PATH = "/portal/Mashup/Mashup.asmx/columnsconfig"
WHOAMI_PATH = "/whoami"
PATH_KINDS = {INVOKE_PATH: "invoke", COLUMNS_CONFIG_PATH: "columnsconfig", WHOAMI_PATH: "login"}


class Engine(Protocol):
    """What the server answers: an invoke request and a columns-config request."""

    def invoke(self, request: Mapping[str, Any]) -> dict[str, Any]: ...

    def columns_config(self, service: str) -> dict[str, Any]: ...


class CatalogEngine:
    """Answers from a catalogue ``{"services": {name: {"fields", "rows"}}}``."""

    def __init__(self, catalog: Mapping[str, Any]) -> None:
        self.catalog = dict(catalog)

    def invoke(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return run_query(self.catalog, request)

    def columns_config(self, service: str) -> dict[str, Any]:
        return columns_config(self.catalog["services"].get(service))


# ------------------------------------------------------------------ latency and failure injection

def _instrument(request: Mapping[str, Any]) -> str | None:
    """The instrument a request is about: from the JWST service name or CAOM's instrument_name filter."""
    service = str(request.get("service") or "")
    if service.startswith("Mast.Jwst.Filtered."):
        return service.rsplit(".", 1)[-1].lower()
    for flt in (request.get("params") or {}).get("filters") or []:
        if isinstance(flt, Mapping) and flt.get("paramName") == "instrument_name" and flt.get("values"):
            return str(flt["values"][0]).split("/")[0].lower()
    return None


@dataclass(frozen=True)
class Latency:
    """Seconds before an invoke answer: ``default``, or per service (``"Mast.Caom.Filtered"``) or per
    service and instrument (``"Mast.Caom.Filtered nircam"``), the most specific rule winning."""

    default: float = 0.0
    services: Mapping[str, float] = field(default_factory=dict)

    def of(self, request: Mapping[str, Any]) -> float:
        service = str(request.get("service") or "")
        specific = f"{service} {_instrument(request)}"
        for key in (specific, service):
            if key in self.services:
                return float(self.services[key])
        return self.default


@dataclass
class Failures:
    """Faults for the next N requests of the given kinds (invoke by default); each counter decreases when used."""

    http_500: int = 0
    slow: int = 0
    slow_seconds: float = 2.0
    drop: int = 0
    truncated: int = 0
    malformed: int = 0
    executing: int = 0
    kinds: tuple[str, ...] = ("invoke",)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, kind: str) -> str | None:
        """The fault to apply to this request, if any (500 first, then drop, truncated, slow, malformed, executing)."""
        if kind not in self.kinds:
            return None
        with self._lock:
            for name in ("http_500", "drop", "truncated", "slow", "malformed", "executing"):
                if getattr(self, name) > 0:
                    setattr(self, name, getattr(self, name) - 1)
                    return name
        return None


# ------------------------------------------------------------------ HTTP server

class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet; the counters tell what happened
        if self.server.verbose:
            super().log_message(format, *args)

    def _send_json(self, obj: Any, status: int = 200, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def _fault(self, kind: str) -> str | None:
        fault = self.server.failures.take(kind) if self.server.failures else None
        if fault:
            self.server.note_fault(fault)
        if fault == "http_500":
            self._send_json({"status": "ERROR", "msg": "injected server error"}, status=500)
        elif fault == "drop":
            self._hang_up()
        elif fault == "truncated":  # the connection dies mid-answer: headers promise more than arrives
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"status": "COMPLETE", "data": [')
            self.wfile.flush()
            self._hang_up()
        elif fault == "slow":
            time.sleep(self.server.failures.slow_seconds)
            return None  # then answer normally (after the client gave up, usually)
        elif fault == "malformed":
            self._send_json(None, raw=b'{"status": "COMPLETE", "data": [ this is not json')
        elif fault == "executing":
            self._send_json({"status": "EXECUTING", "msg": "", "fields": [], "data": []})
        return fault

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        self.server.count(path)
        if path != WHOAMI_PATH:
            self._send_json({"status": "ERROR", "msg": f"no such endpoint {path}"}, status=404)
            return
        if self._fault("login"):
            return
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        token = cookie["mast_token"].value if "mast_token" in cookie else None
        good = bool(token) and (self.server.token is None or token == self.server.token)
        if good:
            self._send_json({"anon": False, "attrib": {"display_name": "jwql test user", "ezid": "jwqltest"},
                             "status": "authenticated"})
        else:
            self._send_json({"anon": True})

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        self.server.count(path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        kind = PATH_KINDS.get(path, "other")
        if path == COLUMNS_CONFIG_PATH:
            if self._fault(kind):
                return
            name = (parse_qs(body).get("colConfigId") or [""])[0]
            self._send_json(self.server.engine.columns_config(name))
            return
        if path != INVOKE_PATH:
            self._send_json({"status": "ERROR", "msg": f"no such endpoint {path}"}, status=404)
            return
        try:
            request = json.loads(parse_qs(body, keep_blank_values=True)["request"][0])
        except (KeyError, json.JSONDecodeError):
            self._send_json({"status": "ERROR", "msg": "form field 'request' must hold a JSON request"}, status=400)
            return
        if not isinstance(request, dict):
            self._send_json({"status": "ERROR", "msg": "request must be a JSON object"}, status=400)
            return
        delay = self.server.latency.of(request)
        if delay > 0:
            time.sleep(delay)  # a network round trip plus MAST's own query time
        if self._fault(kind):
            return
        self.server.note_request(request)
        try:
            answer = self.server.engine.invoke(request)
        except (QueryError, ValueError, TypeError) as exc:
            answer = {"status": "ERROR", "msg": str(exc), "fields": [], "data": []}
        self._send_json(answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, engine: Engine, token, failures, verbose=False, latency: Latency | None = None):
        super().__init__(addr, _Handler)
        self.latency = latency or Latency()
        self.engine = engine
        self.token = token
        self.failures = failures
        self.verbose = verbose
        self.counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, injected drop) is expected here: no traceback for those."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def count(self, path: str) -> None:
        with self._lock:
            self.counts[path] += 1

    def note_fault(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] += 1

    def note_request(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)


class MastServer:
    """A running local MAST server: ``.url``, ``.stop()``, counters by path and kind, a context manager."""

    def __init__(self, httpd: _Server) -> None:
        self._httpd = httpd
        self._stopped = False
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-mast", daemon=True)
        self._thread.start()
        host, port = httpd.server_address[:2]
        self.port = int(port)
        self.url = f"http://{host}:{self.port}"

    @property
    def catalog(self) -> dict[str, Any]:
        """The catalogue served (a CatalogEngine's)."""
        engine = self._httpd.engine
        assert isinstance(engine, CatalogEngine), "this server answers from recorded answers, not a catalogue"
        return engine.catalog

    @property
    def failures(self) -> Failures | None:
        return self._httpd.failures

    @failures.setter
    def failures(self, value: Failures | None) -> None:
        self._httpd.failures = value

    @property
    def latency(self) -> Latency:
        return self._httpd.latency

    @latency.setter
    def latency(self, value: Latency) -> None:
        self._httpd.latency = value

    @property
    def counts(self) -> dict[str, int]:
        """Requests received, by path (every attempt)."""
        with self._httpd._lock:
            return dict(self._httpd.counts)

    @property
    def counts_by_kind(self) -> dict[str, int]:
        out = dict.fromkeys(REQUEST_KINDS, 0)  # the client counts by the same kinds (mast/transport.py)
        for path, n in self.counts.items():
            out[PATH_KINDS.get(path, "other")] += n
        return out

    @property
    def faults(self) -> dict[str, int]:
        with self._httpd._lock:
            return dict(self._httpd.faults)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The decoded invoke requests answered (after latency and faults), in order."""
        with self._httpd._lock:
            return list(self._httpd.requests)

    def reset_counts(self) -> None:
        with self._httpd._lock:
            self._httpd.counts.clear()
            self._httpd.faults.clear()
            self._httpd.requests.clear()

    def stop(self) -> None:
        """Stop serving and close the socket (a second call does nothing)."""
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "MastServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(
    port: int = 0,
    catalog: Mapping[str, Any] | str | Path | None = None,
    token: str | None = None,
    failures: Failures | Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    verbose: bool = False,
    latency_s: float | Latency | Mapping[str, float] = 0.0,
    engine: Engine | None = None,
) -> MastServer:
    """Start the server in a background thread on ``host:port`` (0 = any free port).

    ``catalog``: a catalogue dict, a JSON file path, or None for the default (the synthetic
    archive's programs plus more); ``engine`` replaces it (e.g. recorded answers). ``token``: the
    only token /whoami accepts (None: any non-empty token). ``failures``: a Failures or its fields
    as a dict. ``latency_s``: a delay before every invoke answer, or a Latency / ``{service or
    "service instrument": seconds}`` per service, to imitate the real MAST's response times.
    """
    if engine is None:
        if catalog is None:
            catalog = build_catalog()
        elif isinstance(catalog, (str, Path)):
            catalog = load_catalog(catalog)
        engine = CatalogEngine(catalog)
    if isinstance(failures, Mapping):
        failures = Failures(**failures)
    if isinstance(latency_s, Mapping):
        latency = Latency(services=dict(latency_s))
    elif isinstance(latency_s, Latency):
        latency = latency_s
    else:
        latency = Latency(default=float(latency_s))
    httpd = _Server((host, port), engine, token, failures, verbose, latency)
    return MastServer(httpd)
