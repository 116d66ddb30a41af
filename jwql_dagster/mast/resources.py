"""MastService: the astroquery MAST client pointed at MAST_API_URL, with time limits, retries and request counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import dagster as dg
from pydantic import PrivateAttr

from jwql_dagster.mast.errors import MastError
from jwql_dagster.mast.parse import scrub
from jwql_dagster.mast.policy import RetryPolicy

if TYPE_CHECKING:
    from jwql_dagster.mast.client import MastClient

_DEFAULTS = RetryPolicy()


class MastService(dg.ConfigurableResource):
    """MAST portal API client (token from MAST_API_TOKEN, never logged).

    Live MAST answers JWST queries in minutes: ``query_timeout_s`` (JWQL_MAST_TIMEOUT_S) bounds a
    whole query, ``timeout_s`` (JWQL_MAST_ATTEMPT_TIMEOUT_S) one HTTP attempt; a slow answer within
    them is awaited, not retried.
    """

    # The limits default to RetryPolicy's, the one place they are set; the field names are the
    # resource's configuration as users and the UI know it.
    url: str = "https://mast.stsci.edu"
    token: Optional[str] = None
    timeout_s: float = _DEFAULTS.timeout_s
    query_timeout_s: float = _DEFAULTS.query_timeout_s
    max_retries: int = _DEFAULTS.max_retries
    backoff_s: float = _DEFAULTS.backoff_s
    backoff_max_s: float = _DEFAULTS.backoff_max_s
    total_retry_seconds: float = _DEFAULTS.total_s
    poll_seconds: float = _DEFAULTS.poll_s
    progress_seconds: float = _DEFAULTS.progress_s
    pagesize: int = 50000
    workers: int = 5

    _client: MastClient | None = PrivateAttr(default=None)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            backoff_max_s=self.backoff_max_s,
            total_s=self.total_retry_seconds,
            timeout_s=self.timeout_s,
            query_timeout_s=self.query_timeout_s,
            poll_s=self.poll_seconds,
            progress_s=self.progress_seconds,
        )

    @property
    def client(self) -> MastClient:
        """The client of this resource instance (a fresh astroquery MastClass, logged in on first query)."""
        if self._client is None:
            from jwql_dagster.mast.client import MastClient  # requests and urllib3 load with the first client

            self._client = MastClient(self.url, self.token, self.policy(), pagesize=self.pagesize, workers=self.workers)
        return self._client

    def client_logging_to(self, log: Callable[[str], None]) -> MastClient:
        """The client, telling ``log`` (the run's log) about queries that keep MAST waiting."""
        client = self.client
        client.log = log
        return client

    def requests_made(self) -> dict[str, int]:
        """HTTP requests made so far by kind (invoke, columnsconfig, login, other), retries and EXECUTING polls."""
        return self.client.requests_made() if self._client is not None else {}

    def safe(self, text: str) -> str:
        """``text`` with the token masked (for any message that could echo configuration)."""
        return scrub(text, [self.token])

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client._mast._session.close()
            self._client = None


def check_mast(settings: Any) -> tuple[bool, str]:
    """Doctor check: can MAST_API_URL be reached (and is the token accepted)? Never prints the token."""
    token = settings.mast_api_token
    url = str(settings.mast_api_url).rstrip("/")
    from jwql_dagster.mast.client import MastClient

    client = MastClient(url, token, RetryPolicy(max_retries=1, backoff_s=0.2, total_s=5.0, timeout_s=5.0, query_timeout_s=10.0))
    try:
        state = client.ping()
    except MastError as exc:
        return False, scrub(str(exc), [token])
    except Exception as exc:  # noqa: BLE001 - a check reports, never crashes
        return False, scrub(f"MAST at {url} not usable: {type(exc).__name__}", [token])
    finally:
        client._mast._session.close()
    return True, f"MAST at {url} reachable ({state})"
