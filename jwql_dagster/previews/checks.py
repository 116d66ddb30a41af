"""Asset check 'preview_coverage': every FITS file of a partition has a preview or a recorded failure.

Judged per program x instrument partition (a partitioned check, so the UI shows each
partition's verdict): a partition whose files all have previews passes, one with failed
files (each with its failure row) is a warning, and one over JWQL_MAX_FAILURE_RATE or with
files that have neither a preview nor a failure row fails (severity ERROR).

Dagster shows as the check's (and so the asset's) status the evaluation stored last,
whatever its partition. A run of one clean partition after a run of a broken one would
otherwise show "passed" while the broken partition still fails. So a run also re-judges
every partition whose latest verdict is a warning or a failure, and makes sure the
evaluation stored last carries the worst current verdict: the worst re-judged partition
last, or else a closing evaluation (no partition) naming the worst partition.
"""


import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import dagster as dg

from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.failures import recorded_failures
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.options import JwqlOptions
from jwql_dagster.partitions import (
    CELL_LINES_MAX,
    program_instrument_key,
    program_instrument_partitions,
    split_program_instrument,
)
from jwql_dagster.previews.jobs import PREVIEW_IMAGES
from jwql_dagster.previews.plan import PRODUCT, coverage_problems, partition_sources

MAX_LISTED = 10  # file names shown in a failed check
CHECK_NAME = "preview_coverage"
CHECK_KEY = dg.AssetCheckKey(PREVIEW_IMAGES, CHECK_NAME)
PASS, WARN, FAIL = 0, 1, 2
VERDICTS = ("passed", "warning", "failed")


@dataclass(frozen=True)
class Coverage:
    """What one partition's check saw."""

    program: str
    instrument: str
    files: int
    missing: tuple[str, ...]
    failed: tuple[str, ...]
    rate: float

    @property
    def partition(self) -> str:
        """The partition key as Dagster writes it (``instrument|program``)."""
        return str(program_instrument_key(self.program, self.instrument))

    def level(self, max_rate: float) -> int:
        """FAIL when a file has neither preview nor failure row or the failure share is over the limit,
        WARN when some files failed (each recorded), else PASS."""
        if self.missing or self.rate > max_rate:
            return FAIL
        return WARN if self.failed else PASS

    def description(self, max_rate: float) -> str:
        reasons = []
        if self.missing:
            reasons.append(f"{len(self.missing)} file(s) without preview or failure record: "
                           + ", ".join(self.missing[:MAX_LISTED]))
        if self.failed:
            over = "above" if self.rate > max_rate else "within"
            reasons.append(f"{len(self.failed)} of {self.files} file(s) failed ({self.rate:.1%}, {over} "
                           f"{max_rate:.1%}): " + ", ".join(self.failed[:MAX_LISTED]))
        return f"{self.partition}: " + ("; ".join(reasons) or f"all {self.files} files covered")


def judge(archive: ArchiveFilesystem, db: JwqlDatabase, program: str, instrument: str) -> Coverage:
    """One partition's coverage, from the archive listing, the preview folder and the failure rows."""
    sources = partition_sources(archive.program_files(program, instrument), instrument)
    preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
    missing, failed, rate = coverage_problems(sources, preview_dir, recorded_failures(db, PRODUCT, program, instrument))
    return Coverage(program, instrument, len(sources), tuple(missing), tuple(failed), rate)


def _metadata(covs: Sequence[Coverage], max_rate: float) -> dict[str, Any]:
    missing = [m for c in covs for m in c.missing]
    failed = [f for c in covs for f in c.failed]
    worst_rate = max((c.rate for c in covs), default=0.0)
    return {
        "files": dg.MetadataValue.int(sum(c.files for c in covs)),
        "missing": dg.MetadataValue.int(len(missing)),
        "failed": dg.MetadataValue.int(len(failed)),
        "failure_rate": dg.MetadataValue.float(round(worst_rate, 4)),
        "max_failure_rate": dg.MetadataValue.float(max_rate),
        "missing_files": dg.MetadataValue.text(", ".join(missing[:MAX_LISTED])),
        "failed_files": dg.MetadataValue.text(", ".join(failed[:MAX_LISTED])),
    }


def evaluation_of(cov: Coverage, max_rate: float, partitioned: bool = True) -> dg.AssetCheckEvaluation:
    """The check's evaluation of one partition (severity WARN for recorded failures, ERROR past the limit)."""
    level = cov.level(max_rate)
    return dg.AssetCheckEvaluation(
        asset_key=PREVIEW_IMAGES, check_name=CHECK_NAME, passed=level == PASS,
        severity=dg.AssetCheckSeverity.WARN if level == WARN else dg.AssetCheckSeverity.ERROR,
        description=cov.description(max_rate),
        metadata={"partition": dg.MetadataValue.text(cov.partition), "verdict": dg.MetadataValue.text(VERDICTS[level]),
                  **_metadata([cov], max_rate)},
        partition=cov.partition if partitioned else None,
    )


def summary_of(covs: Sequence[Coverage], max_rate: float, scope: str) -> dg.AssetCheckEvaluation:
    """One evaluation for many partitions: the worst verdict, naming every partition that warns or fails."""
    levels = [c.level(max_rate) for c in covs]
    worst = max(levels, default=PASS)
    failing = [c.partition for c, lv in zip(covs, levels) if lv == FAIL]
    warning = [c.partition for c, lv in zip(covs, levels) if lv == WARN]
    parts = [f"failing: {', '.join(failing)}"] if failing else []
    parts += [f"warning: {', '.join(warning)}"] if warning else []
    worst_cov = next((c for c, lv in zip(covs, levels) if lv == worst and worst > PASS), None)
    description = (f"{len(failing)} partition(s) failing, {len(warning)} warning of {len(covs)} ({'; '.join(parts)}); "
                   f"worst {worst_cov.description(max_rate)}") if worst_cov else f"all {len(covs)} partitions covered"
    return dg.AssetCheckEvaluation(
        asset_key=PREVIEW_IMAGES, check_name=CHECK_NAME, passed=worst == PASS,
        severity=dg.AssetCheckSeverity.WARN if worst == WARN else dg.AssetCheckSeverity.ERROR,
        description=description,
        metadata={"scope": dg.MetadataValue.text(scope), "verdict": dg.MetadataValue.text(VERDICTS[worst]),
                  "partitions_failing": dg.MetadataValue.text(", ".join(failing)),
                  "partitions_warning": dg.MetadataValue.text(", ".join(warning)),
                  **({"worst_partition": dg.MetadataValue.text(worst_cov.partition)} if worst_cov else {}),
                  **_metadata(covs, max_rate)},
    )


def currently_not_passing(instance: dg.DagsterInstance) -> list[str]:
    """Partitions whose latest stored verdict is a warning or a failure (both are stored as FAILED)."""
    infos = instance.event_log_storage.get_asset_check_partition_info([CHECK_KEY])
    return sorted(i.partition_key for i in infos
                  if i.partition_key and i.latest_execution_status.value in ("FAILED", "EXECUTION_FAILED"))


def ordered_evaluations(run: Sequence[Coverage], others: Sequence[Coverage],
                        max_rate: float) -> list[dg.AssetCheckEvaluation]:
    """The run's partitions, then the re-judged others from best to worst, and a closing summary
    unless the evaluation stored last (a re-judged partition, or the only partition of the run)
    already carries the worst verdict. Rows of the run's own partitions were created when the run
    was planned, so among them the order of evaluation does not decide which is stored last."""
    others = sorted(others, key=lambda c: c.level(max_rate))
    evaluations = [evaluation_of(c, max_rate) for c in [*run, *others]]
    worst = max((c.level(max_rate) for c in [*run, *others]), default=PASS)
    last_is_worst = (others[-1].level(max_rate) == worst) if others else len(run) == 1
    if worst > PASS and not last_is_worst:
        evaluations.append(summary_of([*run, *others], max_rate, f"{len(run)} partition(s) of the run and "
                                      f"{len(others)} not passing before it"))
    return evaluations


with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.PreviewWarning)  # a partitions_def on a check is "preview" in Dagster 1.13

    @dg.asset_check(
        asset=PREVIEW_IMAGES,
        name=CHECK_NAME,
        partitions_def=program_instrument_partitions,
        description=("Every FITS file of a partition has a preview or a recorded failure: a warning when files "
                     "failed, a failure over JWQL_MAX_FAILURE_RATE or when a file has neither. The latest "
                     "evaluation always carries the worst current partition."),
    )
    def preview_coverage(
        context: dg.AssetCheckExecutionContext,
        archive: ArchiveFilesystem,
        db: JwqlDatabase,
        options: JwqlOptions,
    ) -> Iterator[Any]:
        """Judges the run's partitions and re-judges those not passing; run alone, judges every partition."""
        max_rate = options.max_failure_rate
        if not (context.has_partition_key or context.has_partition_key_range):
            # launched on its own without a partition: every cell of the archive, one verdict
            covs = [judge(archive, db, program, instrument) for program, instrument in archive.cells()]
            yield summary_of(covs, max_rate, f"all {len(covs)} partitions")
        else:
            keys = [str(k) for k in context.partition_keys]
            run = [judge(archive, db, *split_program_instrument(k)) for k in keys]
            others = [judge(archive, db, *split_program_instrument(k))
                      for k in currently_not_passing(context.instance) if k not in set(keys)]
            for evaluation in ordered_evaluations(run, others, max_rate):
                # The evaluation itself is stored and shown; a log line repeats it only where it matters.
                if not evaluation.passed or len(keys) <= CELL_LINES_MAX:
                    context.log.info(f"preview_coverage {evaluation.partition or '(all)'}: {evaluation.description}")
                yield evaluation
        yield dg.Output(None)


def coverage_report(instance: dg.DagsterInstance) -> list[str]:
    """Lines for a command's summary: files failed, and which partitions warn or fail, from the latest
    stored evaluation of each partition."""
    from dagster._core.event_api import PartitionKeyFilter  # no public way to read one partition's latest verdict

    storage = instance.event_log_storage
    keys = sorted(i.partition_key for i in storage.get_asset_check_partition_info([CHECK_KEY]) if i.partition_key)
    latest = [storage.get_latest_asset_check_execution_by_key([CHECK_KEY], partition_filter=PartitionKeyFilter(key=k))
              .get(CHECK_KEY) for k in keys]
    evaluations = [r.evaluation for r in latest if r is not None and r.evaluation is not None]
    if not evaluations:
        return ["preview_coverage: not evaluated"]
    files = failed = missing = 0
    by_verdict: dict[str, list[str]] = {"warning": [], "failed": []}
    for ev in evaluations:
        meta = ev.metadata
        files += meta["files"].value if "files" in meta else 0
        failed += meta["failed"].value if "failed" in meta else 0
        missing += meta["missing"].value if "missing" in meta else 0
        if not ev.passed:
            verdict = "warning" if ev.severity == dg.AssetCheckSeverity.WARN else "failed"
            by_verdict[verdict].append(f"{ev.partition} ({(ev.description or '').split(': ', 1)[-1][:120]})")
    lines = [f"previews: {files} files, {failed} failed, {missing} without preview or failure record "
             f"(preview_coverage of {len(evaluations)} partitions)"]
    lines += [f"  coverage failed: {p}" for p in sorted(by_verdict["failed"])]
    lines += [f"  coverage warning: {p}" for p in sorted(by_verdict["warning"])]
    return lines
