"""Hostile FITS files in a partition: each gets a correct image or a recorded failure, and the others all get outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

from jwql_dagster.options import JwqlOptions
from tests.reliability.conftest import (
    PROGRAM,
    VISIT,
    complete_jpeg,
    failures,
    good_rate,
    hostile_files,
    primary,
    rate_name,
    run_partition,
    run_program_products,
)

ROOT = Path(__file__).resolve().parents[2]
# Words a user needs in the reason of each kind that must fail.
REASON_WORDS = {
    "truncated": "truncated",
    "zero_byte": ("empty", "zero"),
    "not_fits": "not",
    "no_sci": "SCI",
    "sci_1d": "dimension",
    "sci_5d": "dimension",
    "dq_mismatch": "DQ",
}


def test_each_hostile_file_gets_an_image_or_a_reason_and_the_rest_of_the_partition_is_done(rel_env) -> None:
    settings, resources, instance = rel_env
    visit = settings.filesystem / "public" / PROGRAM / VISIT
    hostile = hostile_files(visit)
    good = [good_rate(visit / rate_name(e), seed=e).name for e in (1, 2, 3)]
    # a pool of two workers, as in production: a file that breaks a worker must not stop the others
    resources["options"] = JwqlOptions(preview_workers=2, max_failure_rate=1.0, inline_previews="all")

    result = run_partition(resources, instance)

    assert result.success
    prev = settings.preview_root / PROGRAM
    thumbs = settings.thumbnail_root / PROGRAM
    failed = failures(resources["db"])
    for name in good:
        stem = name[: -len(".fits")]
        assert complete_jpeg(prev / f"{stem}_integ0.jpg"), name
        assert complete_jpeg(thumbs / f"{stem}_integ0.thumb"), name
        assert not any(f == name for f, _ in failed), failed
    for name, (kind, expect) in hostile.items():
        stem = name[: -len(".fits")]
        image = prev / f"{stem}_integ0.jpg"
        reasons = [r for (f, _), r in failed.items() if f == name]
        has_image = image.exists() and complete_jpeg(image)
        assert has_image or reasons, f"{kind}: neither a preview nor a failure row"
        assert not (has_image and reasons), f"{kind}: both a preview and a failure {reasons}"
        if expect == "image":
            assert has_image, f"{kind} should render, got {reasons}"
        if expect == "failure":
            assert reasons, f"{kind} should fail, rendered instead"
        for reason in reasons:
            assert reason and len(reason) < 1100, (kind, reason)
            words = REASON_WORDS.get(kind)
            if words:
                words = (words,) if isinstance(words, str) else words
                assert any(w.lower() in reason.lower() for w in words), (kind, reason)
    # the 4D ramp shows its two integrations
    assert complete_jpeg(prev / f"{rate_name(22, suffix='uncal')[:-5]}_integ1.jpg")
    # no temporary or partial output left behind
    assert not [p for p in prev.iterdir() if p.name.startswith(".tmp-")]
    assert not [p for p in thumbs.iterdir() if p.name.startswith(".tmp-")]
    # the coverage check sees every file covered (a preview or a recorded failure)
    checks = result.get_asset_check_evaluations()
    assert checks and checks[0].metadata["missing"].value == 0, checks[0].description

    # program products still build from what exists, and a rerun changes nothing and records no duplicates
    run_program_products(resources, instance)
    assert (thumbs / f"{PROGRAM}.thumb").exists()
    before = sorted(p.name for p in prev.iterdir())
    again = run_partition(resources, instance)
    assert again.success
    assert sorted(p.name for p in prev.iterdir()) == before
    assert failures(resources["db"]) == failed


# ------------------------------------------------------------------ 4D memory bound

_CHILD = r"""
import json, sys
from pathlib import Path
def peak_kb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
from jwql_dagster.previews.worker import RenderTask, run_task
out = sys.argv[1]
def render(path):
    o = run_task(RenderTask("file", Path(path).name, [path], out, out))
    assert o.ok, o.reason
    return len(o.previews)
render(sys.argv[2])  # warm-up: imports, fonts, colour map
base = peak_kb()
n = render(sys.argv[3])
print(json.dumps({"base_kb": base, "peak_kb": peak_kb(), "previews": n}))
"""

NY = NX = 512
FRAME = NY * NX * 4  # one float32 frame


def _write_ramp(path: Path, nints: int, ngroups: int) -> Path:
    """A uint16 BZERO-scaled 4D uncal written group by group (never held in memory whole)."""
    fits.HDUList([primary(NINTS=nints, NGROUPS=ngroups)]).writeto(path)
    h = fits.Header()
    for k, v in [("XTENSION", "IMAGE"), ("BITPIX", 16), ("NAXIS", 4), ("NAXIS1", NX), ("NAXIS2", NY),
                 ("NAXIS3", ngroups), ("NAXIS4", nints), ("PCOUNT", 0), ("GCOUNT", 1), ("BZERO", 32768),
                 ("BSCALE", 1), ("EXTNAME", "SCI"), ("BUNIT", "DN")]:
        h[k] = v
    noise = np.random.default_rng(0).integers(0, 50, (NY, NX)).astype(np.int32)
    with open(path, "ab") as fh:
        fh.write(h.tostring().encode("ascii"))
        for i in range(nints):
            for g in range(ngroups):
                fh.write((np.roll(noise, i + g, axis=0) + 20 * g - 30000).astype(">i2").tobytes())
        fh.write(b"\0" * ((-fh.tell()) % 2880))
    return path


def _peak_growth(tmp: Path, path: Path, warm: Path) -> tuple[int, int]:
    out = tmp / f"out-{path.stem}"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(out), str(warm), str(path)], capture_output=True,
                          text=True, cwd=ROOT, env=dict(os.environ, MPLBACKEND="Agg"), timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return (res["peak_kb"] - res["base_kb"]) * 1024, res["previews"]


def test_4d_file_far_larger_than_its_memory_bound_renders_in_a_few_frames(tmp_path: Path) -> None:
    warm = good_rate(tmp_path / rate_name(1), n=NX)  # same frame size: the fixed costs are paid before the baseline
    small = _write_ramp(tmp_path / rate_name(2, suffix="uncal"), nints=2, ngroups=4)
    big = _write_ramp(tmp_path / rate_name(3, suffix="uncal"), nints=4, ngroups=30)
    assert big.stat().st_size > 50 * FRAME / 2  # 120 uint16 frames = 60 float32 frames
    assert big.stat().st_size > 10 * small.stat().st_size
    grow_small, n_small = _peak_growth(tmp_path, small, warm)
    grow_big, n_big = _peak_growth(tmp_path, big, warm)
    assert (n_small, n_big) == (2, 4)
    # A few frames whatever the file size; reading the file whole would grow by its size.
    # (measured: 6.5 frames for both files; 12 leaves room for allocator noise on a busy machine)
    assert grow_big < 12 * FRAME, f"grew {grow_big / FRAME:.1f} frames for a {big.stat().st_size / FRAME:.0f}-frame file"
    assert grow_big < 0.2 * big.stat().st_size
    assert grow_big - grow_small < 0.1 * (big.stat().st_size - small.stat().st_size)


def test_file_cut_after_its_sci_data_is_reported_truncated_not_rendered_without_its_dq(rel_env) -> None:
    """A copy that stopped after SCI has lost DQ (and the FITS 2880-byte padding): rendering it with a
    guessed mask would hide the damage, so it is a recorded failure like any truncated file."""
    settings, resources, instance = rel_env
    visit = settings.filesystem / "public" / PROGRAM / VISIT
    path = good_rate(visit / rate_name(1), seed=1)
    raw = path.read_bytes()
    sci_end = 2880 * 2 + 48 * 48 * 4  # primary + SCI header + SCI data, before its padding and the DQ HDU
    path.write_bytes(raw[:sci_end + 100])
    assert run_partition(resources, instance).success
    reasons = [r for (f, _), r in failures(resources["db"]).items() if f == path.name]
    assert reasons and any("truncated" in r for r in reasons), reasons
    assert not (settings.preview_root / PROGRAM / f"{path.stem}_integ0.jpg").exists()
