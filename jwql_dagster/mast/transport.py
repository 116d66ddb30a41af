"""HTTP under astroquery: urllib3's Retry for retries, limits per attempt and per query, EXECUTING polls, counts.

Pure code (no Dagster). Every request astroquery makes goes through ``MastAdapter`` (mounted on its
``requests`` session), so the retry policy, the time limits and the request budget hold without
touching astroquery's code. Live MAST answers JWST queries in minutes; a slow answer is waited for
up to the query's limit, not retried. Retried: connection failures, dropped connections, answers
cut off mid-body and 429/5xx answers; never 4xx or malformed answers.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from jwql_dagster.mast.policy import RETRY_STATUSES, RetryPolicy  # RetryPolicy re-exported: callers import it from here

REQUEST_KINDS: tuple[str, ...] = ("invoke", "columnsconfig", "login", "other")
# The connection died while the body was arriving (requests reads it after the adapter returns).
BODY_ERRORS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)


class QueryTimeout(TimeoutError):
    """The whole query (every page, poll and retry) outlasted its limit."""


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
    """HTTP attempts by kind (every attempt, retries and polls included), retries and polls; thread-safe."""

    counts: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    polls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, retry: bool = False, poll: bool = False) -> None:
        with self._lock:
            self.counts[kind] += 1
            self.retries += int(retry)
            self.polls += int(poll)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            out = {k: int(self.counts.get(k, 0)) for k in REQUEST_KINDS}
            out["retries"] = self.retries
            out["polls"] = self.polls
            return out


class _Local(threading.local):
    """Per thread: the running query's deadline and the HTTP request being sent (attempts, start)."""

    deadline: float | None = None
    attempts: int = 0
    started: float = 0.0
    kind: str = "other"


_local = _Local()


@contextlib.contextmanager
def query_deadline(seconds: float) -> Iterator[float]:
    """Every HTTP request of this thread inside the block shares one deadline ``seconds`` from now."""
    previous = _local.deadline
    _local.deadline = time.monotonic() + seconds
    try:
        yield _local.deadline
    finally:
        _local.deadline = previous


def _remaining() -> float:
    return float("inf") if _local.deadline is None else _local.deadline - time.monotonic()


def _next_retry(policy: RetryPolicy, counter: RequestCounter) -> float | None:
    """The pause before one more attempt of this thread's HTTP request (counted), or None when its budget
    is spent: ``max_retries`` used, no retry after ``total_s``, or the query's deadline too close."""
    delay = policy.delay(_local.attempts)
    if (_local.attempts > policy.max_retries or time.monotonic() - _local.started + delay > policy.total_s
            or delay >= _remaining()):
        return None
    _local.attempts += 1
    counter.add(_local.kind, retry=True)
    return delay


class BudgetRetry(Retry):
    """urllib3's Retry with our request budget: one attempt count and time budget per HTTP request
    (across the re-sends of a cut-off body), our jittered backoff, and every attempt counted by kind."""

    policy: RetryPolicy
    counter: RequestCounter
    _delay: float = 0.0

    @classmethod
    def build(cls, policy: RetryPolicy, counter: RequestCounter) -> "BudgetRetry":
        retry = cls(
            total=policy.max_retries, redirect=None, status_forcelist=RETRY_STATUSES, allowed_methods=None,
            raise_on_status=False, raise_on_redirect=False, respect_retry_after_header=False,
        )
        retry.policy, retry.counter = policy, counter
        return retry

    def new(self, **kw: Any) -> "BudgetRetry":
        retry = super().new(**kw)
        retry.policy, retry.counter = self.policy, self.counter
        return retry

    def get_backoff_time(self) -> float:
        return self._delay

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # type: ignore[override]
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # urllib3: is it retryable at all?
        delay = _next_retry(self.policy, self.counter)
        if delay is None:
            reason = error or ResponseError(ResponseError.SPECIFIC_ERROR.format(status_code=getattr(response, "status", 0)))
            raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
        retry._delay = delay
        return retry


class MastAdapter(HTTPAdapter):
    """The requests adapter under astroquery: urllib3 Retry, per-attempt and per-query limits, EXECUTING polls.

    Retrying per HTTP request (not per astroquery call) keeps paged queries from restarting at page 1.
    After the last attempt a 5xx response is returned as is (astroquery raises on it) and an exception
    is re-raised; both carry the attempt count for the client's message.
    """

    def __init__(self, policy: RetryPolicy, counter: RequestCounter, pool_size: int = 10) -> None:
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=BudgetRetry.build(policy, counter))
        self.policy = policy
        self.counter = counter

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        _local.kind = request_kind(request.url or "")
        _local.started = time.monotonic()
        _local.attempts = 0
        while True:
            response = self._attempt(request, kwargs)
            if response is None:  # the body was cut off and a retry is allowed: send again
                continue
            if not self._executing(response):
                return response
            wait = min(self.policy.poll_s, max(0.0, _remaining()))
            time.sleep(wait)
            if _remaining() <= 0:
                raise QueryTimeout("MAST still EXECUTING the query when its time limit passed")
            self.counter.add(_local.kind, poll=True)
            _local.started, _local.attempts = time.monotonic(), 0  # a poll is a new request with its own budget

    def _attempt(self, request: requests.PreparedRequest, kwargs: dict[str, Any]) -> requests.Response | None:
        """One send through urllib3's retries, with the body read here so a cut-off answer counts as a failed attempt."""
        remaining = _remaining()
        if remaining <= 0:
            raise QueryTimeout("the query's time limit passed before MAST answered")
        read = min(self.policy.timeout_s, remaining)
        kwargs["timeout"] = (min(read, 10.0), read)
        if _local.attempts == 0:
            _local.attempts = 1
            self.counter.add(_local.kind)
        try:
            response = super().send(request, **kwargs)
            if not kwargs.get("stream"):
                response.content  # read the body here, so an answer cut off mid-way is retried too
        except (requests.ConnectionError, requests.Timeout, *BODY_ERRORS) as exc:
            if _remaining() <= 0:
                raise QueryTimeout("the query's time limit passed while waiting for MAST") from exc
            if isinstance(exc, BODY_ERRORS) and self._may_resend():
                return None
            setattr(exc, "jwql_attempts", _local.attempts)
            raise
        if self.policy.retryable_status(response.status_code):
            response.headers["X-Jwql-Attempts"] = str(_local.attempts)
        return response

    def _may_resend(self) -> bool:
        """urllib3 hands the body over unread, so its Retry never sees a cut-off answer: apply the same budget here."""
        delay = _next_retry(self.policy, self.counter)
        if delay is None:
            return False
        time.sleep(delay)
        return True

    @staticmethod
    def _executing(response: requests.Response) -> bool:
        """Is this a portal answer saying the query still runs (MAST answers EXECUTING, then the result)?"""
        if response.status_code != 200 or b"EXECUTING" not in response.content[:4096] + response.content[-4096:]:
            return False
        try:
            return json.loads(response.content).get("status") == "EXECUTING"
        except (ValueError, AttributeError):
            return False


class Progress:
    """Reports in ``log`` every ``every_s`` seconds that a query is still waiting, until the block ends."""

    def __init__(self, log: Callable[[str], None] | None, what: str, every_s: float, limit_s: float) -> None:
        self.log, self.what, self.every_s, self.limit_s = log, what, every_s, limit_s
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Progress":
        if self.log is not None and self.every_s > 0:
            self._thread = threading.Thread(target=self._run, name="mast-progress", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(self.every_s):
            waited = time.monotonic() - start
            assert self.log is not None
            self.log(f"MAST: still waiting for {self.what} after {waited:.0f} s (limit {self.limit_s:g} s)")

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
