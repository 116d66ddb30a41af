"""Review fixes for archive_files."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.archive.assets import archive_files
from jwql_dagster.partitions import program_instrument_key

from tests.assets_archive.test_archive_files import archive_copy, archive_resource, combos, run_partition, snapshot  # noqa: F401


def test_missing_area_folder_fails_without_marking_its_files_deleted(sqlite_db, small_archive, archive_copy, tmp_path) -> None:
    """An unmounted public/ (root still there) must not look like a mass deletion, as in the sensor."""
    recs = small_archive.truth["files"].values()
    program, instrument = next((p, i) for p, i in combos(small_archive.truth)
                               if any(r["program"] == p and r["instrument"] == i and r["area"] == "public" for r in recs))
    archive = archive_resource(archive_copy, tmp_path)
    with dg.instance_for_test() as instance:
        assert run_partition(instance, archive, sqlite_db, program, instrument).success
        (archive_copy / "public").rename(tmp_path / "unmounted_public")
        result = dg.materialize([archive_files], instance=instance, partition_key=program_instrument_key(program, instrument),
                                resources={"archive": archive, "db": sqlite_db}, raise_on_error=False)
    assert not result.success
    files, _ = snapshot(sqlite_db)
    assert files and all(f.deleted_at is None for f in files)

