"""Re-rendering in one click (preview_rerender_job) and quicklook links in the preview assets' metadata."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.previews.jobs import RERENDER_CONFIG
from tests.previews.program import P, materialize_previews


def test_rerender_job_defaults_to_overwrite() -> None:
    from jwql_dagster.definitions import defs
    from jwql_dagster.partitions import program_instrument_key

    job = defs.resolve_job_def("preview_rerender_job")
    config = job.partitioned_config.get_run_config_for_partition_key(str(program_instrument_key(P, "nircam")))
    assert config["ops"]["preview_assets"]["config"]["overwrite"] is True
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} >= {"preview_images", "thumbnails"}


def test_rerender_config_remakes_up_to_date_files_and_links_quicklook(env, monkeypatch) -> None:  # noqa: F811
    from jwql_dagster.previews.assets import preview_assets, preview_coverage
    from jwql_dagster.partitions import program_instrument_key

    monkeypatch.setenv("JWQL_WEB_URL", "http://quicklook.example:8123")
    settings, resources, instance = env
    _, first = materialize_previews(resources, instance)
    assert first["preview_images"]["quicklook"].value == f"http://quicklook.example:8123/programs/{P}"
    _, again = materialize_previews(resources, instance)
    assert again["preview_images"]["files_made"].value == 0  # up to date: skipped
    result = dg.materialize([preview_assets, preview_coverage], partition_key=program_instrument_key(P, "nircam"),
                            resources=dict(resources), instance=instance, run_config=RERENDER_CONFIG)
    meta = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("preview_assets")}
    assert meta["preview_images"]["overwrite"].value is True
    assert meta["preview_images"]["files_made"].value == 9 and meta["preview_images"]["files_skipped"].value == 0
    assert meta["thumbnails"]["quicklook"].value == f"http://quicklook.example:8123/programs/{P}"
