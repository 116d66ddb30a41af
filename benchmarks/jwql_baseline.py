"""jwql 1.4.1's own ``generate_preview_images`` as a baseline, run the way its cron job runs it.

Why a helper of its own: bench_archive.py times the whole preview pipeline of an archive
against jwql's, and jwql must run in its own virtual environment with a ``config.json``
whose roots point at temporary folders, without touching the shared installation.

* Environment: bench_previews.ensure_jwql_venv (jwql 1.4.1 + the renderer's dependencies,
  ~/.cache/jwql-bench-venv), plus what importing ``jwql.jwql_monitors.generate_preview_images``
  needs beyond the renderer (its module imports monitor_utils: Django models, astroquery,
  pandas, psutil, psycopg2). Installed once; a marker file records it.
* Configuration: jwql reads ``<dir holding the jwql package>/jwql/config.json`` (no
  variable can point elsewhere). So the run imports jwql from an overlay folder: a real
  ``jwql/`` directory whose entries are symlinks into the installed package, next to our
  own ``config.json``. jwql then finds the temporary config exactly the way it finds its
  own, and the shared venv is left unchanged.
* Run: ``generate_preview_images(overwrite=False)`` without its two logging decorators
  (``log_info`` needs the jwql source tree's pyproject.toml); a crash is logged and the
  script ends, as ``log_fail`` does. The pool is jwql's (``multiprocessing.Pool(cores)``,
  ``starmap(process_program, ...)``). ``protected_code``'s lock and monitor-table rows
  (a Django database) are left out: they are bookkeeping, not preview work.
* MIRI: jwql reads ``<outputs>/non_science_maps/mirimage_non_science_map.fits`` for MIRI
  imaging rate and uncal files, a file a production install has. By default one is written
  (science pixels True, the 4 reference columns on each side False); without it jwql's
  ``process_program`` raises FileNotFoundError, which it does not catch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from bench_previews import JWQL_VERSION, ensure_jwql_venv  # noqa: E402

# What importing generate_preview_images needs on top of the renderer's dependencies (bounds from jwql 1.4.1's pins).
GENERATOR_DEPS = ["psutil", "astroquery>=0.4.7,<0.5", "django>=5.0.3,<6", "pandas>=2.2.1,<3",
                  "psycopg2-binary>=2.9.9,<3"]
GENERATOR_MARKER = ".jwql-generator-ready"
MIRI_MAP = "mirimage_non_science_map.fits"
MIRI_SHAPE = (1024, 1032)  # rows, columns of the MIRI imager


def package_dir(python: str) -> Path:
    out = subprocess.run([python, "-c", "import importlib.util as u, os; print(os.path.dirname(u.find_spec('jwql').origin))"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out)


def make_overlay(dest: Path, package: Path, config: dict[str, Any]) -> Path:
    """``dest/jwql/``: symlinks to every entry of the installed package except config.json, which is ours.

    Returns the folder to put first on PYTHONPATH.
    """
    pkg = dest / "jwql"
    if pkg.exists():
        shutil.rmtree(pkg)
    pkg.mkdir(parents=True)
    for entry in package.iterdir():
        if entry.name not in ("config.json", "__pycache__"):
            (pkg / entry.name).symlink_to(entry)
    (pkg / "config.json").write_text(json.dumps(config, indent=1))
    return dest


def jwql_config(package: Path, *, filesystem: Path, preview: Path, thumbnail: Path, outputs: Path, work: Path,
                cores: int) -> dict[str, Any]:
    """jwql's example config with every root redirected to ``work`` (or the given folders)."""
    config = json.loads((package / "example_config.json").read_text())
    db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(work / "django.db"), "USER": "", "PASSWORD": "",
          "HOST": "", "PORT": ""}
    config.update(
        filesystem=str(filesystem), preview_image_filesystem=str(preview), thumbnail_filesystem=str(thumbnail),
        outputs=str(outputs), log_dir=str(work / "logs"), working=str(work / "working"), jwql_dir=str(work / "central"),
        setup_file=str(work / "setup.py"), test_dir=str(work / "test"), test_data=str(work / "test_data"),
        cores=str(cores), jwql_version=JWQL_VERSION, django_secret_key="jwql-bench-not-secret",
        django_databases={"default": dict(db), "monitors": dict(db)},
    )
    config["logging"]["handlers"]["file"]["filename"] = str(work / "logs" / "app.log")
    return config


def write_miri_map(outputs: Path) -> Path:
    """A MIRI imager science-pixel map as jwql expects it (True = science pixel)."""
    import numpy as np
    from astropy.io import fits

    target = outputs / "non_science_maps" / MIRI_MAP
    target.parent.mkdir(parents=True, exist_ok=True)
    science = np.ones(MIRI_SHAPE, dtype=np.uint8)
    science[:, :4] = science[:, -4:] = 0
    fits.PrimaryHDU(science).writeto(target, overwrite=True)
    return target


_PROBE = "import warnings; warnings.simplefilter('ignore'); import jwql.jwql_monitors.generate_preview_images"


def ensure_generator_env(venv: Path) -> tuple[str | None, str]:
    """Python of the jwql venv able to import generate_preview_images, or (None, why not)."""
    python, why = ensure_jwql_venv(venv)
    if python is None:
        return None, why
    marker = venv / GENERATOR_MARKER
    if marker.exists():
        return python, ""
    package = package_dir(python)
    with tempfile.TemporaryDirectory(prefix="jwql-probe-") as tmp:
        work = Path(tmp)
        config = jwql_config(package, filesystem=work, preview=work / "p", thumbnail=work / "t", outputs=work / "o",
                             work=work, cores=1)
        overlay = make_overlay(work / "overlay", package, config)
        env = dict(os.environ, PYTHONPATH=str(overlay), MPLBACKEND="Agg")

        def probe() -> subprocess.CompletedProcess:
            return subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=tmp)

        result = probe()
        if result.returncode != 0:
            print(f"installing what jwql's generate_preview_images imports: {' '.join(GENERATOR_DEPS)}", flush=True)
            try:
                subprocess.run([python, "-m", "pip", "install", "-q", *GENERATOR_DEPS], check=True)
            except (subprocess.CalledProcessError, OSError) as exc:
                return None, f"could not install {GENERATOR_DEPS}: {exc}"
            result = probe()
        if result.returncode != 0:
            return None, "jwql's generate_preview_images does not import: " + result.stderr.strip()[-1500:]
    marker.touch()
    return python, ""


RUNNER = textwrap.dedent(
    """
    import json, logging, sys, time, traceback, warnings
    t0 = time.perf_counter()
    logging.basicConfig(filename=sys.argv[1], level=logging.INFO,
                        format="%(asctime)s %(processName)s %(levelname)s: %(message)s")
    warnings.simplefilter("ignore")
    import jwql.jwql_monitors.generate_preview_images as gpi
    t1 = time.perf_counter()
    fn = gpi.generate_preview_images
    while hasattr(fn, "__wrapped__"):  # log_fail(log_info(...)): the function itself
        fn = fn.__wrapped__
    crashed = None
    try:
        fn(False)
        logging.info("Completed Successfully")
    except Exception:
        logging.critical(traceback.format_exc())
        logging.critical("CRASHED")
        crashed = traceback.format_exc().strip().splitlines()[-1]
    t2 = time.perf_counter()
    print("RESULT " + json.dumps({"import_s": t1 - t0, "generate_s": t2 - t1, "crashed": crashed,
                                  "config_dir": sys.modules["jwql.utils.utils"].__location__,
                                  "cores": gpi.SETTINGS["cores"]}), flush=True)
    """
)


def prepare_run(python: str, work: Path, archive: Path, cores: int, miri_map: bool) -> dict[str, Any]:
    """Folders, config and overlay of one generator run under ``work``; returns what ``RUNNER`` needs."""
    package = package_dir(python)
    roots = {name: work / name for name in ("preview_images", "thumbnails", "outputs")}
    for path in roots.values():
        path.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    config = jwql_config(package, filesystem=archive, preview=roots["preview_images"], thumbnail=roots["thumbnails"],
                         outputs=roots["outputs"], work=work, cores=cores)
    overlay = make_overlay(work / "overlay", package, config)
    miri = write_miri_map(roots["outputs"]) if miri_map else None
    return {"overlay": overlay, "log": work / "logs" / "generate_preview_images.log", "miri_map": miri, **roots}


def log_summary(log: Path) -> dict[str, Any]:
    """Warnings and crash lines of jwql's log: what its cron job would leave for an operator."""
    warned, critical = [], []
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        if " WARNING: " in line:
            warned.append(line.split(" WARNING: ", 1)[1])
        elif " CRITICAL: " in line:
            critical.append(line.split(" CRITICAL: ", 1)[1])
    return {"warnings": warned, "critical": critical}


def run_generator(python: str, prepared: dict[str, Any], cwd: Path,
                  start: Callable[..., subprocess.Popen], timeout: float = 7200) -> dict[str, Any]:
    """Run jwql's generator once in a fresh process; ``start`` launches it (so the caller can tear it down)."""
    import time

    env = dict(os.environ, PYTHONPATH=str(prepared["overlay"]), MPLBACKEND="Agg")
    t0 = time.perf_counter()
    proc = start([python, "-c", RUNNER, str(prepared["log"])], env=env, cwd=cwd)
    out, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - t0
    result: dict[str, Any] = {"wall_s": wall, "returncode": proc.returncode, "stderr_tail": err[-2000:]}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result.update(json.loads(line[len("RESULT "):]))
    result.update(log_summary(prepared["log"]))
    return result
