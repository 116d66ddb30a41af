"""RetryPolicy: the MAST client's time limits and retries, apart from the HTTP machinery.

MastService's configuration defaults come from here, so the resource (imported by every process that
loads the code location) does not load ``requests`` and ``urllib3`` until a client is built.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Time limits and retries of the MAST client.

    ``timeout_s`` bounds one HTTP attempt (read timeout; connect is capped at 10 s); ``query_timeout_s``
    bounds a whole query (pages, EXECUTING polls, retries). Retries back off exponentially with
    jitter, at most ``max_retries`` per HTTP request and none starting ``total_s`` after its first attempt.
    """

    max_retries: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    total_s: float = 120.0
    timeout_s: float = 600.0
    query_timeout_s: float = 600.0
    poll_s: float = 2.0  # pause before asking again about an EXECUTING answer
    progress_s: float = 30.0  # a waiting query says so in the run log this often

    def delay(self, retry: int) -> float:
        """Sleep before retry number ``retry`` (1-based): backoff * 2**(retry-1), capped, +-20% jitter."""
        base = min(self.backoff_max_s, self.backoff_s * 2 ** (retry - 1))
        return base * (0.8 + 0.4 * random.random())

    @staticmethod
    def retryable_status(code: int) -> bool:
        return code in RETRY_STATUSES
