"""Access control: under the default JWQL_INLINE_PREVIEWS=public, no proprietary image reaches the event log."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from tests.plugins.resources import make_resources


def _event_log_text(instance: dg.DagsterInstance) -> str:
    """Every event of every run, as stored (messages and metadata), in one string."""
    from dagster._serdes import serialize_value

    parts = []
    for run in instance.get_runs():
        for record in instance.all_logs(run.run_id):
            parts.append(serialize_value(record))
    return "\n".join(parts)


def _run_program(instance: dg.DagsterInstance, defs: dg.Definitions, program: str, instruments: list[str]) -> None:
    from jwql_dagster.partitions import program_instrument_key

    instance.add_dynamic_partitions("program", [program])
    for instrument in instruments:
        result = defs.resolve_job_def("preview_partition_job").execute_in_process(
            instance=instance, partition_key=program_instrument_key(program, instrument), raise_on_error=False
        )
        assert result.success, f"{program} {instrument}"
    result = defs.resolve_job_def("program_products_job").execute_in_process(instance=instance, partition_key=program)
    assert result.success


@pytest.mark.slow
def test_proprietary_images_never_enter_the_event_log(small_archive, jwql_env, sqlite_db, monkeypatch) -> None:
    from jwql_dagster.archive import assets as archive_files
    from jwql_dagster.previews import assets as previews
    from jwql_dagster.config import load_settings

    monkeypatch.setenv("JWQL_FILESYSTEM", str(Path(small_archive)))
    monkeypatch.setenv("JWQL_PREVIEW_WORKERS", "1")
    settings = load_settings()
    assert settings.inline_previews == "public"  # the default
    resources = make_resources(settings, db=sqlite_db)
    defs = dg.Definitions.merge(archive_files.defs, previews.defs, dg.Definitions(resources=resources))

    def cells(area: str) -> tuple[str, list[str]]:
        recs = small_archive.records(area=area)
        program = sorted({r["program"] for r in recs.values()})[0]
        instruments = sorted({r["instrument"] for r in recs.values() if r["program"] == program} - {"fgs"})
        return program, instruments

    proprietary, public = cells("proprietary"), cells("public")
    with dg.instance_for_test() as instance:
        _run_program(instance, defs, *proprietary)
        text = _event_log_text(instance)
        assert "data:image" not in text, "a proprietary program's image entered the event log"
        # The product exists on disk all the same: the policy hides it from the UI, it does not skip work.
        assert (settings.thumbnail_root / proprietary[0] / f"{proprietary[0]}.thumb").is_file()

    with dg.instance_for_test() as instance:  # control: a public program's thumbnail is shown inline
        _run_program(instance, defs, *public)
        assert "data:image" in _event_log_text(instance)
