"""`jwql-dagster fake-mast`: run the local MAST-protocol server until Ctrl-C (for the demo and manual tests)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jwql_dagster.demo.mast_server import Latency


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fake-mast",
        help="run a local MAST-protocol server (columnsconfig, /api/v0/invoke, /whoami) until Ctrl-C",
        description="Serve a MAST-like portal API on 127.0.0.1 so the MAST assets run without internet. "
        "Point MAST_API_URL at the printed URL.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port; default 0)")
    p.add_argument("--catalog", metavar="FILE", help="catalogue JSON ({'services': {name: {fields, rows}}}); "
                   "default: the synthetic archive's programs plus more")
    p.add_argument("--token", help="the only token /whoami accepts (default: any non-empty token)")
    p.add_argument("--write-catalog", metavar="FILE", help="write the catalogue in use to FILE and continue")
    p.add_argument("--latency", action="append", default=[], metavar="[SERVICE[:INSTRUMENT]=]SECONDS",
                   help="seconds before each invoke answer: for every service, or for one service (and instrument), "
                   "e.g. Mast.Caom.Filtered:nircam=45 (repeatable)")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.set_defaults(func=run)


def parse_latency(specs: list[str]) -> "Latency":
    """``45`` (every service) or ``Mast.Caom.Filtered:nircam=45`` (one service and instrument) -> Latency."""
    from jwql_dagster.demo.mast_server import Latency

    default, services = 0.0, {}
    for spec in specs:
        key, _, seconds = spec.rpartition("=")
        try:
            value = float(seconds)
        except ValueError:
            raise ValueError(f"--latency {spec!r}: expected [SERVICE[:INSTRUMENT]=]SECONDS") from None
        if key:
            services[key.replace(":", " ")] = value
        else:
            default = value
    return Latency(default=default, services=services)


def run(args: argparse.Namespace) -> int:
    from jwql_dagster.demo.mast_catalog import catalog_truth, load_catalog
    from jwql_dagster.demo.mast_server import start_server

    try:
        catalog = load_catalog(args.catalog) if args.catalog else None
        latency = parse_latency(args.latency)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server = start_server(port=args.port, catalog=catalog, token=args.token, verbose=args.verbose,
                              latency_s=latency)
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    if args.write_catalog:
        from jwql_dagster.atomic import atomic_write_text

        atomic_write_text(args.write_catalog, json.dumps(server.catalog, indent=1))
    truth = catalog_truth(server.catalog)
    jwst = sum(n for (i, s, d), n in truth.items() if s == "jwst")
    print(server.url, flush=True)
    print(f"fake MAST serving {jwst} JWST files; export MAST_API_URL={server.url} ; Ctrl-C to stop", file=sys.stderr, flush=True)
    stop = threading.Event()
    # explicit handlers: a background job (`fake-mast &`) starts with SIGINT ignored
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print(f"stopped; requests served: {server.counts_by_kind}", file=sys.stderr)
    return 0
