"""Preview rendering benchmark: ours vs jwql 1.4.1's PreviewImage vs a numpy+Pillow floor, in one run.

Usage (from the project root):

    .venv/bin/python benchmarks/bench_previews.py [--workdir DIR] [--repeat 2] [--skip-jwql]

Files (full size, written once into the work folder): a 2048x2048 rate (SCI+ERR+DQ),
a rateints with 5 integrations, and a 4D uncal of 10 integrations x 10 groups of
2048x2048 uint16 (840 MB). They come from the synthetic archive generator's per-file
writer when it offers one, else they are written here with astropy.

Each contender runs in its own subprocess (imports done before timing); per file it
makes every shown preview plus the integration-0 thumbnail; the figure is the median
over ``--repeat`` runs after one warm-up run (cold = the first run, with font and
layout set-up):

* jwql: ``PreviewImage(file, "SCI")`` + ``make_image(max_img_size=8, create_thumbnail=True)``
  in a virtual environment created on first use outside the repo (``--venv``, default
  ~/.cache/jwql-bench-venv): ``pip install --no-deps jwql==1.4.1``, then its runtime
  dependencies, then ``config.json`` copied from the package's ``example_config.json``.
* floor: the same outputs at the same pixel sizes with numpy + Pillow only: read the
  frames, one ``np.partition`` for the 1% limits, log stretch, colormap lookup table,
  JPEG encode, write; no labels.
* peak RSS of rendering the 4D file in a fresh subprocess vs the file size and vs the
  interpreter+imports baseline, in frames of 2048x2048 float32. The peak is VmHWM (the
  process's own high-water mark): on Linux a child's ``ru_maxrss`` starts from its
  parent's RSS at fork/exec, which would hide the child's own use behind ours.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
JWQL_VERSION = "1.4.1"
JWQL_DEPS = ["pyvo", "jsonschema", "bokeh", "selenium", "asdf", "inflection", "stdatamodels", "jwst", "numpy",
             "astropy", "matplotlib"]
NY = NX = 2048
FILES = {
    "rate": "jw01068001001_02102_00001_nrcb1_rate.fits",
    "rateints": "jw01068001001_02102_00001_nrcb2_rateints.fits",
    "uncal": "jw01068001001_02102_00001_nrcb3_uncal.fits",
}
UNCAL_SHAPE = (10, 10, NY, NX)
RATEINTS_NINTS = 5


# ----------------------------------------------------------------------------- files
def _primary(detector: str):
    from astropy.io import fits

    h = fits.Header()
    h["TELESCOP"], h["INSTRUME"], h["DETECTOR"] = "JWST", "NIRCAM", detector
    h["SUBSTRT1"], h["SUBSTRT2"], h["SUBSIZE1"], h["SUBSIZE2"] = 1, 1, NX, NY
    return h


def _scene(seed: int) -> np.ndarray:
    """Sky, noise, a few stars and bad pixels: a plausible 2048x2048 rate image (float32)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0.5, 0.05, (NY, NX)).astype(np.float32)
    for _ in range(60):
        y, x = rng.integers(16, NY - 16, 2)
        amp = float(rng.uniform(5, 500))
        yy, xx = np.mgrid[y - 8 : y + 9, x - 8 : x + 9]
        img[y - 8 : y + 9, x - 8 : x + 9] += amp * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / 4.0)
    img[rng.integers(0, NY, 2000), rng.integers(0, NX, 2000)] = np.nan
    return img


def _dq() -> np.ndarray:
    dq = np.zeros((NY, NX), dtype=np.uint32)
    dq[:4] = dq[-4:] = 2**31
    dq[:, :4] = dq[:, -4:] = 2**31
    return dq


def _write_own(kind: str, path: Path) -> None:
    from astropy.io import fits

    if kind in ("rate", "rateints"):
        n = 1 if kind == "rate" else RATEINTS_NINTS
        sci = np.stack([_scene(7 + i) for i in range(n)]) if n > 1 else _scene(7)
        dq = np.broadcast_to(_dq(), sci.shape).copy()
        sh = fits.ImageHDU(sci, name="SCI")
        sh.header["BUNIT"] = "DN/s"
        hdus = [fits.PrimaryHDU(header=_primary("NRCB1" if kind == "rate" else "NRCB2")), sh,
                fits.ImageHDU(np.full_like(sci, 0.01), name="ERR"), fits.ImageHDU(dq, name="DQ")]
        fits.HDUList(hdus).writeto(path, overwrite=True)
        return
    # 4D uncal: stream one integration at a time (840 MB never sits in memory twice).
    nints, ngroups, ny, nx = UNCAL_SHAPE
    fits.HDUList([fits.PrimaryHDU(header=_primary("NRCB3"))]).writeto(path, overwrite=True)
    header = fits.Header()
    header["XTENSION"] = "IMAGE"
    header["BITPIX"] = 16
    header["NAXIS"] = 4
    header["NAXIS1"], header["NAXIS2"], header["NAXIS3"], header["NAXIS4"] = nx, ny, ngroups, nints
    header["PCOUNT"], header["GCOUNT"] = 0, 1
    header["BZERO"], header["BSCALE"] = 32768, 1
    header["EXTNAME"] = "SCI"
    header["BUNIT"] = "DN"
    rate = _scene(11)
    rate = np.nan_to_num(rate, nan=0.5) * 20.0
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 3.0, (ny, nx)).astype(np.float32)
    with open(path, "ab") as fh:
        fh.write(header.tostring().encode("ascii"))
        for i in range(nints):
            for g in range(ngroups):
                frame = 12000.0 + rate * g + np.roll(noise, 17 * (i * ngroups + g), axis=1)
                raw = np.clip(np.round(frame), 0, 65535).astype(np.int32) - 32768
                fh.write(raw.astype(">i2").tobytes())
        pad = (-fh.tell()) % 2880
        fh.write(b"\0" * pad)


def _synthetic_writer():
    """The archive generator's per-file writer, or None when this checkout has none."""
    try:
        from jwql_dagster.demo.synthetic import write_exposure
    except ImportError:
        return None
    return write_exposure


def make_files(workdir: Path) -> tuple[dict[str, Path], str]:
    """The three benchmark files, written once (reused when present), and who wrote them."""
    writer = _synthetic_writer()
    source = "core/synthetic.py write_exposure" if writer else "this benchmark (astropy)"
    workdir = workdir / ("synthetic" if writer else "own")
    workdir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, name in FILES.items():
        path = workdir / name
        if not path.exists():
            print(f"writing {kind}: {path}", flush=True)
            if writer:
                nints, ngroups = {"rate": (1, 2), "rateints": (RATEINTS_NINTS, 2), "uncal": UNCAL_SHAPE[:2]}[kind]
                writer(path, nints=nints, ngroups=ngroups)
            else:
                tmp = path.with_suffix(".partial")
                _write_own(kind, tmp)
                os.replace(tmp, path)
        paths[kind] = path
    return paths, source


# ----------------------------------------------------------------------------- runners
_RUN_TEMPLATE = textwrap.dedent(
    """
    import json, os, resource, statistics, sys, time
    {imports}
    files = json.loads(sys.argv[1]); out = sys.argv[2]; repeat = int(sys.argv[3])
    result = {{}}
    for kind, path in files.items():
        times = []
        for r in range(repeat + 1):
            pdir = os.path.join(out, kind, str(r), "p"); tdir = os.path.join(out, kind, str(r), "t")
            os.makedirs(pdir, exist_ok=True); os.makedirs(tdir, exist_ok=True)
            t0 = time.perf_counter()
            info = render(path, pdir, tdir)
            times.append(time.perf_counter() - t0)
        result[kind] = {{"cold": times[0], "median": statistics.median(times[1:]), "info": info}}
    print("RESULT " + json.dumps(result))
    """
)

_OURS = """
from jwql_dagster.previews.render import render_file
def render(path, pdir, tdir):
    r = render_file(path, pdir, tdir)
    return {"previews": len(r.previews), "preview_size": r.preview_size, "preview_box": r.preview_box,
            "thumbnail_size": r.thumbnail_size, "nints": r.nints}
"""

_JWQL = """
import warnings; warnings.simplefilter("ignore")
import logging; logging.disable(logging.CRITICAL)
from jwql.utils.preview_image import PreviewImage
def render(path, pdir, tdir):
    im = PreviewImage(path, "SCI")
    im.preview_output_directory = pdir
    im.thumbnail_output_directory = tdir
    im.make_image(max_img_size=8, create_thumbnail=True)
    return {"previews": len(im.preview_images)}
"""

_FLOOR = """
import io
import numpy as np
from astropy.io import fits
from PIL import Image
SIZES = json.loads(os.environ["FLOOR_SIZES"])
import matplotlib
LUT = (matplotlib.colormaps["viridis"].resampled(256)(np.arange(256))[:, :3] * 255 + 0.5).astype(np.uint8)
def select(n):
    return list(range(n)) if n <= 10 else list(range(0, n, 10)) if n <= 100 else list(range(0, n, 100))
def stretch(img, lo, hi):
    x = np.clip(img, lo, hi) - lo
    span = max(hi - lo, 1e-30)
    return np.clip(np.log1p(x) * (255.0 / np.log1p(span)) + 0.5, 0, 255).astype(np.uint8)
def save(img, path):
    buf = io.BytesIO(); img.save(buf, format="JPEG", quality=85)
    with open(path, "wb") as fh: fh.write(buf.getvalue())
def render(path, pdir, tdir):
    size = SIZES[os.path.basename(path)]
    (cw, ch), (x0, y0, w, h), (tw, th) = size["preview_size"], size["preview_box"], size["thumbnail_size"]
    root = os.path.basename(path).split(".")[0]
    with fits.open(path) as hdul:
        sci = hdul["SCI"]; nd = len(sci.shape)
        n = 1 if nd == 2 else sci.shape[0]
        mask = None
        if "DQ" in hdul:
            dq = hdul["DQ"].section[(0,) * (len(hdul["DQ"].shape) - 2)]
            mask = (dq & np.uint32(512 | 2**31)) == 0
        for i in select(n):
            if nd == 2: f = sci.section[:, :].astype(np.float32)
            elif nd == 3: f = sci.section[i].astype(np.float32)
            else: f = sci.section[i, -1].astype(np.float32) - sci.section[i, 0].astype(np.float32)
            fin = np.isfinite(f)
            v = f[fin & mask] if mask is not None else f[fin]
            k = int(0.01 * v.size)
            part = np.partition(v, [k, v.size - k - 1]); lo, hi = float(part[k]), float(part[v.size - k - 1])
            f[~fin] = 0
            small = np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BOX))[::-1]
            canvas = np.full((ch, cw, 3), 255, np.uint8)
            canvas[y0:y0 + h, x0:x0 + w] = LUT[stretch(small, lo, hi)]
            save(Image.fromarray(canvas), os.path.join(pdir, f"{root}_integ{i}.jpg"))
            if i == 0:
                t = np.asarray(Image.fromarray(f).resize((tw, th), Image.Resampling.BOX))[::-1]
                save(Image.fromarray(LUT[stretch(t, lo, hi)]), os.path.join(tdir, f"{root}_integ0.thumb"))
    return {}
"""

_RSS = """
import json, resource, sys, tempfile, time
from jwql_dagster.demo.memory import peak_rss_kb as peak_kb
from jwql_dagster.previews.render import render_file
tiny = tempfile.mkdtemp()
import numpy as np
from astropy.io import fits
fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((16, 16), np.float32), name="SCI")]).writeto(tiny + "/w_rate.fits")
render_file(tiny + "/w_rate.fits", tiny, tiny)  # warm-up: lazy imports, fonts, colormap
base = peak_kb()
out = tempfile.mkdtemp()
t0 = time.perf_counter()
r = render_file(sys.argv[1], out, out)
print("RESULT " + json.dumps({"base_kb": base, "peak_kb": peak_kb(),
                              "seconds": time.perf_counter() - t0, "previews": len(r.previews)}))
"""

_JWQL_RSS = """
import json, resource, sys, tempfile, time, warnings, logging
warnings.simplefilter("ignore"); logging.disable(logging.CRITICAL)
from jwql_dagster.demo.memory import peak_rss_kb as peak_kb
from jwql.utils.preview_image import PreviewImage
base = peak_kb()
out = tempfile.mkdtemp()
im = PreviewImage(sys.argv[1], "SCI"); im.preview_output_directory = out; im.thumbnail_output_directory = out
im.make_image(max_img_size=8, create_thumbnail=True)
print("RESULT " + json.dumps({"base_kb": base, "peak_kb": peak_kb()}))
"""


def _run(python: str, script: str, args: list[str], env: dict[str, str] | None = None,
         timeout: float = 3600) -> dict:
    full_env = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    proc = subprocess.run([python, "-c", script, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=str(ROOT))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"subprocess failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def run_contender(python: str, imports: str, files: dict[str, Path], outdir: Path, repeat: int,
                  env: dict[str, str] | None = None) -> dict:
    script = _RUN_TEMPLATE.format(imports=imports)
    return _run(python, script, [json.dumps({k: str(v) for k, v in files.items()}), str(outdir), str(repeat)], env)


# ----------------------------------------------------------------------------- jwql venv
def ensure_jwql_venv(venv: Path) -> tuple[str | None, str]:
    """Python of a venv with jwql 1.4.1 (created on first use), or (None, why not)."""
    python = venv / "bin" / "python"
    marker = venv / ".jwql-bench-ready"
    if not marker.exists():
        print(f"creating the jwql {JWQL_VERSION} environment in {venv} (first use; downloads jwst etc.)", flush=True)
        try:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(python), "-m", "pip", "install", "-q"]
            subprocess.run(pip + ["--no-deps", f"jwql=={JWQL_VERSION}"], check=True)
            subprocess.run(pip + JWQL_DEPS, check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            return None, f"could not install jwql {JWQL_VERSION} into {venv}: {exc}"
    try:
        pkg = subprocess.run([str(python), "-c", "import importlib.util as u, os;"
                              "print(os.path.dirname(u.find_spec('jwql').origin))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    except (subprocess.CalledProcessError, OSError) as exc:
        return None, f"jwql is not importable in {venv}: {exc}"
    config = Path(pkg) / "config.json"
    if not config.exists():
        shutil.copyfile(Path(pkg) / "example_config.json", config)
    marker.touch()
    return str(python), ""


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "jwql-bench-previews")
    parser.add_argument("--venv", type=Path, default=Path.home() / ".cache" / "jwql-bench-venv")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-jwql", action="store_true")
    args = parser.parse_args(argv)

    files, source = make_files(args.workdir / "files")
    out = args.workdir / "out"
    shutil.rmtree(out, ignore_errors=True)

    print("rendering: ours", flush=True)
    ours = run_contender(sys.executable, _OURS, files, out / "ours", args.repeat)
    sizes = {files[k].name: ours[k]["info"] for k in files}
    print("rendering: floor (numpy + Pillow)", flush=True)
    floor = run_contender(sys.executable, _FLOOR, files, out / "floor", args.repeat,
                          env={"FLOOR_SIZES": json.dumps(sizes)})
    jwql, jwql_why = None, ""
    jwql_python = None
    if args.skip_jwql:
        jwql_why = "skipped (--skip-jwql)"
    else:
        jwql_python, jwql_why = ensure_jwql_venv(args.venv)
        if jwql_python:
            print("rendering: jwql PreviewImage", flush=True)
            try:
                jwql = run_contender(jwql_python, _JWQL, files, out / "jwql", args.repeat)
            except RuntimeError as exc:
                jwql, jwql_why = None, f"jwql PreviewImage failed: {exc}"

    print("peak RSS of the 4D file", flush=True)
    rss = _run(sys.executable, _RSS, [str(files["uncal"])])
    jwql_rss = None
    if jwql_python and jwql is not None:
        try:
            jwql_rss = _run(jwql_python, _JWQL_RSS, [str(files["uncal"])])
        except RuntimeError:
            jwql_rss = None

    print()
    print(f"Files written by {source}")
    print(f"Preview + thumbnail per file (median of {args.repeat} after a warm-up; cold = first call), seconds")
    header = f"{'file':<10} {'outputs':>7} {'ours':>7} {'cold':>7} {'floor':>7} {'jwql':>7} {'jwql/ours':>9} {'ours/floor':>10}"
    print(header)
    print("-" * len(header))
    for kind in files:
        o, f = ours[kind], floor[kind]
        n = o["info"]["previews"] + 1
        j = jwql[kind]["median"] if jwql else float("nan")
        jr = f"{j / o['median']:.1f}x" if jwql else "n/a"
        print(f"{kind:<10} {n:>7} {o['median']:>7.3f} {o['cold']:>7.3f} {f['median']:>7.3f} "
              f"{(f'{j:.3f}' if jwql else 'n/a'):>7} {jr:>9} {o['median'] / f['median']:>9.2f}x")
    size = files["uncal"].stat().st_size
    frame = NY * NX * 4
    print()
    print(f"4D uncal {UNCAL_SHAPE[0]} ints x {UNCAL_SHAPE[1]} groups of {NY}x{NX} uint16: file {size / 2**20:.0f} MiB")
    print(f"  ours: peak RSS {rss['peak_kb'] / 1024:.0f} MiB (imports baseline {rss['base_kb'] / 1024:.0f} MiB; "
          f"+{(rss['peak_kb'] - rss['base_kb']) * 1024 / frame:.1f} float32 frames); "
          f"peak/file size = {rss['peak_kb'] * 1024 / size:.2f}")
    if jwql_rss:
        print(f"  jwql: peak RSS {jwql_rss['peak_kb'] / 1024:.0f} MiB "
              f"(+{(jwql_rss['peak_kb'] - jwql_rss['base_kb']) * 1024 / frame:.1f} frames); "
              f"peak/file size = {jwql_rss['peak_kb'] * 1024 / size:.2f}")
    if not jwql:
        print(f"\njwql not measured: {jwql_why}")
    print("\nBudgets: jwql/ours >= 10x, ours/floor <= 2x, 4D peak RSS a few frames above the baseline.")
    print(f"Sizes: preview {ours['rate']['info']['preview_size']} px, thumbnail {ours['rate']['info']['thumbnail_size']} px")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
