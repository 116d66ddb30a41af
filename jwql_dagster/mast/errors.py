"""The MAST failures a run can report; every message is safe to show (the token is masked before it gets here)."""

from __future__ import annotations


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
