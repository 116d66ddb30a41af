"""archive_files on the synthetic archive: inventory rows, idempotence, moves, deletions, failures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from jwql_dagster.archive.assets import archive_files
from jwql_dagster.archive.layout import INSTRUMENTS
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.models import File, FileFailure
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.partitions import program_instrument_key


def archive_resource(root: Path, out: Path) -> ArchiveFilesystem:
    return ArchiveFilesystem(filesystem=str(root), preview_root=str(out / "previews"), thumbnail_root=str(out / "thumbs"),
                             output_root=str(out / "outputs"), working_root=str(out / "working"), log_root=str(out / "logs"),
                             central_store=str(out), dagster_home=str(out / "dagster_home"))


def run_partition(instance: dg.DagsterInstance, archive: ArchiveFilesystem, db: JwqlDatabase, program: str,
                  instrument: str) -> dg.ExecuteInProcessResult:
    instance.add_dynamic_partitions("program", [program])
    return dg.materialize([archive_files], instance=instance, partition_key=program_instrument_key(program, instrument),
                          resources={"archive": archive, "db": JwqlDatabase(url=db.url)})


def combos(truth: dict) -> list[tuple[str, str]]:
    return sorted({(rec["program"], rec["instrument"]) for rec in truth["files"].values()})


def snapshot(db: JwqlDatabase) -> tuple[list, list]:
    with db.session(readonly=True) as s:
        files = s.execute(sa.select(File.filename, File.area, File.path, File.instrument, File.size, File.suffix,
                                    File.exp_type, File.nints, File.deleted_at).order_by(File.filename)).all()
        failures = s.execute(sa.select(FileFailure.filename, FileFailure.instrument, FileFailure.error_type,
                                       FileFailure.reason).order_by(FileFailure.filename)).all()
    return files, failures


@pytest.fixture
def archive_copy(small_archive, tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    shutil.copytree(small_archive.root, root)
    return root


def test_every_partition_inventories_its_files_and_twice_changes_nothing(jwql_db, small_archive, tmp_path) -> None:
    archive = archive_resource(small_archive.root, tmp_path)
    truth = small_archive.truth
    with dg.instance_for_test() as instance:
        for program, instrument in combos(truth):
            assert run_partition(instance, archive, jwql_db, program, instrument).success
        first = snapshot(jwql_db)
        for program, instrument in combos(truth):  # the second time: direct invocation, same code, less run overhead
            context = dg.build_asset_context(partition_key=program_instrument_key(program, instrument), instance=instance)
            meta = archive_files(context, archive=archive, db=JwqlDatabase(url=jwql_db.url)).metadata
            assert meta["new"].value == 0 and meta["deleted"].value == 0 and meta["unchanged"].value > 0
        assert snapshot(jwql_db) == first

    files, failures = first
    by_name = {f.filename: f for f in files}
    good = {Path(rel).name: rec for rel, rec in truth["files"].items()}
    bad = {b["name"]: b for b in truth["bad_files"]}
    assert set(by_name) == set(good) | {n for n, b in bad.items() if b["kind"] != "bad_name"}
    for name, rec in good.items():
        row = by_name[name]
        assert (row.area, row.instrument, row.suffix, row.size) == (rec["area"], rec["instrument"], rec["suffix"], rec["size"])
        assert row.exp_type == rec.get("exp_type", row.exp_type) and row.deleted_at is None
    reasons = {f.filename: f for f in failures}
    assert reasons[bad_of(truth, "empty")].reason == "file is empty (0 bytes)"  # failures/reasons.EMPTY_FILE
    assert reasons[bad_of(truth, "not_fits")].error_type == "NotFits"
    unrecognized = reasons[bad_of(truth, "bad_name")]
    assert unrecognized.instrument is None and "unrecognised file name" in unrecognized.reason
    # Truncated data, missing SCI, all-NaN: the primary header is fine, so they are the previews' failures, not ours.
    assert set(reasons) == {bad_of(truth, k) for k in ("empty", "not_fits", "bad_name")}


def bad_of(truth: dict, kind: str) -> str:
    return next(b["name"] for b in truth["bad_files"] if b["kind"] == kind)


def test_metadata_counts_suffixes_areas_and_failures(sqlite_db, small_archive, tmp_path) -> None:
    archive = archive_resource(small_archive.root, tmp_path)
    program, instrument = combos(small_archive.truth)[0]
    expected = small_archive.records(program=program, instrument=instrument)
    with dg.instance_for_test() as instance:
        result = run_partition(instance, archive, sqlite_db, program, instrument)
    meta = result.asset_materializations_for_node("archive_files")[0].metadata
    suffixes = {}
    for rec in expected.values():
        suffixes[rec["suffix"]] = suffixes.get(rec["suffix"], 0) + 1
    bad_here = [b for b in small_archive.truth["bad_files"] if b["program"] == program and b["kind"] != "bad_name"
                and _instrument_of(b["name"]) == instrument]
    for b in bad_here:
        suffixes["rate"] = suffixes.get("rate", 0) + 1
    assert meta["by_suffix"].value == dict(sorted(suffixes.items()))
    assert meta["dagster/row_count"].value == len(expected) + len(bad_here)
    assert meta["total_bytes"].value == sum(r["size"] for r in expected.values()) + sum(
        (small_archive.root / b["path"]).stat().st_size for b in bad_here)
    assert "| suffix |" in meta["inventory"].value


def _instrument_of(name: str) -> str | None:
    from jwql_dagster.archive.filenames import parse_filename

    return parse_filename(name)["instrument"]


def test_move_to_public_updates_row_and_deletion_is_marked_then_cleared(jwql_db, small_archive, archive_copy, tmp_path) -> None:
    archive = archive_resource(archive_copy, tmp_path)
    rel, rec = next((r, v) for r, v in sorted(small_archive.truth["files"].items()) if v["area"] == "proprietary")
    program, instrument, name = rec["program"], rec["instrument"], Path(rel).name
    victim_rel, _ = next((r, v) for r, v in sorted(small_archive.truth["files"].items())
                         if v["program"] == program and v["instrument"] == instrument and r != rel)
    with dg.instance_for_test() as instance:
        assert run_partition(instance, archive, jwql_db, program, instrument).success
        src = archive_copy / rel
        dst = archive_copy / rel.replace("proprietary/", "public/", 1)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)
        victim = archive_copy / victim_rel
        hidden = tmp_path / "hidden.fits"
        shutil.move(victim, hidden)
        meta = run_partition(instance, archive, jwql_db, program, instrument).asset_materializations_for_node(
            "archive_files")[0].metadata
        assert (meta["moved"].value, meta["deleted"].value) == (1, 1)
        files, _ = snapshot(jwql_db)
        rows = [f for f in files if f.filename == name]
        assert len(rows) == 1 and rows[0].area == "public" and rows[0].path == str(dst)
        assert next(f for f in files if f.filename == victim.name).deleted_at is not None
        shutil.move(hidden, victim)
        meta = run_partition(instance, archive, jwql_db, program, instrument).asset_materializations_for_node(
            "archive_files")[0].metadata
        assert meta["restored"].value == 1
        files, _ = snapshot(jwql_db)
        assert next(f for f in files if f.filename == victim.name).deleted_at is None


def test_repaired_file_loses_its_failure(sqlite_db, small_archive, archive_copy, tmp_path) -> None:
    archive = archive_resource(archive_copy, tmp_path)
    empty = next(b for b in small_archive.truth["bad_files"] if b["kind"] == "empty")
    program, instrument = empty["program"], _instrument_of(empty["name"])
    good = next(p for p in small_archive.files(program=program, instrument=instrument))
    with dg.instance_for_test() as instance:
        run_partition(instance, archive, sqlite_db, program, instrument)
        assert empty["name"] in {f.filename for f in snapshot(sqlite_db)[1]}
        shutil.copy(good, archive_copy / empty["path"])
        run_partition(instance, archive, sqlite_db, program, instrument)
    files, failures = snapshot(sqlite_db)
    assert empty["name"] not in {f.filename for f in failures}
    assert next(f for f in files if f.filename == empty["name"]).exp_type is not None


RUN_SCRIPT = """
import os, sys, time
import dagster as dg
from jwql_dagster.archive.assets import archive_files
from jwql_dagster.partitions import program_instrument_key
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.resources import JwqlDatabase
root, out, url, program, instrument, go = sys.argv[1:]
archive = ArchiveFilesystem(filesystem=root, preview_root=out, thumbnail_root=out, output_root=out, working_root=out,
                            log_root=out, central_store=out, dagster_home=out)
instance = dg.DagsterInstance.ephemeral()
instance.add_dynamic_partitions("program", [program])
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.005)
result = dg.materialize([archive_files], instance=instance, partition_key=program_instrument_key(program, instrument),
                        resources={"archive": archive, "db": JwqlDatabase(url=url)}, raise_on_error=False)
sys.exit(0 if result.success else 3)
"""


@pytest.mark.postgres
def test_two_runs_starting_together_on_a_fresh_postgres_database(pg_url, small_archive, tmp_path) -> None:
    """Two processes (as the multiprocess executor runs them) on a database nobody has migrated yet."""
    bad = next(b for b in small_archive.truth["bad_files"] if b["kind"] == "bad_name")
    program = bad["program"]
    instruments = sorted({r["instrument"] for r in small_archive.records(program=program).values()})[:2]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RUN_SCRIPT, str(small_archive.root), str(tmp_path / "out"), pg_url,
                               program, instrument, str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for instrument in instruments]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.communicate()[1][-3000:]
    go.touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    db = JwqlDatabase(url=pg_url)
    files, failures = snapshot(db)
    db.dispose()
    assert {f.instrument for f in files} == set(instruments)
    assert [f.filename for f in failures if f.instrument is None] == [bad["name"]]


def test_unknown_instrument_partition_of_program_has_no_files(sqlite_db, small_archive, tmp_path) -> None:
    archive = archive_resource(small_archive.root, tmp_path)
    program = small_archive.programs[0]
    present = {r["instrument"] for r in small_archive.records(program=program).values()}
    absent = next(i for i in INSTRUMENTS if i not in present)
    with dg.instance_for_test() as instance:
        result = run_partition(instance, archive, sqlite_db, program, absent)
    meta = result.asset_materializations_for_node("archive_files")[0].metadata
    assert meta["files"].value == 0 and meta["dagster/row_count"].value == 0


def test_missing_archive_root_fails_without_marking_files_deleted(sqlite_db, small_archive, archive_copy, tmp_path) -> None:
    program, instrument = combos(small_archive.truth)[0]
    with dg.instance_for_test() as instance:
        assert run_partition(instance, archive_resource(archive_copy, tmp_path), sqlite_db, program, instrument).success
        archive_copy.rename(tmp_path / "unmounted")
        instance.add_dynamic_partitions("program", [program])
        result = dg.materialize([archive_files], instance=instance, partition_key=program_instrument_key(program, instrument),
                                resources={"archive": archive_resource(archive_copy, tmp_path), "db": sqlite_db},
                                raise_on_error=False)
    assert not result.success
    files, _ = snapshot(sqlite_db)
    assert files and all(f.deleted_at is None for f in files)


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

