"""Asset check 'preview_coverage': every FITS file has a preview or a recorded failure."""


from pathlib import Path

import dagster as dg

from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.failures import recorded_failures
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.options import JwqlOptions
from jwql_dagster.partitions import split_program_instrument
from jwql_dagster.previews.jobs import PREVIEW_IMAGES
from jwql_dagster.previews.plan import PRODUCT, coverage_problems, partition_sources

MAX_LISTED = 10  # file names shown in a failed check


def _run_partition(context: dg.AssetCheckExecutionContext) -> tuple[str, str] | None:
    """(program, instrument) of the run's partition, or None for a run without one (check the whole archive)."""
    tags = context.run.tags
    program, instrument = tags.get("dagster/partition/program"), tags.get("dagster/partition/instrument")
    if program and instrument:
        return program, instrument
    if tags.get("dagster/partition"):
        try:
            return split_program_instrument(tags["dagster/partition"])
        except Exception:  # noqa: BLE001 - a partition of another kind
            return None
    return None


@dg.asset_check(
    asset=PREVIEW_IMAGES,
    name="preview_coverage",
    description=("Every FITS file has a preview or a recorded failure, and failures stay under "
                 "JWQL_MAX_FAILURE_RATE (the run's partition, or every partition when run on its own)."),
)
def preview_coverage(
    context: dg.AssetCheckExecutionContext,
    archive: ArchiveFilesystem,
    db: JwqlDatabase,
    options: JwqlOptions,
) -> dg.AssetCheckResult:
    """Fails when a file has neither a preview nor a failure record, or too many files failed."""
    # Unpartitioned on purpose: Dagster 1.13 cannot launch a partitioned check on its own, and
    # this one must be runnable alone to notice previews deleted behind the platform's back.
    scope = _run_partition(context)
    cells = [scope] if scope else archive.cells()
    missing: list[str] = []
    failed: list[str] = []
    seen = 0
    worst: tuple[float, str] = (0.0, "")
    for program, instrument in cells:
        sources = partition_sources(archive.program_files(program, instrument), instrument)
        preview_dir = Path(archive.safe_output_path(archive.preview_root, program))
        m, f, rate = coverage_problems(sources, preview_dir, recorded_failures(db, PRODUCT, program, instrument))
        missing += m
        failed += f
        seen += len(sources)
        if rate > worst[0]:
            worst = (rate, f"{instrument}|{program}")
    too_many = worst[0] > options.max_failure_rate
    reasons = []
    if missing:
        reasons.append(f"{len(missing)} file(s) without preview or failure record: " + ", ".join(missing[:MAX_LISTED]))
    if too_many:
        reasons.append(f"failure rate {worst[0]:.1%} in {worst[1]} above {options.max_failure_rate:.1%}: "
                       + ", ".join(failed[:MAX_LISTED]))
    return dg.AssetCheckResult(
        passed=not missing and not too_many,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(reasons) or f"all {seen} files covered",
        metadata={
            "scope": dg.MetadataValue.text(f"{scope[1]}|{scope[0]}" if scope else f"all {len(cells)} partitions"),
            "files": dg.MetadataValue.int(seen),
            "missing": dg.MetadataValue.int(len(missing)),
            "failed": dg.MetadataValue.int(len(failed)),
            "failure_rate": dg.MetadataValue.float(round(worst[0], 4)),
            "max_failure_rate": dg.MetadataValue.float(options.max_failure_rate),
            "missing_files": dg.MetadataValue.text(", ".join(missing[:MAX_LISTED])),
            "failed_files": dg.MetadataValue.text(", ".join(failed[:MAX_LISTED])),
        },
    )
