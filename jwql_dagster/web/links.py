"""URLs of the quicklook pages, for asset metadata and for the pages themselves.

Pure and tiny on purpose: asset modules import it to put a one-click link to a program's
gallery or a file's page in their metadata without importing the web server.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

DEFAULT_WEB_URL = "http://127.0.0.1:3001"


def _base(base_url: str | None) -> str:
    return (base_url or DEFAULT_WEB_URL).rstrip("/")


def stem_of(name: str) -> str:
    """A file page's key: the FITS name without ``.fits`` (a preview or thumbnail name also works)."""
    name = name.rsplit("/", 1)[-1]
    for ending in (".fits", ".jpg", ".thumb"):
        name = name.removesuffix(ending)
    head, sep, tail = name.rpartition("_integ")
    return head if sep and tail.isdigit() else name


def programs_url(base_url: str | None = None) -> str:
    return f"{_base(base_url)}/"


def program_url(base_url: str | None, program: str) -> str:
    """The gallery page of a program (``jw01068``)."""
    return f"{_base(base_url)}/programs/{quote(program, safe='')}"


def file_url(base_url: str | None, name: str, integration: int | None = None) -> str:
    """The page of one file (or mosaic), given its FITS name, stem, or preview name."""
    url = f"{_base(base_url)}/files/{quote(stem_of(name), safe='')}"
    return f"{url}?{urlencode({'integ': integration})}" if integration is not None else url


def failures_url(base_url: str | None = None, query: str | None = None) -> str:
    """The failure view, optionally searching for ``query``."""
    url = f"{_base(base_url)}/failures"
    return f"{url}?{urlencode({'q': query})}" if query else url


def dashboards_url(base_url: str | None = None) -> str:
    return f"{_base(base_url)}/dashboards"
