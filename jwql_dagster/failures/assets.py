"""Asset ``file_failures``: every current per-file failure in one table in the Dagster UI.

Failures are recorded where they happen (``archive_files`` for unreadable headers and
unrecognised names, the preview assets for files that cannot be rendered), each run in its
own partition's event metadata. This asset gathers the current ones into one table, one
line per broken file and cause, with a link to the searchable failure page.
"""


from collections import Counter
from typing import Any

import dagster as dg

from jwql_dagster.config import load_settings
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.db.views import FailureLine, current_failures
from jwql_dagster.web.links import failures_url

GROUP = "previews"
MAX_ROWS = 500  # table rows kept in the event log; the web page lists them all

TABLE_SCHEMA = dg.TableSchema(columns=[
    dg.TableColumn("file", "string", description="FITS file name (or a NIRCam mosaic's name)"),
    dg.TableColumn("program", "string"),
    dg.TableColumn("instrument", "string"),
    dg.TableColumn("reason", "string", description="one wording per cause"),
    dg.TableColumn("products", "string", description="what could not be made: archive_files, preview_images, mosaic"),
    dg.TableColumn("first_seen", "string", description="UTC"),
    dg.TableColumn("last_seen", "string", description="UTC"),
    dg.TableColumn("run", "string", description="the run that saw it last"),
])


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def failure_record(line: FailureLine) -> dg.TableRecord:
    """One table row of the UI table."""
    return dg.TableRecord({
        "file": line.filename,
        "program": line.program or "",
        "instrument": line.instrument or "",
        "reason": line.reason,
        "products": ", ".join(line.products),
        "first_seen": _when(line.first_seen),
        "last_seen": _when(line.last_seen),
        "run": line.run_id or "",
    })


@dg.asset(
    deps=[dg.AssetKey("archive_files"), dg.AssetKey("preview_images")],
    group_name=GROUP,
    kinds={"sql"},
)
def file_failures(context: dg.AssetExecutionContext, db: JwqlDatabase) -> dg.MaterializeResult:
    """Every current per-file failure (file, program, instrument, reason, first and last seen, run) in one table."""
    with db.session(readonly=True) as session:
        lines = current_failures(session.connection())
    by_reason = Counter(line.reason for line in lines)
    by_program = Counter(line.program or "(none)" for line in lines)
    context.log.info(f"{len(lines)} current failure(s) in {len(by_program)} program(s)")
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(len(lines)),
        "failures": dg.MetadataValue.table(records=[failure_record(line) for line in lines[:MAX_ROWS]],
                                           schema=TABLE_SCHEMA),
        "by_program": dg.MetadataValue.json(dict(sorted(by_program.items()))),
        "by_reason": dg.MetadataValue.json(dict(by_reason.most_common(20))),
        "page": dg.MetadataValue.url(failures_url(load_settings().web_url)),
    }
    if len(lines) > MAX_ROWS:
        metadata["rows_left_out"] = dg.MetadataValue.int(len(lines) - MAX_ROWS)
    return dg.MaterializeResult(metadata=metadata)


defs = dg.Definitions(assets=[file_failures])
