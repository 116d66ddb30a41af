"""Asset group 'mast': jwql's monitor_mast inventories and get_observation_characteristics.

``mast_inventory[instrument]`` stores counts and keyword lists per snapshot;
``jwst_inventory`` reads the latest snapshot of every instrument back from the
database, so one failed instrument never loses the others' charts;
``filesystem_characteristics[instrument]`` asks MAST about the programs of our archive.
"""


from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.atomic import atomic_write_bytes, atomic_write_text
from jwql_dagster.db import mast as mast_db
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.mast import queries
from jwql_dagster.mast.errors import MastError
from jwql_dagster.mast.jobs import mast_partitioned_job
from jwql_dagster.mast.resources import MastService
from jwql_dagster.metadata import inline_image_md, snapshot_identity
from jwql_dagster.partitions import instrument_partitions

if TYPE_CHECKING:
    import pandas as pd


GROUP = "mast"
OUTPUT_SUBDIR = "monitor_mast"
SERVICE_DATAPRODUCTS: dict[str, tuple[str, ...]] = {"jwst": (queries.JWST_DATAPRODUCT,), "caom": queries.DATAPRODUCTS}
SERVICE_TITLES = {"jwst": "JWST inventory (Mast.Jwst.Filtered.<Instrument>)", "caom": "JWST inventory in CAOM (Mast.Caom.Filtered)"}


def _failure(mast: MastService, exc: Exception, what: str) -> dg.Failure:
    """A Dagster failure whose text and metadata can never hold the token."""
    return dg.Failure(
        description=mast.safe(f"{what}: {exc}"),
        metadata={"error_type": type(exc).__name__, "requests": dg.MetadataValue.json(mast.requests_made())},
    )


@dg.asset(
    group_name=GROUP,
    partitions_def=instrument_partitions,
    pool="db",
    kinds={"python", "sql"},
    code_version="1",
)
def mast_inventory(context: dg.AssetExecutionContext, mast: MastService, db: JwqlDatabase) -> dg.MaterializeResult:
    """Files of one instrument in MAST (JWST and CAOM services) and each service's keyword list."""
    instrument = queries.check_instrument(context.partition_key)
    try:
        client = mast.client_logging_to(context.log.info)
        inv = client.instrument_inventory(instrument, program=queries.KEYWORD_PROGRAM)
    except MastError as exc:
        raise _failure(mast, exc, f"MAST inventory of {instrument} failed") from None
    snapshot_id, date = snapshot_identity(context)
    inv_rows = [
        {"snapshot_id": snapshot_id, "date": date, "instrument": instrument, "service": svc, "dataproduct": dp, "count": n}
        for (svc, dp), n in sorted(inv.counts.items())
    ]
    kw_rows = [
        {"snapshot_id": snapshot_id, "date": date, "instrument": instrument, "service": svc, "keyword": kw, "dtype": dtype}
        for svc, keywords in sorted(inv.keywords.items())
        for kw, dtype in keywords
    ]
    # A retried run rewrites its snapshot exactly: rows it no longer has go too.
    mast_db.write_inventory(db, snapshot_id, instrument, inv_rows, kw_rows)
    counts = {f"{svc}/{dp}": n for (svc, dp), n in sorted(inv.counts.items())}
    context.log.info(f"{instrument}: {counts}; requests {mast.requests_made()}")
    caom_total = sum(n for (svc, _), n in inv.counts.items() if svc == "caom")
    return dg.MaterializeResult(
        metadata={
            "instrument": instrument,
            "snapshot_id": snapshot_id,
            "jwst_files": dg.MetadataValue.int(inv.counts[("jwst", queries.JWST_DATAPRODUCT)]),
            "caom_files": dg.MetadataValue.int(caom_total),
            "counts": dg.MetadataValue.json(counts),
            "jwst_keywords": dg.MetadataValue.int(len(inv.keywords["jwst"])),
            "caom_keywords": dg.MetadataValue.int(len(inv.keywords["caom"])),
            "requests": dg.MetadataValue.json(mast.requests_made()),
            "mast_url": dg.MetadataValue.url(mast.url) if mast.url.startswith("http") else mast.url,
            "dagster/row_count": dg.MetadataValue.int(len(inv_rows) + len(kw_rows)),
        }
    )


def keyword_comparison(keywords: dict[str, dict[str, list[tuple[str, str]]]], service: str) -> "pd.DataFrame":
    """keyword x instrument table ('dtype' where the instrument has it, '' otherwise), plus how many have it."""
    import pandas as pd  # loaded by the runs that draw, not by every process that loads the code location

    instruments = sorted(keywords)
    names: dict[str, dict[str, str]] = {}
    for inst in instruments:
        for kw, dtype in keywords[inst].get(service, []):
            names.setdefault(kw, {})[inst] = dtype
    rows = [[kw, *[names[kw].get(i, "") for i in instruments], len(names[kw])] for kw in sorted(names)]
    return pd.DataFrame(rows, columns=["keyword", *instruments, "instruments"])


@dg.asset(
    group_name=GROUP,
    deps=[mast_inventory],
    kinds={"bokeh", "pandas"},
    code_version="1",
    automation_condition=dg.AutomationCondition.eager(),
)
def jwst_inventory(context: dg.AssetExecutionContext, db: JwqlDatabase, archive: ArchiveFilesystem) -> dg.MaterializeResult:
    """All instruments' MAST inventories: tables, bar and pie charts (HTML, PNG, CSV) and keyword comparison."""
    found, keywords = mast_db.latest_snapshots(db, INSTRUMENTS)
    missing = [i for i in INSTRUMENTS if i not in found]
    if not found:
        raise dg.Failure(description="no mast_inventory snapshot in the database yet: materialize mast_inventory first")
    out_dir = Path(archive.output_root) / OUTPUT_SUBDIR
    metadata: dict[str, Any] = {
        "instruments": dg.MetadataValue.json(sorted(found)),
        "missing_instruments": dg.MetadataValue.json(missing),
        "snapshots": dg.MetadataValue.json({i: {"snapshot_id": v["snapshot_id"], "date": v["date"].isoformat()} for i, v in found.items()}),
    }
    if missing:
        context.log.warning(f"no mast_inventory snapshot for {', '.join(missing)}: charts show the others")
    from jwql_dagster.mast.plots import bokeh_inventory_html, inventory_table, matplotlib_inventory_png

    for service, products in SERVICE_DATAPRODUCTS.items():
        counts = {i: {dp: v["counts"].get((service, dp), 0) for dp in products} for i, v in found.items()}
        table = inventory_table(counts, products)
        stem = out_dir / f"database_monitor_{service}"
        title = SERVICE_TITLES[service] + (f" - no data: {', '.join(missing)}" if missing else "")
        atomic_write_text(stem.with_suffix(".csv"), table.to_csv(index=False))
        atomic_write_text(stem.with_suffix(".html"), bokeh_inventory_html(table, products, title))
        png = matplotlib_inventory_png(table, products, title)
        atomic_write_bytes(stem.with_suffix(".png"), png)
        comparison = keyword_comparison(keywords, service)
        atomic_write_text(out_dir / f"keyword_comparison_{service}.csv", comparison.to_csv(index=False))
        n_inst = len(found)
        differing = comparison[comparison["instruments"] < n_inst]
        metadata.update({
            f"{service}_table": dg.MetadataValue.md(table.to_markdown(index=False)),
            f"{service}_total_files": dg.MetadataValue.int(int(table["total"].sum())),
            f"{service}_chart": inline_image_md(png, alt=f"{service} inventory", max_px=640, fmt="PNG"),
            f"{service}_html": dg.MetadataValue.path(str(stem.with_suffix(".html"))),
            f"{service}_png": dg.MetadataValue.path(str(stem.with_suffix(".png"))),
            f"{service}_csv": dg.MetadataValue.path(str(stem.with_suffix(".csv"))),
            f"{service}_keywords_per_instrument": dg.MetadataValue.json(
                {i: len(keywords[i].get(service, [])) for i in sorted(found)}),
            f"{service}_keywords_not_shared": dg.MetadataValue.md(
                differing.to_markdown(index=False) if len(differing) else f"all keywords shared by the {n_inst} instruments"),
        })
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    group_name=GROUP,
    partitions_def=instrument_partitions,
    deps=[dg.AssetKey("archive_files")],
    pool="db",
    kinds={"python", "sql"},
    code_version="1",
)
def filesystem_characteristics(context: dg.AssetExecutionContext, mast: MastService, db: JwqlDatabase) -> dg.MaterializeResult:
    """Filter/pupil combinations used by our archive's programs of one instrument, and observations per combination."""
    instrument = queries.check_instrument(context.partition_key)
    programs = mast_db.archive_programs(db, instrument)
    note: str | None = None
    pairs: list[tuple[str, int]] = []
    if instrument not in queries.CHARACTERISTICS_COLUMNS:
        note = queries.NOT_APPLICABLE  # jwql skips FGS: it has no filter/pupil combinations
    elif not programs:
        note = "no programs of this instrument in the files table"
    else:
        try:
            pairs = mast.client_logging_to(context.log.info).observation_characteristics(instrument, programs)
        except MastError as exc:
            raise _failure(mast, exc, f"MAST observation characteristics of {instrument} failed") from None
    snapshot_id, date = snapshot_identity(context)
    row = {
        "snapshot_id": snapshot_id, "date": date, "instrument": instrument,
        "filter_pupil": [p for p, _ in pairs], "obs_per_filter_pupil": [n for _, n in pairs], "note": note,
    }
    mast_db.write_characteristics(db, row)
    import pandas as pd  # loaded by the runs that use it

    table = pd.DataFrame(pairs, columns=["filter_pupil", "observations"])
    return dg.MaterializeResult(
        metadata={
            "instrument": instrument,
            "programs": dg.MetadataValue.json(programs),
            "combinations": dg.MetadataValue.int(len(pairs)),
            "observations": dg.MetadataValue.int(int(table["observations"].sum()) if len(table) else 0),
            "table": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else (note or "none")),
            "note": note or "",
            "requests": dg.MetadataValue.json(mast.requests_made()),
        }
    )


defs = dg.Definitions(assets=[mast_inventory, jwst_inventory, filesystem_characteristics], jobs=[mast_partitioned_job])
