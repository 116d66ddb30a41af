"""The preview root fills up mid-run (issue 20): a clear failure per file, no truncated JPEG, the run
fails visibly, and once space returns the same cell and the rest of the archive render normally.

The preview root is a small tmpfs mounted by the test (root only; skipped with the reason otherwise).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.production.stack import REPO, broken_images, expected_outputs, temp_files

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FULL_SIZE = "384k"  # a few previews fit, then the disk is full


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip() or f"exit code {proc.returncode}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs for the disk-full test on CI: {why}")
        pytest.skip(f"cannot mount a tmpfs (needs root): {why}")


@pytest.fixture
def small_preview_root(tmp_path: Path):
    root = tmp_path / "preview_images"
    _mount_tmpfs(root, FULL_SIZE)
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], capture_output=True)


def _run_cells(env: dict[str, str], *keys: str) -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "tests.production.run_cell", *keys], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {o["key"]: o for o in out}


def _stale_cells(env: dict[str, str]) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "tests.production.run_cell", "--stale"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return next(json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))["stale"]


def _failure_rows(home: Path, program: str) -> list[tuple[str, str, str]]:
    with sqlite3.connect(home / "jwql.db") as conn:
        return conn.execute("SELECT filename, error_type, reason FROM file_failures WHERE program = ? "
                            "AND product != 'archive_files'", (program,)).fetchall()


def test_full_preview_disk_fails_the_run_per_file_and_recovers(tmp_path: Path, fault_archive: Path,
                                                               small_preview_root: Path) -> None:
    truth = json.loads((fault_archive / "synthetic_truth.json").read_text())
    cells: dict[tuple[str, str], int] = {}
    for rec in truth["files"].values():
        cells[(rec["program"], rec["instrument"])] = cells.get((rec["program"], rec["instrument"]), 0) + 1
    (big_program, big_instrument), _ = max(cells.items(), key=lambda kv: kv[1])
    other = next((p, i) for p, i in sorted(cells) if p != big_program and i != "fgs")
    full_key, other_key = f"{big_instrument}|{big_program}", f"{other[1]}|{other[0]}"

    home = tmp_path / "jwql_home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(JWQL_HOME=str(home), JWQL_FILESYSTEM=str(fault_archive), JWQL_PREVIEW_ROOT=str(small_preview_root),
               DAGSTER_HOME=str(tmp_path / "dagster_home"), JWQL_PREVIEW_WORKERS="2", MPLBACKEND="Agg")
    (tmp_path / "dagster_home").mkdir()

    # 1. the disk fills up while the cell renders
    first = _run_cells(env, full_key)[full_key]
    assert not first["success"] and first["status"] == "FAILURE", f"the run did not fail visibly: {first}"
    assert any("No space left on device" in e or "ENOSPC" in e for e in first["errors"]), first["errors"]
    rows = _failure_rows(home, big_program)
    assert rows, "no failure record for the files that could not be written"
    assert all(r[2] and "No space left on device" in r[2] for r in rows), rows
    roots = (small_preview_root, home / "thumbnails")
    assert not broken_images(*roots), "a truncated or undecodable JPEG was left behind"
    assert not temp_files(*roots), "unfinished writes left in the output roots"
    stale = _stale_cells(env)
    assert full_key in stale, f"the next daily rescan would not try {full_key} again: {stale}"

    # 2. space returns: the same cell is complete, its failure records are gone, the rest of the archive renders
    subprocess.run(["mount", "-o", "remount,size=256m", str(small_preview_root)], check=True)
    again = _run_cells(env, full_key, other_key)
    assert again[full_key]["success"] and again[other_key]["success"], again
    assert _failure_rows(home, big_program) == []
    expected = expected_outputs(fault_archive)
    for program, instrument in ((big_program, big_instrument), other):
        from jwql_dagster.archive.filenames import parse_filename

        wanted = {n for n in expected.get(f"preview_images/{program}", set())
                  if _instrument_of(n, parse_filename) == instrument}
        have = {p.name for p in (small_preview_root / program).glob("*.jpg")}
        assert wanted and wanted <= have, f"{program} {instrument}: missing {sorted(wanted - have)[:5]}"
    assert not broken_images(*roots)
    assert not temp_files(*roots)


def _instrument_of(preview_name: str, parse) -> str | None:
    stem = preview_name.rsplit("_integ", 1)[0]
    try:
        return parse(f"{stem}.fits")["instrument"]
    except Exception:  # noqa: BLE001 - names the parser does not know belong to no instrument
        return None
