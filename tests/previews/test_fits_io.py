"""FITS reading for previews: science maps, 4D differences, and a typed error for every broken file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from jwql_dagster.previews.fits_io import FitsReadError, open_science, reference_pixel_map
from jwql_dagster.demo import synthetic
from jwql_dagster.previews.render import render_file
from tests.plugins import fits as ff


# ----------------------------------------------------------------------------- science maps
def test_dq_map_excludes_non_science_and_reference_pixels_only(tmp_path: Path) -> None:
    dq = np.zeros((40, 50), dtype=np.uint32)
    dq[0, 0] = ff.NON_SCIENCE
    dq[1, 1] = ff.REFERENCE_PIXEL
    dq[2, 2] = ff.REFERENCE_PIXEL | 4
    dq[3, 3] = 1  # DO_NOT_USE: still counted (jwql uses only the two flags)
    dq[4, 4] = 4 | 2**30  # other bits, including the highest non-reference bit
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_rate.fits", np.ones((40, 50), np.float32), dq)
    with open_science(path) as sf:
        mask = sf.science_mask()
        assert sf.mask_source == "dq"
    expected = np.ones((40, 50), bool)
    expected[0, 0] = expected[1, 1] = expected[2, 2] = False
    np.testing.assert_array_equal(mask, expected)


def test_3d_dq_uses_its_first_plane(tmp_path: Path) -> None:
    dq = np.zeros((3, 20, 30), dtype=np.uint32)
    dq[0, 5, 6] = ff.REFERENCE_PIXEL
    dq[1, 7, 8] = ff.REFERENCE_PIXEL  # later planes are ignored, as jwql does
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_rateints.fits", np.ones((3, 20, 30), np.float32), dq)
    with open_science(path) as sf:
        mask = sf.science_mask()
    assert not mask[5, 6] and mask[7, 8] and mask.sum() == 20 * 30 - 1


@pytest.mark.parametrize(
    ("substrt", "false_rows", "false_cols"),
    [
        ((1, 1), slice(0, 4), slice(0, 4)),  # lower-left corner: left and bottom edges are reference pixels
        ((1985, 1985), slice(60, 64), slice(60, 64)),  # upper-right corner: top and right edges
        ((1001, 1001), None, None),  # detector interior: no reference pixels at all
    ],
)
def test_no_dq_map_is_the_reference_border_cropped_at_substrt(tmp_path: Path, substrt, false_rows, false_cols) -> None:
    sci = ff.ramp(1, 2, 64, 64)
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_uncal.fits", sci, None, units="DN", substrt=substrt)
    with open_science(path) as sf:
        mask = sf.science_mask()
        assert sf.mask_source == "reference-pixels"
    expected = np.ones((64, 64), bool)
    if false_rows is not None:
        expected[false_rows, :] = False
        expected[:, false_cols] = False
    np.testing.assert_array_equal(mask, expected)


def test_reference_border_drops_out_of_the_limits(tmp_path: Path) -> None:
    """Huge values in the cropped reference border of a corner subarray do not move the limits."""
    data = np.full((1, 2, 64, 64), 1000, dtype=np.uint16)
    data[0, 1] = 1000 + np.arange(64 * 64).reshape(64, 64) % 50
    data[0, 1, :4, :] = 60000
    data[0, 1, :, :4] = 60000
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_uncal.fits", data, None, units="DN", substrt=(1, 1))
    res = render_file(path, tmp_path / "p")
    lo, hi = res.limits[0]
    assert hi < 100 and lo >= 0


def test_miri_reference_columns_and_subarray_crop() -> None:
    full = reference_pixel_map("MIRI", (1024, 1032), (1, 1))
    assert full.shape == (1024, 1032)
    assert not full[:, :4].any() and not full[:, -4:].any() and full[:, 4:-4].all()
    sub = reference_pixel_map("MIRI", (256, 256), (1, 1))  # touches the left edge only
    assert not sub[:, :4].any() and sub[:, 4:].all()
    right = reference_pixel_map("MIRI", (64, 72), (1032 - 72 + 1, 500))
    assert not right[:, -4:].any() and right[:, :-4].all()


def test_unknown_geometry_and_i2d_count_every_pixel(tmp_path: Path) -> None:
    assert reference_pixel_map("NIRSPEC", (3200, 2048), (1, 1)) is None  # IRS2 raw frames do not fit
    path = ff.write(tmp_path / "jw01068-o001_t001_nircam_clear-f200w_i2d.fits", np.ones((30, 40), np.float32), None,
                    extra=[fits.ImageHDU(np.ones((30, 40), np.float32), name="WHT")], substrt=None)
    with open_science(path) as sf:
        assert sf.science_mask().all() and sf.mask_source == "none"


# ----------------------------------------------------------------------------- frames
def test_4d_frame_is_last_minus_first_group(tmp_path: Path) -> None:
    data = ff.ramp(3, 5, 32, 48, seed=2)
    data[:, 1:4] = 65535  # middle groups must not matter
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_uncal.fits", data, None, units="DN")
    with open_science(path) as sf:
        assert (sf.ndim, sf.nints, sf.ngroups, sf.frame_shape) == (4, 3, 5, (32, 48))
        for i in range(3):
            frame = sf.frame(i)
            assert frame.dtype == np.float32
            np.testing.assert_array_equal(frame, data[i, -1].astype(np.float32) - data[i, 0].astype(np.float32))
        with pytest.raises(IndexError):
            sf.frame(3)


def test_header_values_and_units(tmp_path: Path) -> None:
    path = ff.write(tmp_path / "jw01068001001_02102_00001_mirimage_rate.fits", np.ones((10, 12), np.float32),
                    None, units="MJy/sr", instrument="MIRI", detector="MIRIMAGE", substrt=(5, 7))
    with open_science(path) as sf:
        assert (sf.instrument, sf.detector, sf.substrt, sf.subsize, sf.units) == ("MIRI", "MIRIMAGE", (5, 7), (12, 10),
                                                                                   "MJy/sr")
        assert sf.root_name == "jw01068001001_02102_00001_mirimage_rate" and sf.nints == 1


# ----------------------------------------------------------------------------- broken files
def _valid_bytes(tmp_path: Path) -> bytes:
    p = ff.write(tmp_path / "valid.fits", np.ones((64, 64), np.float32), np.zeros((64, 64), np.uint32))
    return p.read_bytes()


def _broken(kind: str, tmp_path: Path) -> Path:
    name = "jw01068001001_02102_00001_nrcb1_rate.fits"
    path = tmp_path / kind / name
    path.parent.mkdir(parents=True)
    if kind == "missing":
        return path
    if kind == "empty":
        path.touch()
    elif kind == "not-fits":
        path.write_text("SIMPLE? no: this is a text file that happens to end in .fits\n" * 50)
    elif kind == "truncated":
        data = _valid_bytes(tmp_path)
        path.write_bytes(data[: 2880 * 3 + 5000])  # headers intact, SCI data cut short
    elif kind == "no-sci":
        fits.HDUList([ff.primary(), fits.ImageHDU(np.ones((8, 8), np.float32), name="ERR")]).writeto(path)
    elif kind == "one-d":
        ff.write(path, np.ones(100, np.float32))
    elif kind == "five-d":
        ff.write(path, np.ones((2, 2, 2, 8, 8), np.float32))
    elif kind == "dq-shape":
        ff.write(path, np.ones((64, 64), np.float32), np.zeros((32, 64), np.uint32))
    elif kind == "gzip-garbage":
        path.write_bytes(gzip.compress(b"definitely not FITS" * 200))
    elif kind == "gzip-truncated":
        data = gzip.compress(_valid_bytes(tmp_path) + b"\0" * 2880 * 40)
        path.write_bytes(data[: len(data) // 3])
    else:  # pragma: no cover
        raise AssertionError(kind)
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("missing", "does not exist"),
        ("empty", "empty"),
        ("not-fits", "not a FITS file"),
        ("truncated", "truncated"),
        ("no-sci", "no SCI"),
        ("one-d", "1 dimensions"),
        ("five-d", "5 dimensions"),
        ("dq-shape", "does not match"),
        ("gzip-garbage", "gzip"),
        ("gzip-truncated", "gzip"),
    ],
)
def test_each_broken_file_kind_raises_a_typed_error_and_writes_nothing(tmp_path: Path, kind: str, words: str) -> None:
    path = _broken(kind, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(FitsReadError) as info:
        render_file(path, out / "p", out / "t")
    assert info.value.filename == str(path)
    assert words in info.value.reason
    assert path.name in str(info.value)
    assert not list(out.rglob("*.jpg")) and not list(out.rglob("*.thumb"))


def test_gzip_fits_is_read(tmp_path: Path) -> None:
    sci = ff.sky_with_star(64, 80, (10, 60))
    plain = ff.write(tmp_path / "plain" / "jw01068001001_02102_00001_nrcb1_rate.fits", sci, ff.border_dq(64, 80))
    gz = tmp_path / "jw01068001001_02102_00001_nrcb1_rate.fits.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    with open_science(gz) as sf, open_science(plain) as ref:
        np.testing.assert_array_equal(sf.frame(0), ref.frame(0))
        np.testing.assert_array_equal(sf.science_mask(), ref.science_mask())
    res = render_file(gz, tmp_path / "p")
    assert [p.name for p in res.previews] == ["jw01068001001_02102_00001_nrcb1_rate_integ0.jpg"]


def test_dq_map_on_random_flag_words_matches_the_bit_test(tmp_path: Path) -> None:
    """The raw-bytes DQ reading agrees with (dq & (512 | 2**31)) == 0 over the full uint32 range."""
    dq = np.random.default_rng(5).integers(0, 2**32, (33, 47), dtype=np.uint64).astype(np.uint32)
    path = ff.write(tmp_path / "jw01068001001_02102_00001_nrcb1_rate.fits", np.ones((33, 47), np.float32), dq)
    with open_science(path) as sf:
        np.testing.assert_array_equal(sf.science_mask(), (dq & np.uint32(512 | 2**31)) == 0)


# ---------------------------------------------------------------- files from the archive generator

_DETECTOR = {"nircam": "nrcb1", "niriss": "nis", "nirspec": "nrs1", "miri": "mirimage", "fgs": "guider1"}


def _cases() -> list[tuple[str, object]]:
    return [(inst, sub) for inst, subs in synthetic.SMALL_SUBARRAYS.items() for sub in subs]


@pytest.mark.parametrize(("instrument", "sub"), _cases(), ids=lambda v: getattr(v, "name", v))
@pytest.mark.parametrize("suffix", ["uncal", "rate"])
def test_science_map_matches_the_generators_reference_pixels(tmp_path: Path, instrument: str, sub, suffix: str) -> None:
    """uncal (no DQ: geometry cropped at SUBSTRT) and rate (DQ) give the same map."""
    path = tmp_path / f"jw01068001001_02102_00001_{_DETECTOR[instrument]}_{suffix}.fits"
    synthetic.write_exposure(path, subarray=sub, nints=1, ngroups=3)
    with open_science(path) as sf:
        mask = sf.science_mask()
        assert sf.mask_source == ("dq" if suffix == "rate" else "reference-pixels")
    np.testing.assert_array_equal(mask, ~synthetic.reference_pixel_mask(instrument, sub))
    res = render_file(path, tmp_path / "p", tmp_path / "t")
    assert len(res.previews) == 1 and len(res.thumbnails) == 1
