"""The whole-archive benchmark's own logic: the archive it plans, how it judges outputs, how it stops processes.

Cheap checks only (no rendering, no dagster dev): a wrong plan or a lenient output check
would make every figure the benchmark prints meaningless.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_archive  # noqa: E402
import dagster_dev  # noqa: E402
import jwql_baseline  # noqa: E402


def test_plan_has_a_nircam_pair_and_a_miri_file_per_program():
    files = bench_archive.archive_plan(3)
    assert len(files) == 9
    by_program: dict[str, list[str]] = {}
    for f in files:
        by_program.setdefault(f["program"], []).append(Path(f["rel"]).name)
        area, program, visit, name = f["rel"].split("/")
        assert area in ("public", "proprietary") and program == f["program"] and name.startswith(visit)
    for names in by_program.values():
        dets = sorted(n.split("_")[3] for n in names)
        assert dets == ["mirimage", "nrca1", "nrcb1"]
        assert all(n.endswith("_rate.fits") for n in names)


def test_expected_outputs_names_match_jwql_and_one_mosaic_per_program():
    files = bench_archive.archive_plan(2)
    exp = bench_archive.expected_outputs(files)
    assert len(exp["jwql_previews"]) == len(exp["jwql_thumbs"]) == 6
    assert len(exp["mosaics"]) == 2 and all("NRC_SWALL_MOSAIC" in m for m in exp["mosaics"])
    assert len(exp["cells"]) == 4  # nircam and miri of each program
    assert bench_archive.partition_names(exp) == [f"{i}|{p}" for p, i in exp["cells"]]


def _write(root: Path, names: set[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_outputs_count_as_made_only_when_every_file_and_mosaic_has_both_products(tmp_path: Path):
    exp = bench_archive.expected_outputs(bench_archive.archive_plan(2))
    previews, thumbs = tmp_path / "p", tmp_path / "t"
    _write(previews, exp["jwql_previews"])
    _write(thumbs, exp["jwql_thumbs"])
    assert not bench_archive.all_made(exp, *bench_archive.listing(previews, thumbs))  # no mosaics yet
    _write(previews, {m + ".jpg" for m in exp["mosaics"]})
    assert not bench_archive.all_made(exp, *bench_archive.listing(previews, thumbs))  # mosaic thumbnails missing
    _write(thumbs, {m + ".thumb" for m in exp["mosaics"]})
    _write(previews, {exp["programs"][0] + "/.tmp-half.jpg"})  # hidden temporaries never count
    p, t = bench_archive.listing(previews, thumbs)
    assert bench_archive.all_made(exp, p, t)
    check = bench_archive.check_outputs(exp, p, t)
    assert check["missing_previews"] == check["missing_thumbs"] == [] and check["other_extra"] == []
    assert check["mosaic_previews"] == check["mosaic_thumbs"] == 2
    (previews / sorted(exp["jwql_previews"])[0]).unlink()
    p, t = bench_archive.listing(previews, thumbs)
    assert bench_archive.check_outputs(exp, p, t)["missing_previews"] == [sorted(exp["jwql_previews"])[0]]


def test_jwql_overlay_serves_our_config_and_the_installed_modules(tmp_path: Path):
    package = tmp_path / "site" / "jwql"
    (package / "utils").mkdir(parents=True)
    (package / "utils" / "utils.py").write_text("X = 1\n")
    (package / "config.json").write_text('{"filesystem": "/the/shared/one"}')
    overlay = jwql_baseline.make_overlay(tmp_path / "overlay", package, {"filesystem": "/tmp/ours"})
    assert json.loads((overlay / "jwql" / "config.json").read_text()) == {"filesystem": "/tmp/ours"}
    assert (overlay / "jwql" / "utils").resolve() == (package / "utils").resolve()
    assert json.loads((package / "config.json").read_text()) == {"filesystem": "/the/shared/one"}  # untouched


def test_stop_ends_the_whole_process_group(tmp_path: Path):
    procs = dagster_dev.Processes()
    pidfile = tmp_path / "child.pid"
    code = ("import subprocess, sys, time\n"
            f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
            "time.sleep(600)\n")
    proc = procs.start([sys.executable, "-c", code], env=dict(os.environ), cwd=tmp_path, log=tmp_path / "log")
    deadline = time.monotonic() + 30
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "child never started"
        time.sleep(0.1)
    child = int(pidfile.read_text())
    procs.stop_all()
    assert proc.poll() is not None
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "grandchild survived"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is dead, awaiting its reaper
    except (FileNotFoundError, ProcessLookupError):
        return False
