"""`jwql-dagster serve`: the quicklook pages over HTTP until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
from urllib.parse import urlsplit


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the quicklook pages (programs, galleries, files, failures, dashboards) until Ctrl-C",
        description="Serve the quicklook web pages over the jwql tables and output folders. Host and port "
        "default to those of JWQL_WEB_URL (http://127.0.0.1:3001), the address asset metadata links to.",
    )
    p.add_argument("--host", help="address to listen on (default: the host of JWQL_WEB_URL)")
    p.add_argument("--port", type=int, help="port to listen on (default: the port of JWQL_WEB_URL)")
    p.set_defaults(func=run)


def listen_address(web_url: str, host: str | None, port: int | None) -> tuple[str, int]:
    """(host, port): the options, else the parts of JWQL_WEB_URL, else 127.0.0.1 and 3001."""
    parts = urlsplit(web_url)
    default_port = parts.port or (443 if parts.scheme == "https" else 80 if parts.hostname else 3001)
    return host or parts.hostname or "127.0.0.1", port if port is not None else default_port


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from jwql_dagster.config import load_settings
    from jwql_dagster.web.app import create_app

    settings = load_settings()
    host, port = listen_address(settings.web_url, args.host, args.port)
    print(f"quicklook pages on http://{host}:{port}/ (database {settings.masked()['database_url']}); "
          "Ctrl-C to stop", file=sys.stderr, flush=True)
    # uvicorn catches SIGINT and SIGTERM itself, shuts down gracefully, then raises the signal again
    # for the handler it found: these quiet ones make a requested stop end with status 0 (also when
    # started in the background, where SIGINT would otherwise be ignored).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info" if args.verbose else "warning")
    print("quicklook pages stopped", file=sys.stderr)
    return 0
