"""Shared pieces of the reliability suite: hostile FITS writers, resources on a fresh JWQL_HOME, runs of the jobs."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any, Iterator

import dagster as dg
import numpy as np
import pytest
from astropy.io import fits

from tests.plugins import fits as fitsfiles
from tests.plugins.fits import primary
from tests.plugins.resources import make_resources

PROGRAM = "jw01068"
VISIT = "jw01068001001"


def rate_name(exposure: int, detector: str = "nrcb1", suffix: str = "rate", program: str = PROGRAM) -> str:
    """A recognised NIRCam name; distinct exposures never form a mosaic group."""
    return f"{program}001001_02102_{exposure:05d}_{detector}_{suffix}.fits"


def write_hdus(path: Path, sci: np.ndarray | None, dq: np.ndarray | None = None, prim: fits.PrimaryHDU | None = None,
               extra: list | None = None) -> Path:
    return fitsfiles.write(path, sci, dq, extra=extra, prim=prim if prim is not None else primary())


def sky(n: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, 1.0, (n, n)).astype(np.float32)
    data[n // 2, n // 3] = 400.0
    return data


def good_rate(path: Path, seed: int = 0, n: int = 48) -> Path:
    return write_hdus(path, sky(n, seed), np.zeros((n, n), np.uint32))


def hostile_files(visit: Path) -> dict[str, tuple[str, str]]:
    """Write every hostile kind into ``visit``; returns name -> (kind, expected: 'image' | 'failure' | 'either')."""
    visit.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[str, str]] = {}

    def add(exp: int, kind: str, expect: str, suffix: str = "rate") -> Path:
        name = rate_name(exp, suffix=suffix)
        out[name] = (kind, expect)
        return visit / name

    n = 48
    p = good_rate(add(11, "truncated", "failure"), seed=1)
    raw = p.read_bytes()
    p.write_bytes(raw[: 2880 * 2 + 4000])  # primary + SCI header + part of the SCI data
    add(12, "zero_byte", "failure").write_bytes(b"")
    add(13, "not_fits", "failure").write_bytes(b"<html>this is not a FITS file</html>\n" * 200)
    write_hdus(add(14, "no_sci", "failure"), None, extra=[fits.ImageHDU(sky(n), name="ERR")])
    write_hdus(add(15, "sci_1d", "failure"), np.arange(100, dtype=np.float32))
    write_hdus(add(16, "sci_5d", "failure"), np.ones((2, 2, 2, 8, 8), np.float32))
    write_hdus(add(17, "dq_mismatch", "failure"), sky(n), np.zeros((n - 5, n + 3), np.uint32))
    write_hdus(add(18, "all_nan", "either"), np.full((n, n), np.nan, np.float32), np.zeros((n, n), np.uint32))
    write_hdus(add(19, "constant", "image"), np.full((n, n), 7.0, np.float32), np.zeros((n, n), np.uint32))
    tmp = visit / ".gz-source.tmp"
    good_rate(tmp, seed=3)
    add(20, "gzip_content", "image").write_bytes(gzip.compress(tmp.read_bytes()))
    tmp.unlink()
    prim = primary()
    for i in range(5000):  # thousands of cards: header of ~140 blocks
        prim.header[f"HIERARCH JWQLTEST KEY{i:05d}"] = i
    write_hdus(add(21, "huge_header", "image"), sky(n, 4), np.zeros((n, n), np.uint32), prim=prim)
    ramp = (np.random.default_rng(5).integers(1000, 1100, (2, 3, n, n)) + np.arange(3)[None, :, None, None] * 50)
    sci = fits.ImageHDU(ramp.astype(np.uint16), name="SCI")
    sci.scale("int16", bzero=32768)
    (visit / rate_name(22, suffix="uncal")).parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([primary(NINTS=2, NGROUPS=3), sci]).writeto(add(22, "ramp_4d", "image", suffix="uncal"))
    return out


# ------------------------------------------------------------------ resources and runs


@pytest.fixture
def rel_env(jwql_env, sqlite_db) -> Iterator[tuple[Any, dict[str, Any], dg.DagsterInstance]]:
    """(settings, resources with sqlite db and 1 worker, a test instance holding the program partition)."""
    from jwql_dagster.options import JwqlOptions

    resources = make_resources(jwql_env, db=sqlite_db,
                               options=JwqlOptions(preview_workers=1, max_failure_rate=1.0, inline_previews="all"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [PROGRAM])
        yield jwql_env, resources, instance


def run_partition(resources: dict[str, Any], instance: dg.DagsterInstance, program: str = PROGRAM,
                  instrument: str = "nircam", raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    """archive_files + preview_images/thumbnails + preview_coverage of one partition, as preview_partition_job runs them."""
    from jwql_dagster.archive.assets import archive_files
    from jwql_dagster.previews.assets import preview_assets, preview_coverage
    from jwql_dagster.partitions import program_instrument_key

    return dg.materialize([archive_files, preview_assets, preview_coverage],
                          partition_key=program_instrument_key(program, instrument),
                          resources=resources, instance=instance, raise_on_error=raise_on_error)


def run_program_products(resources: dict[str, Any], instance: dg.DagsterInstance, program: str = PROGRAM):
    from jwql_dagster.previews.assets import preview_gallery, proposal_thumbnail

    return dg.materialize([proposal_thumbnail, preview_gallery], partition_key=program, resources=resources,
                          instance=instance, raise_on_error=True)


def failures(db, product: str | None = None) -> dict[tuple[str, str], str]:
    """(filename, product) -> reason of every file_failures row."""
    import sqlalchemy as sa

    from jwql_dagster.db.models import FileFailure

    t = FileFailure.__table__
    with db.session(readonly=True) as s:
        q = sa.select(t.c.filename, t.c.product, t.c.reason)
        if product:
            q = q.where(t.c.product == product)
        return {(r[0], r[1]): r[2] for r in s.execute(q)}


def complete_jpeg(path: Path) -> bool:
    """The file is a whole JPEG (SOI ... EOI) that Pillow decodes."""
    from PIL import Image

    data = path.read_bytes()
    if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\x00").endswith(b"\xff\xd9")):
        return False
    try:
        with Image.open(path) as im:
            im.load()
    except Exception:  # noqa: BLE001
        return False
    return True


def all_event_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """Every event of a run as text: messages, serialized events (metadata, errors) and step logs."""
    from dagster._serdes import serialize_value

    parts = []
    for record in instance.all_logs(run_id):
        parts.append(record.user_message or "")
        parts.append(record.message or "")
        if record.dagster_event is not None:
            parts.append(serialize_value(record.dagster_event))
    return "\n".join(parts)
