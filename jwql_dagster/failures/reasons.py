"""One wording per cause of a per-file failure, shared by every code path that records one.

The archive inventory (``archive_files``) and the preview renderer both look at the same
broken file; when they word the same cause differently, the failure view lists one file
twice and a search for one phrase finds only half. Every recorder takes its words from
here, so a cause reads the same wherever it was noticed. Pure: no Dagster, no I/O.
"""

from __future__ import annotations

EMPTY_FILE = "file is empty (0 bytes)"
NOT_FITS = "not a FITS file (no SIMPLE card at the start)"
SCIENCE_EXTENSION = "SCI"


def no_finite_pixel(integration: int | None = None, extension: str = SCIENCE_EXTENSION) -> str:
    """The reason for a frame whose science pixels are all NaN or infinite (nothing to show).

    ``integration`` is named only for files with several integrations, where the user needs
    to know which one was empty.
    """
    where = f"the {extension} frame" if integration is None else f"integration {integration} of the {extension} data"
    return f"no finite science pixel in {where}"


def runs_failed(attempts: int) -> str:
    """The reason for a file whose preview runs failed ``attempts`` times without recording anything about it
    (the run's worker killed, out of memory, a database outage): the file sensor stops asking, the daily
    rescan tries again."""
    return f"its preview runs failed {attempts} times (worker killed or out of memory?); the daily rescan tries again"


class NoFinitePixelError(ValueError):
    """A frame without one finite science pixel: recorded as the file's failure, never drawn as data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
