"""preview_coverage judged per partition, and the check's latest evaluation carries the worst current partition."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.options import JwqlOptions
from jwql_dagster.previews.checks import (
    CHECK_KEY,
    FAIL,
    PASS,
    WARN,
    Coverage,
    coverage_report,
    evaluation_of,
    ordered_evaluations,
)
from tests.previews.program import P, materialize_previews

RATE = 0.25


def cov(instrument: str = "nircam", files: int = 4, missing=(), failed=()) -> Coverage:
    return Coverage(P, instrument, files, tuple(missing), tuple(failed), len(failed) / files if files else 0.0)


def test_partition_levels() -> None:
    assert cov().level(RATE) == PASS
    assert cov(failed=["a.fits"]).level(RATE) == WARN  # 25%: at the limit, not over it
    assert cov(failed=["a.fits", "b.fits"]).level(RATE) == FAIL  # 50% > 25%
    assert cov(missing=["a.fits"]).level(RATE) == FAIL  # neither preview nor failure row
    assert cov(files=0).level(RATE) == PASS


def test_evaluation_names_its_partition_and_severity() -> None:
    ev = evaluation_of(cov("niriss", failed=["x_nis_rate.fits"]), RATE)
    assert ev.partition == "niriss|jw01068" and not ev.passed
    assert ev.severity == dg.AssetCheckSeverity.WARN
    assert ev.description.startswith("niriss|jw01068: 1 of 4 file(s) failed")
    assert ev.metadata["failed_files"].value == "x_nis_rate.fits"
    bad = evaluation_of(cov("miri", missing=["m.fits"]), RATE)
    assert bad.severity == dg.AssetCheckSeverity.ERROR and not bad.passed and bad.metadata["missing"].value == 1
    assert evaluation_of(cov(), RATE).passed


def test_order_puts_the_worst_last() -> None:
    clean, warn, fail = cov("nircam"), cov("niriss", failed=["a.fits"]), cov("miri", missing=["m.fits"])
    # one clean partition in the run, a failing one re-judged: the failing one is stored last
    evs = ordered_evaluations([clean], [fail, warn], RATE)
    assert [e.partition for e in evs] == ["nircam|jw01068", "niriss|jw01068", "miri|jw01068"]
    assert not evs[-1].passed and evs[-1].severity == dg.AssetCheckSeverity.ERROR
    # the run's own partition is the worst: a closing summary names it
    evs = ordered_evaluations([fail], [warn], RATE)
    last = evs[-1]
    assert last.partition is None and not last.passed and last.severity == dg.AssetCheckSeverity.ERROR
    assert "miri|jw01068" in last.description and last.metadata["partitions_failing"].value == "miri|jw01068"
    assert last.metadata["partitions_warning"].value == "niriss|jw01068"
    # a range whose worst is a warning: the summary says warning
    evs = ordered_evaluations([clean, warn], [], RATE)
    assert evs[-1].partition is None and evs[-1].severity == dg.AssetCheckSeverity.WARN
    # a single partition alone, or a clean range: one evaluation per partition, no summary
    assert [e.partition for e in ordered_evaluations([fail], [], RATE)] == ["miri|jw01068"]
    assert [e.partition for e in ordered_evaluations([clean, cov("miri")], [], RATE)] == ["nircam|jw01068",
                                                                                          "miri|jw01068"]


def _status(instance):
    record = instance.event_log_storage.get_asset_check_summary_records([CHECK_KEY])[CHECK_KEY]
    return record.last_check_execution_record


def test_asset_check_status_is_the_worst_partition(env) -> None:  # noqa: F811
    """Materialize a broken partition, then a clean one: the asset's check status stays failing and names the broken one."""
    settings, resources, instance = env
    options = JwqlOptions(preview_workers=1, max_failure_rate=0.1)
    broken = settings.filesystem / "public" / P / f"{P}002001" / f"{P}002001_02101_00002_nis_rate.fits"
    broken.write_bytes(b"not a FITS file")
    result, _ = materialize_previews(resources, instance, instrument="niriss", options=options)
    (ev,) = result.get_asset_check_evaluations()
    assert ev.partition == "niriss|jw01068" and not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR

    result, _ = materialize_previews(resources, instance, instrument="nircam", options=options)
    evs = result.get_asset_check_evaluations()
    assert [(e.partition, e.passed) for e in evs] == [("nircam|jw01068", True), ("niriss|jw01068", False)]
    last = _status(instance)
    assert last.status.value == "FAILED" and last.partition == "niriss|jw01068"
    assert last.evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert broken.name in last.evaluation.metadata["failed_files"].value
    # the per-partition view keeps each partition's own verdict
    infos = {i.partition_key: i.latest_execution_status.value
             for i in instance.event_log_storage.get_asset_check_partition_info([CHECK_KEY])}
    assert infos == {"nircam|jw01068": "SUCCEEDED", "niriss|jw01068": "FAILED"}
    report = coverage_report(instance)
    assert report[0].startswith("previews: 11 files, 1 failed, 0 without preview")
    assert any(line.startswith("  coverage failed: niriss|jw01068") for line in report)

    # under a looser limit the same partition is a warning, and the status says so
    loose = JwqlOptions(preview_workers=1, max_failure_rate=0.6)
    materialize_previews(resources, instance, instrument="nircam", options=loose)
    last = _status(instance)
    assert last.partition == "niriss|jw01068" and last.evaluation.severity == dg.AssetCheckSeverity.WARN
    assert any(line.startswith("  coverage warning: niriss|jw01068") for line in coverage_report(instance))

    # once fixed, a run re-judges it and the status passes
    broken.unlink()
    materialize_previews(resources, instance, instrument="nircam", options=options)
    assert _status(instance).status.value == "SUCCEEDED"
    assert coverage_report(instance)[1:] == []


def test_range_run_yields_one_result_per_partition(env) -> None:  # noqa: F811
    from jwql_dagster.previews.assets import preview_assets, preview_coverage

    settings, resources, instance = env
    broken = settings.filesystem / "public" / P / f"{P}002001" / f"{P}002001_02101_00002_nis_rate.fits"
    broken.write_bytes(b"not a FITS file")
    tags = {"dagster/asset_partition_range_start": f"nircam|{P}", "dagster/asset_partition_range_end": f"niriss|{P}"}
    result = dg.materialize([preview_assets, preview_coverage], resources=dict(resources), instance=instance, tags=tags)
    evs = {e.partition: e for e in result.get_asset_check_evaluations()}
    assert evs[f"nircam|{P}"].passed
    assert not evs[f"niriss|{P}"].passed and evs[f"niriss|{P}"].severity == dg.AssetCheckSeverity.WARN  # 50% = limit
    # the run's partitions were planned together: the closing summary carries the worst
    last = _status(instance)
    assert last.partition is None and last.evaluation.severity == dg.AssetCheckSeverity.WARN
    assert f"niriss|{P}" in last.evaluation.metadata["partitions_warning"].value
