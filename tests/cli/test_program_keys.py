"""Program keys typed by hand (the UI's "Add a partition" accepts any text) are caught (issue 19, item 5):
register-programs adds only jw + five digits, an archive_files run of a bad key fails with a sentence
saying why, and `doctor` lists bad keys with the command that deletes them, which works."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from jwql_dagster.archive.assets import archive_files
from jwql_dagster.archive.resources import ArchiveFilesystem
from jwql_dagster.db.resources import JwqlDatabase
from jwql_dagster.partitions import program_instrument_key
from tests.cli.support import cli, user_env

BAD_KEYS = ["jw1068", "JW01068", "jw010680", "../etc", "jw0106８"]  # the last one ends in a full-width digit


def programs_of(home: Path) -> set[str]:
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        return set(instance.get_dynamic_partitions("program"))


def add_by_hand(home: Path, keys: list[str]) -> None:
    """What the UI's "Add a partition" dialog does with whatever was typed."""
    with dg.DagsterInstance.from_config(str(home / "dagster_home")) as instance:
        instance.add_dynamic_partitions("program", keys)


@pytest.mark.slow
def test_register_programs_adds_only_program_folders(small_archive, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    shutil.copytree(small_archive.root, archive, symlinks=True)
    for odd in ("jw1068", "JW01068", "jw010680", "notes"):
        (archive / "public" / odd).mkdir()
    env = user_env(tmp_path, archive)
    out = cli(env, "register-programs")
    assert out.returncode == 0, out.stderr
    assert programs_of(tmp_path / "home") == set(small_archive.programs)


@pytest.mark.slow
def test_doctor_lists_bad_keys_and_the_command_removes_only_them(small_archive, tmp_path: Path) -> None:
    env = user_env(tmp_path, small_archive.root)
    assert cli(env, "register-programs").returncode == 0
    healthy = cli(env, "doctor", "--no-network")
    assert "[ok] program partitions of" in healthy.stdout and "every key is jw + five digits" in healthy.stdout

    add_by_hand(tmp_path / "home", BAD_KEYS)
    sick = cli(env, "doctor", "--no-network")
    assert sick.returncode == 1
    line = next(line for line in sick.stdout.splitlines() if "program partitions of" in line)
    assert line.lstrip().startswith("[FAIL]") and f"{len(BAD_KEYS)} key(s) are not jw + five digits" in line
    for key in BAD_KEYS:
        assert repr(key) in line
    for program in small_archive.programs:
        assert program not in line
    assert "jwql-dagster register-programs --remove-invalid" in line

    dry = cli(env, "register-programs", "--remove-invalid", "--dry-run")
    assert f"would remove {len(BAD_KEYS)} invalid program partition(s)" in dry.stdout
    assert programs_of(tmp_path / "home") == set(small_archive.programs) | set(BAD_KEYS)
    fixed = cli(env, "register-programs", "--remove-invalid")
    assert fixed.returncode == 0, fixed.stderr
    assert f"removed {len(BAD_KEYS)} invalid program partition(s)" in fixed.stdout
    assert programs_of(tmp_path / "home") == set(small_archive.programs)
    assert "every key is jw + five digits" in cli(env, "doctor", "--no-network").stdout


@pytest.mark.parametrize("bad", ["jw1068", "../etc"])
def test_an_archive_files_run_of_a_bad_key_fails_saying_why(small_archive, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "out"
    archive = ArchiveFilesystem(filesystem=str(small_archive.root), preview_root=str(out / "previews"),
                                thumbnail_root=str(out / "thumbs"), output_root=str(out / "outputs"),
                                working_root=str(out / "working"), log_root=str(out / "logs"), central_store=str(out),
                                dagster_home=str(out / "dagster_home"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [bad])
        result = dg.materialize([archive_files], instance=instance, partition_key=program_instrument_key(bad, "nircam"),
                                resources={"archive": archive, "db": JwqlDatabase(url=f"sqlite:///{tmp_path}/jwql.db")},
                                raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.event_specific_data.error.to_string())
    assert (f"program partition key(s) {bad!r} are not jw + five digits (e.g. jw01068); nothing was changed. "
            "Remove them with `jwql-dagster register-programs --remove-invalid`.") in message


def test_a_range_run_with_one_bad_key_changes_nothing(small_archive, tmp_path: Path) -> None:
    """A run over a range of programs (as materialize-all and backfills launch) that holds one hand-typed key
    writes no cell of the range, not even the good ones before it."""
    out = tmp_path / "out"
    archive = ArchiveFilesystem(filesystem=str(small_archive.root), preview_root=str(out / "previews"),
                                thumbnail_root=str(out / "thumbs"), output_root=str(out / "outputs"),
                                working_root=str(out / "working"), log_root=str(out / "logs"), central_store=str(out),
                                dagster_home=str(out / "dagster_home"))
    good = sorted(small_archive.programs)
    db = JwqlDatabase(url=f"sqlite:///{tmp_path}/jwql.db")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [*good, "jw1068"])  # "jw1068" sorts after every jw0....
        first, last = program_instrument_key(good[0], "nircam"), program_instrument_key("jw1068", "nircam")
        result = dg.materialize([archive_files], instance=instance, resources={"archive": archive, "db": db},
                                tags={"dagster/asset_partition_range_start": str(first),
                                      "dagster/asset_partition_range_end": str(last)},
                                raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "'jw1068' are not jw + five digits" in str(failure.event_specific_data.error.to_string())
    from jwql_dagster.db import files as files_sql
    for program in good:
        rows, _ = files_sql.cell_rows(db, program, "nircam", "archive_files")
        assert rows == {}, program
