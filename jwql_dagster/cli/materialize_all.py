"""`jwql-dagster materialize-all`: materialize every asset and every partition that has data, in-process.

Generic over the asset graph: assets are batched by partitions definition in
dependency order, and each batch runs against the instance at DAGSTER_HOME, in this process:
assets that take partition ranges (a BackfillPolicy, as the previews and archive_files have) in
ranged runs as a UI backfill launches them (one per instrument over the range of programs with
files, at most CELLS_PER_RUN programs each), the others once per partition key. Each run carries the origin of the code location the UI
loads (location ``jwql``, cli/workspace.py) beside its Python origin, so it shows in the UI's
Overview timeline and re-executes from there like a run launched in the UI.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "materialize-all",
        help="materialize every asset and every partition that has data, in-process against DAGSTER_HOME",
        description="Run every asset of jwql_dagster.definitions in dependency order: program x instrument partitions "
        "that have files, all instrument partitions, registered programs with files, unpartitioned assets once. "
        "A failing partition does not stop the others; the exit code is 1 if any failed.",
    )
    p.add_argument("--select", action="append", default=[], metavar="GROUP_OR_ASSET",
                   help="only these asset groups or asset keys (repeat or separate with commas)")
    p.add_argument("--with-fake-mast", action="store_true",
                   help="start the local fake MAST server for the duration and point MAST_API_URL at it")
    p.add_argument("--dry-run", action="store_true", help="print the planned runs, execute nothing")
    p.set_defaults(func=run)


@dataclass
class Batch:
    """Assets sharing one partitions definition that can run together, and the keys to run them for."""

    assets: list[Any]  # AssetKey
    partitions_def: Any
    partition_keys: list[Any] = field(default_factory=list)  # None for unpartitioned

    launches: list["Launch"] = field(default_factory=list)

    @property
    def label(self) -> str:
        return ", ".join(k.to_user_string() for k in self.assets)


@dataclass
class Launch:
    """One run of a batch: a single partition key (None when unpartitioned) or a range ``start``..``end``.

    A range holds every partition between its ends in Dagster's order, so it can include cells
    without files (registered programs that lack that instrument): those materialize as empty
    inventories and previews, as in a UI backfill.
    """

    key: Any = None
    start: Any = None
    end: Any = None
    with_data: int = 1  # partitions of the run that have files

    def tags(self) -> dict[str, str]:
        if self.start is not None:
            return {"dagster/asset_partition_range_start": str(self.start), "dagster/asset_partition_range_end": str(self.end)}
        return {} if self.key is None else {"dagster/partition": str(self.key)}

    @property
    def where(self) -> str:
        if self.start is not None:
            span = str(self.start) if self.start == self.end else f"{self.start}..{self.end}"
            return f"[{span}] ({self.with_data} with files)"
        return "" if self.key is None else f"[{self.key}]"


def made_during(instance: Any, batch: Batch, launch: Launch, since: float) -> bool:
    """Whether every asset of ``launch`` already has a materialization of each of its partitions from
    after ``since``: products an earlier run of this command made as it went (a preview run makes its
    programs' proposal thumbnails and galleries), so running them again would only repeat them."""
    import dagster as dg

    pdef = batch.partitions_def
    if launch.start is not None and isinstance(pdef, dg.MultiPartitionsDefinition):  # a rectangle of each dimension
        wanted = {str(k) for k in pdef.get_partition_keys_in_range(
            dg.PartitionKeyRange(str(launch.start), str(launch.end)), dynamic_partitions_store=instance)}
    elif launch.start is not None:
        order = [str(k) for k in pdef.get_partition_keys(dynamic_partitions_store=instance)]
        wanted = set(order[order.index(str(launch.start)):order.index(str(launch.end)) + 1])
    elif launch.key is not None:
        wanted = {str(launch.key)}
    else:
        return False
    for asset_key in batch.assets:
        made: set[str] = set()
        cursor = None
        while True:
            found = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, after_timestamp=since), limit=1000, cursor=cursor)
            made |= {r.partition_key for r in found.records if r.partition_key}
            if not found.has_more:
                break
            cursor = found.cursor
        if not wanted <= made:
            return False
    return True


@contextlib.contextmanager
def fake_mast() -> Iterator[str]:
    from jwql_dagster.demo.mast_server import start_server

    server = start_server()
    saved = {k: os.environ.get(k) for k in ("MAST_API_URL", "MAST_API_TOKEN")}
    os.environ["MAST_API_URL"] = server.url
    os.environ.pop("MAST_API_TOKEN", None)  # never send a real token to the local server
    try:
        yield server.url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


# Groups that summarise Dagster's run history (monitor_status): run last, in runs of their own, so
# every other group's runs have finished and are in the history they read.
HISTORY_GROUPS = ("monitoring",)


def plan_batches(asset_graph: Any, selected: set[Any]) -> list[Batch]:
    """Dependency-ordered batches; each batch holds assets of one partitions definition whose parents ran earlier.

    The order is the asset graph's own topological order (Dagster's toposort, alphabetical within
    a level), so one pass over it finds every asset a batch can take. Assets of HISTORY_GROUPS
    come after all others, never in a batch with them.
    """
    order = [k for k in asset_graph.toposorted_asset_keys if k in selected]
    last = {k for k in order if asset_graph.get(k).group_name in HISTORY_GROUPS}
    parents = {k: set(asset_graph.get(k).parent_keys) & selected for k in order}
    done: set[Any] = set()
    batches: list[Batch] = []
    while len(done) < len(order):
        ready = [k for k in order if k not in done and parents[k] <= done]
        # Partitioned work first: unpartitioned summaries (status tables, inventories of everything)
        # then see the partitions' runs and rows.
        ready.sort(key=lambda k: (k in last, asset_graph.get(k).partitions_def is None))
        pdef, is_last = asset_graph.get(ready[0]).partitions_def, ready[0] in last
        batch: list[Any] = []
        for k in order:  # topological: a key's parents come before it
            if k in done or asset_graph.get(k).partitions_def != pdef or (k in last) != is_last:
                continue
            if parents[k] <= done.union(batch):
                batch.append(k)
        batches.append(Batch(assets=batch, partitions_def=pdef))
        done.update(batch)
    return batches


def partition_keys(pdef: Any, instance: Any, archive: Any) -> list[Any]:
    """The keys of ``pdef`` that have data (see the command description); None for unpartitioned."""
    import dagster as dg

    from jwql_dagster.archive.layout import INSTRUMENTS
    from jwql_dagster.partitions import program_instrument_key, program_partitions

    if pdef is None:
        return [None]
    programs = sorted(instance.get_dynamic_partitions(program_partitions.name))
    if isinstance(pdef, dg.MultiPartitionsDefinition) and {d.name for d in pdef.partitions_defs} == {"program", "instrument"}:
        return [program_instrument_key(program, i) for program, i in archive.cells(programs)]
    if isinstance(pdef, dg.DynamicPartitionsDefinition) and pdef.name == program_partitions.name:
        return sorted({program for program, _ in archive.cells(programs)})
    if isinstance(pdef, dg.StaticPartitionsDefinition) and tuple(sorted(pdef.get_partition_keys())) == INSTRUMENTS:
        return list(INSTRUMENTS)
    return list(pdef.get_partition_keys(dynamic_partitions_store=instance))


def program_segments(order: list[str]) -> list[list[str]]:
    """``order`` cut at every key that is not jw + five digits (archive_files refuses a run holding one)."""
    from jwql_dagster.archive.layout import is_program_key

    segments: list[list[str]] = [[]]
    for key in order:
        if is_program_key(key):
            segments[-1].append(key)
        elif segments[-1]:
            segments.append([])
    return [s for s in segments if s]


def ranges(order: list[str], wanted: set[str], per_run: int | None) -> list[tuple[str, str, int]]:
    """(first, last, count) spans of ``order`` (Dagster's order of the program keys) covering ``wanted``.

    A span never crosses a key that is not jw + five digits (program_segments) and never holds more
    than ``per_run`` keys; it starts and ends on wanted keys.
    """
    spans: list[tuple[str, str, int]] = []
    for segment in program_segments(order):
        step = per_run or len(segment)
        for start in range(0, len(segment), step):
            hits = [k for k in segment[start:start + step] if k in wanted]
            if hits:
                spans.append((hits[0], hits[-1], len(hits)))
    return spans


def plan_launches(batch: Batch, asset_graph: Any, instance: Any) -> list[Launch]:
    """The runs of a batch whose partition keys are known: ranged runs when every asset of it takes ranges."""
    import dagster as dg

    from jwql_dagster.partitions import program_instrument_key, program_partitions, split_program_instrument

    keys = batch.partition_keys
    policies = [asset_graph.get(k).backfill_policy for k in batch.assets]
    if keys == [None] or not keys or any(p is None for p in policies):
        return [Launch(key=k) for k in keys]
    limits = [p.max_partitions_per_run for p in policies if p.max_partitions_per_run is not None]
    per_run = min(limits) if limits else None
    pdef = batch.partitions_def
    order = list(program_partitions.get_partition_keys(dynamic_partitions_store=instance))
    if isinstance(pdef, dg.MultiPartitionsDefinition) and {d.name for d in pdef.partitions_defs} == {"program", "instrument"}:
        # As the file-arrival sensor groups cells (archive/requests.py): per span of programs, one run over a
        # dense rectangle of instruments x programs, else one per instrument; never across a hand-typed key.
        from jwql_dagster.archive.requests import plan_requests

        cells = [split_program_instrument(k) for k in keys]
        launches = []
        for segment in program_segments(order):
            members = set(segment)
            part = {cell: [] for cell in cells if cell[0] in members}
            for r in plan_requests(part, {}, segment, per_run or len(segment)) if part else []:
                launches.append(Launch(start=program_instrument_key(r.first, r.instruments[0]),
                                       end=program_instrument_key(r.last, r.instruments[1]), with_data=len(r.cells)))
        return launches
    if isinstance(pdef, dg.DynamicPartitionsDefinition) and pdef.name == program_partitions.name:
        return [Launch(start=a, end=b, with_data=n) for a, b, n in ranges(order, set(keys), per_run)]
    return [Launch(key=k) for k in keys]


def _select(asset_graph: Any, wanted: list[str]) -> set[Any]:
    keys = set(asset_graph.materializable_asset_keys)
    if not wanted:
        return keys
    names = {w.strip() for item in wanted for w in item.split(",") if w.strip()}
    chosen = {k for k in keys if k.to_user_string() in names or asset_graph.get(k).group_name in names}
    unknown = names - {k.to_user_string() for k in chosen} - {asset_graph.get(k).group_name for k in chosen}
    if unknown:
        groups = sorted({asset_graph.get(k).group_name for k in keys})
        raise SystemExit(f"materialize-all: unknown group or asset {', '.join(sorted(unknown))} (groups: {', '.join(groups)})")
    return chosen


def _failure_message(result: Any) -> str:
    for event in result.all_events:
        if event.is_step_failure or event.is_run_failure:
            # StepFailureData and JobFailureData both carry the error (the latter not always).
            error = event.event_specific_data.error if event.event_specific_data is not None else None
            if error is not None:
                cause = error
                while cause.cause is not None:
                    cause = cause.cause
                return (cause.message or error.message).strip().splitlines()[-1][:300]
            return (event.message or "failed")[:300]
    return "failed"


def run(args: argparse.Namespace) -> int:
    from jwql_dagster.config import ensure_dagster_home, load_settings

    from jwql_dagster.instance_config import ensure_instance_config

    settings = load_settings()
    ensure_dagster_home(settings)
    # A fresh instance gets its default dagster.yaml (no "no dagster.yaml" warning, no telemetry banner).
    ensure_instance_config(os.environ["DAGSTER_HOME"])
    with contextlib.ExitStack() as stack:
        if args.with_fake_mast:
            url = stack.enter_context(fake_mast())
            print(f"fake MAST server at {url}")
        return _materialize(args)


def _materialize(args: argparse.Namespace) -> int:
    import dagster as dg

    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import execute_run

    from jwql_dagster.cli.workspace import MODULE, remote_job_origin, workspace_file

    # First imported here, after the fake MAST server set MAST_API_URL; the runs below load this same object.
    from jwql_dagster.definitions import defs

    asset_graph = defs.resolve_asset_graph()
    # Runs are reconstructed from the code location, as the daemon runs them, so assets that read
    # context.repository_def (monitor_status) see every group; they execute in this process.
    recon_repo = ReconstructableRepository.for_module(MODULE, "defs")
    job_name = defs.resolve_implicit_global_asset_job_def().name
    repo_def = recon_repo.get_definition()
    job = recon_repo.get_reconstructable_job(job_name).with_repository_load_data(repo_def.repository_load_data)
    # The origin the UI knows the job by: without it a run is missing from the Overview timeline
    # and the UI re-executes it only with a warning. Read from the workspace file; no code server.
    origin = remote_job_origin(workspace_file(Path(os.environ["DAGSTER_HOME"])), repo_def.name, job_name)
    archive = defs.resources["archive"]
    started, since = time.monotonic(), time.time()
    run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "execution": {"config": {"in_process": {}}}}
    with dg.DagsterInstance.get() as instance:
        batches = plan_batches(asset_graph, _select(asset_graph, args.select))
        for batch in batches:
            batch.partition_keys = partition_keys(batch.partitions_def, instance, archive)
            batch.launches = plan_launches(batch, asset_graph, instance)
        total = sum(len(b.launches) for b in batches)
        print(f"materialize-all: {total} run(s) in {len(batches)} batch(es) on instance {os.environ['DAGSTER_HOME']}")
        ok = failed = skipped = 0
        failures: list[str] = []
        n = 0
        # One launch: the monitor status counts this call's runs of a group as one run of it, not its cadence.
        launch = uuid.uuid4().hex
        for batch in batches:
            for launch_of in batch.launches:
                n += 1
                where = launch_of.where
                line = f"[{n}/{total}] {batch.label}{where}"
                if args.dry_run:
                    print(line)
                    continue
                if made_during(instance, batch, launch_of, since):
                    skipped += 1
                    print(f"{line} already made by this command's earlier runs", flush=True)
                    continue
                t0 = time.monotonic()
                try:
                    tags = {"jwql/launched_by": "materialize-all", "jwql/launch": launch, **launch_of.tags()}
                    # dg.execute_job, plus the remote origin it cannot be given.
                    dagster_run = instance.create_run_for_job(
                        job_def=job.get_definition(), run_config=run_config, tags=tags,
                        asset_selection=frozenset(batch.assets), job_code_origin=job.get_python_origin(),
                        remote_job_origin=origin, repository_load_data=repo_def.repository_load_data,
                    )
                    with execute_run(job, dagster_run, instance, raise_on_error=False) as result:
                        success, why = result.success, ("" if result.success else _failure_message(result))
                except Exception as exc:  # a broken batch is reported, the others still run
                    success, why = False, f"{type(exc).__name__}: {exc}"
                took = time.monotonic() - t0
                if success:
                    ok += 1
                    print(f"{line} ok ({took:.1f}s)", flush=True)
                else:
                    failed += 1
                    failures.append(f"{batch.label}{where}: {why}")
                    print(f"{line} FAILED ({took:.1f}s): {why}", flush=True)
    seconds = time.monotonic() - started
    if args.dry_run:
        print(f"dry run: {total} run(s) planned")
        return 0
    print(f"summary: {ok} succeeded, {failed} failed, {seconds:.1f} s"
          + (f"; {skipped} run(s) not needed, their assets made by earlier runs" if skipped else ""))
    for item in failures:
        print(f"  failed: {item}")
    # A run can succeed while files in it failed: say how many, and which partitions warn or fail.
    from jwql_dagster.previews.checks import coverage_report

    with dg.DagsterInstance.get() as instance:
        for line in coverage_report(instance):
            print(line)
    return 1 if failed else 0
