"""A 4D ramp is rendered with a few frames of memory, not the file's size (peak RSS of a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

from tests.rendering import fitsfiles as ff

ROOT = Path(__file__).resolve().parents[2]
NINTS, NGROUPS, NY, NX = 4, 10, 1024, 1024
FRAME_BYTES = NY * NX * 4  # one float32 frame

# Peak RSS of this process's own address space: VmHWM. ru_maxrss would do on a fresh
# process, but Linux carries the parent's RSS into a child's ru_maxrss at fork/exec, so
# a child of a big pytest process could never show growth; VmHWM restarts at exec.
_CHILD = r"""
import json, resource, sys, tempfile
from jwql_dagster.demo.memory import peak_rss_kb as peak_kb
from jwql_dagster.previews.render import render_file
out = tempfile.mkdtemp()
render_file(sys.argv[1], out, out)  # warm-up on a tiny file: imports, fonts, colormap
base = peak_kb()
res = render_file(sys.argv[2], out, out)
peak = peak_kb()
print(json.dumps({"base_kb": base, "peak_kb": peak, "previews": len(res.previews)}))
"""


def _write_ramp(path: Path) -> None:
    """A uint16 4D uncal written one group at a time (BZERO-scaled, as JWST writes it)."""
    fits.HDUList([ff.primary(subsize=(NX, NY))]).writeto(path)
    header = fits.Header()
    for key, value in [("XTENSION", "IMAGE"), ("BITPIX", 16), ("NAXIS", 4), ("NAXIS1", NX), ("NAXIS2", NY),
                       ("NAXIS3", NGROUPS), ("NAXIS4", NINTS), ("PCOUNT", 0), ("GCOUNT", 1), ("BZERO", 32768),
                       ("BSCALE", 1), ("EXTNAME", "SCI"), ("BUNIT", "DN")]:
        header[key] = value
    noise = np.random.default_rng(0).integers(0, 40, (NY, NX), dtype=np.int32)
    with open(path, "ab") as fh:
        fh.write(header.tostring().encode("ascii"))
        for i in range(NINTS):
            for g in range(NGROUPS):
                group = np.roll(noise, 7 * (i * NGROUPS + g), axis=1) + 30 * g - 20000
                fh.write(group.astype(">i2").tobytes())
        fh.write(b"\0" * ((-fh.tell()) % 2880))


def test_4d_peak_memory_is_a_few_frames_not_the_file(tmp_path: Path) -> None:
    big = tmp_path / "jw01068001001_02102_00001_nrcb1_uncal.fits"
    _write_ramp(big)
    tiny = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb2_rate.fits", np.ones((16, 16), np.float32))
    size = big.stat().st_size
    assert size > 20 * FRAME_BYTES  # reading it whole (or as float) would blow the bound below
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tiny), str(big)], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, MPLBACKEND="Agg"), timeout=300, check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["previews"] == NINTS
    grown = (result["peak_kb"] - result["base_kb"]) * 1024
    assert grown < 8 * FRAME_BYTES, f"rendering grew RSS by {grown / FRAME_BYTES:.1f} frames"
