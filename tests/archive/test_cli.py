"""The archive commands as a user runs them: `make-archive` builds the archive with a progress bar and refuses
foreign folders; register-programs and materialize-all run as subprocesses with JWQL_HOME/DAGSTER_HOME in tmp."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from jwql_dagster.cli import main


def test_make_archive_command(tmp_path, capsys):
    root = tmp_path / "archive"
    assert main(["make-archive", str(root), "--programs", "2", "--seed", "4", "--with-bad-files"]) == 0
    out, err = capsys.readouterr()
    assert "make-archive" in err and "100%" in err  # the progress bar ran to the end
    truth = json.loads((root / "synthetic_truth.json").read_text())
    assert f"{len(truth['files'])} files" in out and "6 bad files" in out
    assert str(root / "synthetic_truth.json") in out
    assert truth["seed"] == 4 and len(truth["programs"]) == 2
    assert {p["area"] for p in truth["programs"]} == {"public", "proprietary"}
    assert all((root / rel).is_file() for rel in truth["files"])


def test_make_archive_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "data.txt").write_text("not ours")
    assert main(["make-archive", str(tmp_path)]) == 1
    _, err = capsys.readouterr()
    assert "refusing" in err and str(tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.txt"]


def test_make_archive_rejects_bad_arguments(tmp_path, capsys):
    for argv in (["--programs", "0"], ["--size", "huge"], ["--seed", "x"]):
        try:
            main(["make-archive", str(tmp_path / "a"), *argv])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{argv} accepted")
        assert "make-archive" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


CLI = str(Path(sys.executable).with_name("jwql-dagster"))


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def user_env(tmp_path: Path, archive: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(JWQL_HOME=str(tmp_path / "home"), JWQL_FILESYSTEM=str(archive))
    return env


def test_register_programs_then_materialize_all_archive_files(small_archive, tmp_path: Path) -> None:
    env = user_env(tmp_path, small_archive.root)
    first = cli(env, "register-programs")
    assert first.returncode == 0, first.stderr
    assert f"added {len(small_archive.programs)} program partition(s): {', '.join(small_archive.programs)}" in first.stdout
    again = cli(env, "register-programs")
    assert "added 0 program partition(s)" in again.stdout

    done = cli(env, "materialize-all", "--select", "archive_files")
    assert done.returncode == 0, done.stdout + done.stderr
    combos = {(r["program"], r["instrument"]) for r in small_archive.truth["files"].values()}
    assert f"summary: {len(combos)} succeeded, 0 failed" in done.stdout
    with sqlite3.connect(tmp_path / "home" / "jwql.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM files").fetchone()
    assert count >= len(small_archive.truth["files"])
    # The runs are in the instance the UI reads.
    runs = list((tmp_path / "home" / "dagster_home" / "storage").iterdir())
    assert len(runs) >= len(combos)


def test_materialize_all_reports_failures_and_exits_1(small_archive, tmp_path: Path) -> None:
    env = user_env(tmp_path, small_archive.root)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env["JWQL_DATABASE_URL"] = f"sqlite:///{blocker}/jwql.db"  # its folder cannot be created
    assert cli(env, "register-programs").returncode == 0
    out = cli(env, "materialize-all", "--select", "archive_files")
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "0 succeeded" in out.stdout
    assert "cannot use database" in out.stdout


def test_materialize_all_rejects_unknown_selection(tmp_path: Path) -> None:
    env = user_env(tmp_path, tmp_path)
    out = cli(env, "materialize-all", "--select", "no_such_thing", "--dry-run")
    assert out.returncode != 0 and "unknown group or asset no_such_thing" in (out.stdout + out.stderr)
