"""End to end on the synthetic archive: sensor ticks, real archive_files runs writing the files table, more ticks."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

import jwql_dagster.archive.sensors as nff
from jwql_dagster.archive.assets import archive_files
from jwql_dagster.archive.arrivals import change_hash, decode_cursor
from jwql_dagster.resources import ArchiveFilesystem, JwqlDatabase, JwqlOptions


def test_ticks_and_archive_files_runs_agree(small_archive, tmp_path: Path, sqlite_db: JwqlDatabase):
    root = tmp_path / "archive"
    shutil.copytree(small_archive.root, root)
    out = tmp_path / "out"
    archive = ArchiveFilesystem(filesystem=str(root), preview_root=str(out / "p"), thumbnail_root=str(out / "t"),
                                output_root=str(out / "o"), working_root=str(out / "w"), log_root=str(out / "l"),
                                central_store=str(out), dagster_home=str(out / "d"))
    res = {"archive": archive, "db": sqlite_db,
           "options": JwqlOptions(sensor_settle_seconds=0, sensor_max_files_per_tick=5000)}

    def tick(instance, cursor):
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as ctx:
            return nff.new_fits_files(ctx)

    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        partitions = sorted(str(r.partition_key) for r in first.run_requests)
        expected = sorted({f"{rec['instrument']}|{rec['program']}" for rec in small_archive.truth["files"].values()})
        assert partitions == expected
        assert sorted(first.dynamic_partitions_requests[0].partition_keys) == small_archive.programs
        instance.add_dynamic_partitions("program", small_archive.programs)

        # run archive_files for every requested partition, as the launched runs would
        for key in partitions:
            result = dg.materialize([archive_files], partition_key=key, instance=instance,
                                    resources={"archive": archive, "db": sqlite_db})
            assert result.success
        settled = tick(instance, first.cursor)
        assert settled.run_requests == []
        state = decode_cursor(settled.cursor)
        assert state["inflight"] == {} and state["pending"] == []  # rows written: no per-file state left

        # a new exposure arrives in an old program: one run, for that file only
        src = small_archive.files(instrument="nircam", suffix="rate")[0]
        new = root / src.relative_to(small_archive.root).parent / src.name.replace("_00001_", "_00077_")
        assert new.name != src.name and not new.exists()
        shutil.copy(root / src.relative_to(small_archive.root), new)
        nxt = tick(instance, settled.cursor)
        assert len(nxt.run_requests) == 1
        request = nxt.run_requests[0]
        program = src.relative_to(small_archive.root).parts[1]
        assert str(request.partition_key) == f"nircam|{program}"
        st = new.stat()
        assert request.run_key == f"nircam|{program}|{change_hash([f'{new.name},{st.st_size},{st.st_mtime_ns}'])}"
