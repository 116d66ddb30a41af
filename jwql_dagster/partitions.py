"""Partitions shared by assets, sensors and schedules.

``program`` keys are archive folder names (``jw01068``) added at run time;
``program_instrument`` gives the UI a program x instrument grid for per-file products.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import dagster as dg

from jwql_dagster.archive.layout import INSTRUMENTS

#: Program x instrument cells per run when many go together (a UI backfill of the whole archive, the
#: file-arrival sensor after a bulk arrival, the daily rescan): runs of a range of consecutive programs
#: of one instrument, each paying one Python start-up for up to this many cells.
CELLS_PER_RUN = 200

#: A run over at most this many cells logs a line per cell; a larger one logs one line for all of them
#: (its materializations carry the per-cell table), so a backfill's event log is not mostly such lines.
CELL_LINES_MAX = 5

#: Dagster's run tags of a run over a range of partitions.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_run_request(run_key: str, first: str, last: str, tags: Mapping[str, str] | None = None) -> dg.RunRequest:
    """A run of one partition (``first == last``; a MultiPartitionKey stays one) or of the range first..last
    through Dagster's range tags (over program x instrument, the rectangle between the two keys)."""
    tags = dict(tags or {})
    if first == last:
        return dg.RunRequest(run_key=run_key, partition_key=first, tags=tags)
    return dg.RunRequest(run_key=run_key, tags={**tags, RANGE_START_TAG: str(first), RANGE_END_TAG: str(last)})


def batched_backfill(decorator: Any, **kwargs: Any) -> Any:
    """``decorator(**kwargs, backfill_policy=...)`` with runs of up to CELLS_PER_RUN partitions, without Dagster's
    BetaWarning for the parameter: batching cells into runs is the point of the policy here, and the warning
    would greet every process loading the code location."""
    def apply(fn: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            policy = dg.BackfillPolicy.multi_run(max_partitions_per_run=CELLS_PER_RUN)
            return decorator(**kwargs, backfill_policy=policy)(fn)

    return apply

program_partitions = dg.DynamicPartitionsDefinition(name="program")
instrument_partitions = dg.StaticPartitionsDefinition(list(INSTRUMENTS))
program_instrument_partitions = dg.MultiPartitionsDefinition(
    {"program": program_partitions, "instrument": instrument_partitions}
)


def program_instrument_key(program: str, instrument: str) -> dg.MultiPartitionKey:
    """The multi-partition key of one program x instrument cell (string form ``nircam|jw01068``)."""
    return dg.MultiPartitionKey({"program": program, "instrument": instrument})


def split_program_instrument(partition_key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(program, instrument) of a key, whether it arrives as a MultiPartitionKey or as its string form."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
    else:
        dims = program_instrument_partitions.get_partition_key_from_str(partition_key).keys_by_dimension
    return dims["program"], dims["instrument"]

