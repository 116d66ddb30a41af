"""Benchmark the five-instrument MAST inventory: ours vs jwql's request pattern, same client, same server.

Against the local MAST server with a per-request latency (``--latency``, imitating the real
MAST's answer time), times in one run:

* jwql's pattern: per instrument and per dataproduct (image, spectrum, cube) one JWST count
  (the same unfiltered count three times) and one CAOM count, then the JWST and CAOM keyword
  lists; instruments one after the other: 40 invoke requests, sequential.
* ours (``MastClient.inventory``): one JWST count + three CAOM counts + two keyword lists per
  instrument, instruments in parallel: 30 invoke requests.

Both go through the real astroquery client. Budget (ARCHITECTURE.md): at most 30 invoke
requests; prints both request counts, the median times and the speed-up; exits 1 if the
request budget is missed or the inventories differ. ``--slow SERVICE[:INSTRUMENT]=SECONDS``
makes one service slower (as live CAOM often is): our requests wait side by side, so a slow
service costs about its latency once, not once per request.

    .venv/bin/python benchmarks/bench_mast.py --latency 0.05 --repeat 3
    .venv/bin/python benchmarks/bench_mast.py --latency 0.05 --slow Mast.Caom.Filtered:nircam=1 --repeat 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from jwql_dagster.cli.fake_mast import parse_latency
from jwql_dagster.demo.mast_server import start_server
from jwql_dagster.mast.client import MastClient
from jwql_dagster.mast.queries import DATAPRODUCTS, INSTRUMENTS
from jwql_dagster.mast.transport import RetryPolicy


def jwql_pattern(client: MastClient) -> dict:
    """jwql's jwst_inventory(caom=False) then (caom=True): 4 requests per instrument per call."""
    out = {}
    for inst in INSTRUMENTS:
        for dp in DATAPRODUCTS:
            out[(inst, "jwst", "all")] = client.count(inst)  # jwql repeated it per dataproduct
        client.keywords(inst)
    for inst in INSTRUMENTS:
        for dp in DATAPRODUCTS:
            out[(inst, "caom", dp)] = client.count(inst, caom=True, dataproduct=dp)
        client.keywords(inst, caom=True)
    return out


def ours(client: MastClient) -> dict:
    return {(i, s, dp): n for i, inv in client.inventory().items() for (s, dp), n in inv.counts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the server waits before each invoke answer")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slow", action="append", default=[], metavar="SERVICE[:INSTRUMENT]=SECONDS",
                    help="a slower service (repeatable), as `jwql-dagster fake-mast --latency`")
    args = ap.parse_args()
    rules = parse_latency([str(args.latency), *args.slow])
    policy = RetryPolicy()  # the defaults of a run: slow answers are awaited within 600 s
    times: dict[str, list[float]] = {"jwql": [], "ours": []}
    invokes: dict[str, int] = {}
    results = {}
    with start_server(latency_s=rules) as server:
        for _ in range(args.repeat):
            for name, fn in (("jwql", jwql_pattern), ("ours", ours)):
                client = MastClient(server.url, policy=policy)
                server.reset_counts()
                t = time.perf_counter()
                results[name] = fn(client)
                times[name].append(time.perf_counter() - t)
                invokes[name] = server.counts_by_kind["invoke"]
    jw, us = statistics.median(times["jwql"]), statistics.median(times["ours"])
    slow = f"; slower: {', '.join(args.slow)}" if args.slow else ""
    print(f"server latency per invoke: {args.latency:.3f} s{slow}; repeats: {args.repeat}")
    print(f"jwql pattern: {invokes['jwql']} invoke requests, median {jw:.3f} s")
    print(f"ours:         {invokes['ours']} invoke requests, median {us:.3f} s")
    print(f"requests ratio ours/jwql: {invokes['ours'] / invokes['jwql']:.2f}; speed-up jwql/ours: {jw / us:.2f}x")
    ok = invokes["ours"] <= 30 and results["ours"] == results["jwql"]
    print("budget met" if ok else "BUDGET MISSED (or inventories differ)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
