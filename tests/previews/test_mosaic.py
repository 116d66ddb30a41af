"""NIRCam mosaics: grouping, channel, layout, gaps and reference pixels, dummy names."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

from jwql_dagster.previews import mosaic as m

EXP = "jw01068001001_02102_00001"


def name(det: str, suffix: str = "rate") -> str:
    return f"/arch/public/jw01068/jw01068001001/{EXP}_{det}_{suffix}.fits"


class FakeScience:
    """Stands in for core.fits_io's ScienceFile: a subarray with one bright star."""

    def __init__(self, start: tuple[int, int], size: tuple[int, int], star: tuple[int, int] | None, nints: int = 1,
                 value: float = 1.0) -> None:
        self.substrt = start
        self.size = size
        self.star = star
        self.nints = nints
        self.units = "DN/s"
        self.value = value

    def science_mask(self) -> np.ndarray:
        w, h = self.size
        mask = np.ones((h, w), dtype=bool)
        if self.size == (2048, 2048):
            mask[:4, :] = mask[-4:, :] = mask[:, :4] = mask[:, -4:] = False
        return mask

    def frame(self, i: int) -> np.ndarray:
        w, h = self.size
        out = np.full((h, w), self.value, dtype=np.float32)
        if self.star:
            x, y = self.star
            out[y, x] = 1000.0
        return out


def opener_for(table: dict[str, FakeScience]):
    @contextlib.contextmanager
    def opener(path: str):
        yield table[path]
    return opener


def test_channels_and_detector_spellings() -> None:
    assert m.find_data_channel(["nrca1", "NRCB4"]) == "SW"
    assert m.find_data_channel(["NRCA1", "nrca3"]) == "SWA"
    assert m.find_data_channel(["NRCB2"]) == "SWB"
    assert m.find_data_channel(["nrcalong", "nrcblong"]) == "LW"
    assert m.find_data_channel(["NRCA5"]) == "LW"
    with pytest.raises(ValueError):
        m.find_data_channel(["NRCA1", "nrcalong"])
    with pytest.raises(ValueError):
        m.find_data_channel(["nis"])
    assert m.detector_check(["NRCA1", "nrca2", "nrcb1"], "NRCA[1-4]") == 2


def test_group_filenames_groups_one_exposure_per_channel() -> None:
    files = [name(d) for d in ["nrca1", "nrca2", "nrcb1", "nrcalong", "nrcblong"]]
    files += [name("nrca1", "cal"), name("nrca2", "cal")]
    files += [f"/arch/public/jw01068/jw01068-o001/jw01068-o001_t001_nircam_f150w_i2d.fits",
              f"/arch/public/jw01068/jw01068-o001/jw01068-o001_t001_nircam_f200w_i2d.fits",
              "/arch/public/jw01068/jw01068001001/jw01068001001_02102_00002_nrca1_rate.fits",
              "/arch/public/jw01068/jw01068001001/jw01068001001_02102_00001_nis_rate.fits"]
    groups = {tuple(sorted(g)) for g in m.group_filenames(files)}
    assert tuple(sorted(name(d) for d in ["nrca1", "nrca2", "nrcb1"])) in groups
    assert tuple(sorted([name("nrcalong"), name("nrcblong")])) in groups
    assert tuple(sorted([name("nrca1", "cal"), name("nrca2", "cal")])) in groups
    # stage-3, other exposures and other instruments stay alone
    singles = [g for g in groups if len(g) == 1]
    assert len(singles) == 4
    assert sum(len(g) for g in groups) == len(files)


def test_dummy_names_follow_jwql() -> None:
    assert m.create_dummy_filename([name("nrca1"), name("nrcb1")]).endswith(f"{EXP}_NRC_SWALL_MOSAIC_rate.fits")
    assert m.create_dummy_filename([name("nrca1"), name("nrca3")]).endswith(f"{EXP}_NRC_SWA_MOSAIC_rate.fits")
    assert m.create_dummy_filename([name("nrcb2"), name("nrcb3")]).endswith(f"{EXP}_NRC_SWB_MOSAIC_rate.fits")
    assert m.create_dummy_filename([name("nrcalong"), name("nrcblong")]).endswith(f"{EXP}_NRC_LW_MOSAIC_rate.fits")
    assert m.create_dummy_filename([name("nrca5"), name("nrcb5")]).endswith(f"{EXP}_NRC_LW_MOSAIC_rate.fits")


def test_full_frame_layout_keeps_jwql_gaps() -> None:
    dets = list(m.SW_DETECTORS)
    xdim, ydim, place = m.array_coordinates("SW", dets, [(1, 1)] * 8)
    assert (xdim, ydim) == (4 * 2048 + 2 * 145 + 1387, 2 * 2048 + 145)
    assert (place["NRCA1"].x0, place["NRCA1"].y0) == (0, 0)
    assert (place["NRCA2"].x0, place["NRCA2"].y0) == (0, 2048 + 145)
    assert (place["NRCA3"].x0, place["NRCA3"].y0) == (2048 + 145, 0)
    assert (place["NRCB4"].x0, place["NRCB4"].y0) == (2 * 2048 + 145 + 1387, 0)
    assert (place["NRCB1"].x0, place["NRCB1"].y0) == (3 * 2048 + 2 * 145 + 1387, 2048 + 145)
    xdim, ydim, place = m.array_coordinates("LW", ["NRCA5", "NRCB5"], [(1, 1)] * 2)
    assert (xdim, ydim) == (2 * 2048 + 741, 2048)
    assert place["NRCB5"].x0 == 2048 + 741


def test_full_frame_dq_excludes_gaps_and_reference_pixels() -> None:
    xdim, ydim, place = m.array_coordinates("SWA", list(m.SW_DETECTORS[:4]), [(1, 1)] * 4)
    mosaic = np.full((ydim, xdim), np.nan, dtype=np.float32)
    for p in place.values():
        mosaic[p.y0:p.y0 + p.height, p.x0:p.x0 + p.width] = 1.0
    dq = m.create_dq_array(xdim, ydim, mosaic, "SWA")
    assert not dq[:, 2048:2048 + 145].any()  # vertical detector gap
    assert not dq[2048:2048 + 145, :].any()  # horizontal detector gap
    assert not dq[:4].any() and not dq[:, 2193:2197].any() and not dq[2044:2048, 10].any()
    assert dq[100, 100] and dq[3000, 3000]
    assert dq.sum() == 4 * 2040 * 2040


# Subarrays touching the module centre, as NIRCam's module subarrays are: 32x32 each.
CENTRE_STARTS = {
    "NRCA1": (2017, 2017), "NRCA2": (2017, 1), "NRCA3": (1, 2017), "NRCA4": (1, 1),
    "NRCB4": (2017, 2017), "NRCB3": (2017, 1), "NRCB2": (1, 2017), "NRCB1": (1, 1),
}


def _build(dets: list[str], starts: dict[str, tuple[int, int]], size=(32, 32), star=(16, 16)):
    table = {name(d.lower()): FakeScience(starts[d], size, star, value=float(i + 1)) for i, d in enumerate(dets)}
    return table


@pytest.mark.parametrize("det", sorted(CENTRE_STARTS))
def test_star_of_each_detector_lands_in_its_quadrant(det: str) -> None:
    dets = sorted(CENTRE_STARTS)
    table = {name(d.lower()): FakeScience(CENTRE_STARTS[d], (32, 32), (16, 16) if d == det else None)
             for d in dets}
    with m.create_mosaic(sorted(table), opener=opener_for(table)) as mos:
        assert mos.channel == "SW"
        frame = mos.frame(0)
    ys, xs = np.nonzero(frame == 1000.0)
    assert len(xs) == 1
    x, y = int(xs[0]), int(ys[0])
    h, w = frame.shape
    module_b = x > w / 2
    # module A: A1 lower left, A2 upper left, A3 lower right, A4 upper right;
    # module B: B4 lower left, B3 upper left, B2 lower right, B1 upper right.
    expected = {"NRCA1": ("A", "left", "lower"), "NRCA2": ("A", "left", "upper"),
                "NRCA3": ("A", "right", "lower"), "NRCA4": ("A", "right", "upper"),
                "NRCB4": ("B", "left", "lower"), "NRCB3": ("B", "left", "upper"),
                "NRCB2": ("B", "right", "lower"), "NRCB1": ("B", "right", "upper")}[det]
    assert ("B" if module_b else "A") == expected[0]
    mod_x0 = 0 if not module_b else min(p.x0 for d, p in mos.placements.items() if d.startswith("NRCB"))
    mod_x1 = (max(p.x0 + p.width for d, p in mos.placements.items() if d.startswith("NRC" + expected[0])))
    mid_x = (mod_x0 + mod_x1) / 2
    assert ("left" if x < mid_x else "right") == expected[1]
    assert ("lower" if y < h / 2 else "upper") == expected[2]
    # the star sits at its own detector's pixel (16, 16) of the placed data
    p = mos.placements[det]
    assert (x - p.x0, y - p.y0) == (16, 16)


def test_subarray_lands_at_its_substrt_offset() -> None:
    starts = {"NRCA1": (101, 201), "NRCA2": (101, 301)}
    table = {name("nrca1"): FakeScience(starts["NRCA1"], (64, 48), (0, 0)),
             name("nrca2"): FakeScience(starts["NRCA2"], (64, 48), (0, 0))}
    with m.create_mosaic(sorted(table), opener=opener_for(table)) as mos:
        frame = mos.frame(0)
        nan_gaps = mos.frame(0, gap_value=np.nan)
        a1, a2 = mos.placements["NRCA1"], mos.placements["NRCA2"]
    # same SUBSTRT1 -> same column; A2 sits above A1 across the 145 px detector gap, the detector
    # area neither subarray exposes is left out (it was 2048 + 145 + 100 px further up, issue 19)
    assert a1.x0 == a2.x0 == 0
    assert a1.y0 == 0 and a2.y0 - a1.y0 == 48 + 145
    assert frame.shape == (a2.y0 + 48, 64) == (48 + 145 + 48, 64)
    assert frame[a1.y0, a1.x0] == 1000.0 and frame[a2.y0, a2.x0] == 1000.0
    assert not mos.mask[a1.y0 + 48:a2.y0].any()  # the gap holds no data and never enters the limits
    assert np.isnan(nan_gaps[a1.y0 + 48:a2.y0]).all()


def test_gaps_excluded_from_the_mask_and_limits() -> None:
    dets = ["NRCA1", "NRCA2", "NRCA3", "NRCA4"]
    table = {name(d.lower()): FakeScience(CENTRE_STARTS[d], (32, 32), None, value=10.0 * (i + 1))
             for i, d in enumerate(dets)}
    with m.create_mosaic(sorted(table), opener=opener_for(table)) as mos:
        frame, mask = mos.frame(0, gap_value=np.nan), mos.mask
    assert mask.shape == frame.shape == (32 + 145 + 32, 32 + 145 + 32)
    assert not mask[:, 32:32 + 145].any() and not mask[32:32 + 145, :].any()
    assert mask.sum() == 4 * 32 * 32
    science = frame[mask]
    assert np.isfinite(science).all() and set(np.unique(science)) == {10.0, 20.0, 30.0, 40.0}
    assert np.isnan(frame[~mask]).all()


def test_full_frame_member_reference_border_is_masked() -> None:
    table = {name("nrca1"): FakeScience((1, 1), (2048, 2048), None), name("nrca3"): FakeScience((1, 1), (2048, 2048), None)}
    with m.create_mosaic(sorted(table), opener=opener_for(table)) as mos:
        mask = mos.mask
        assert mos.xdim == 2 * 2048 + 145 and mos.ydim == 2048
    assert not mask[:, 2048:2193].any()
    assert not mask[:4].any() and not mask[:, 2193:2197].any()
    assert mask[100, 100] and mask[100, 2300]


def test_mixed_channels_refused() -> None:
    table = {name("nrca1"): FakeScience((1, 1), (8, 8), None), name("nrcalong"): FakeScience((1, 1), (8, 8), None)}
    with pytest.raises(m.MosaicError):
        with m.create_mosaic(sorted(table), opener=opener_for(table)):
            pass


def test_real_files_limits_come_from_detector_pixels_only(tmp_path) -> None:
    from jwql_dagster.previews.fits_io import open_science
    from jwql_dagster.previews.render import find_limits
    from tests.plugins.fits import write_fits

    dets = ["nrca1", "nrca2", "nrca3", "nrca4"]
    files = [str(write_fits(tmp_path / f"{EXP}_{d}_rate.fits", d, "rate", seed=i)) for i, d in enumerate(dets)]
    with m.create_mosaic(files) as mos:
        frame, mask = mos.frame(0, gap_value=np.nan), mos.mask
        assert mos.channel == "SWA" and frame.shape == (32 + 145 + 32, 32 + 145 + 32)
    pixels = []
    for f in files:
        with open_science(f) as sf:
            pixels.append(sf.frame(0)[sf.science_mask()])
    expected = find_limits(np.concatenate(pixels)[np.newaxis], None)
    assert find_limits(frame, mask) == expected
    zero_gaps = np.where(np.isnan(frame), 0.0, frame).astype(np.float32)
    assert find_limits(zero_gaps, mask) == expected  # the mask alone keeps the gaps out
    assert find_limits(zero_gaps, None)[0] < expected[0]  # without it the gap would set the minimum


def test_mosaic_task_writes_preview_and_thumbnail(tmp_path) -> None:
    from jwql_dagster.previews.worker import RenderTask, run_task
    from tests.plugins.fits import write_fits

    files = [str(write_fits(tmp_path / "in" / f"{EXP}_{d}_uncal.fits", d, "uncal", nints=2)) for d in ["nrcalong", "nrcblong"]]
    dummy = os.path.basename(m.create_dummy_filename(files))
    assert dummy == f"{EXP}_NRC_LW_MOSAIC_uncal.fits"
    out = run_task(RenderTask("mosaic", dummy, files, str(tmp_path / "p"), str(tmp_path / "t")))
    assert out.ok, out.reason
    assert sorted(os.path.basename(p) for p in out.previews) == [f"{EXP}_NRC_LW_MOSAIC_uncal_integ0.jpg",
                                                                  f"{EXP}_NRC_LW_MOSAIC_uncal_integ1.jpg"]
    assert [os.path.basename(p) for p in out.thumbnails] == [f"{EXP}_NRC_LW_MOSAIC_uncal_integ0.thumb"]


def test_subarray_pair_mosaic_is_its_bounding_box() -> None:
    """Two SUB160 boxes in the middle of A1 and B4 (the two modules): the boxes, the gaps, and no empty detector."""
    xdim, ydim, place = m.array_coordinates("SW", ["NRCA1", "NRCB4"], [(945, 945)] * 2, [(160, 160)] * 2)
    # was 5628 + 160 px wide (A1's box to B4's across A3's empty detector); now the boxes and the
    # gaps between them: A1-A3 145 px, and the module gap 1387 px narrowed to the data's width (160 px)
    assert (xdim, ydim) == (160 + 145 + 160 + 160, 160)
    assert place["NRCA1"].x0 == 0 and place["NRCB4"].x0 == 160 + 145 + 160
    data = 2 * 160 * 160
    assert data / (xdim * ydim) > 0.5  # at the old width (5788 px) the boxes held 5.5% of the image


def test_all_eight_subarrays_fill_most_of_the_mosaic() -> None:
    dets = list(m.SW_DETECTORS)
    xdim, ydim, place = m.array_coordinates("SW", dets, [(945, 945)] * 8, [(160, 160)] * 8)
    # was about 7980 x 2350; detector gaps kept (145 px), the module gap narrowed to 160 px
    assert (xdim, ydim) == (4 * 160 + 2 * 145 + 160, 2 * 160 + 145)
    boxes = {(p.x0, p.y0) for p in place.values()}
    assert len(boxes) == 8  # no two detectors land on each other
    # the layout keeps its order: A2 above A1, A3 right of A1, module B right of module A
    assert place["NRCA2"].y0 > place["NRCA1"].y0 and place["NRCA3"].x0 > place["NRCA1"].x0
    assert min(p.x0 for d, p in place.items() if d.startswith("NRCB")) > max(
        p.x0 for d, p in place.items() if d.startswith("NRCA"))


def test_full_frame_a_and_b_dimensions_unchanged() -> None:
    xdim, ydim, _ = m.array_coordinates("SW", list(m.SW_DETECTORS), [(1, 1)] * 8, [(2048, 2048)] * 8)
    assert (xdim, ydim) == (9869, 4241)
    xdim, ydim, _ = m.array_coordinates("SWA", list(m.SW_DETECTORS[:4]), [(1, 1)] * 4, [(2048, 2048)] * 4)
    assert (xdim, ydim) == (4241, 4241)


def test_mosaic_preview_names_its_detectors(tmp_path) -> None:
    """The mosaic's preview carries each detector's name in the upper-left corner of its data."""
    from PIL import Image

    from jwql_dagster.previews.render import render_array

    table = {name("nrca1"): FakeScience((945, 945), (160, 160), (80, 80)),
             name("nrca3"): FakeScience((945, 945), (160, 160), (80, 80))}
    with m.create_mosaic(sorted(table), opener=opener_for(table)) as mos:
        frame, mask = mos.frame(0), mos.mask
        regions = {d: (p.x0, p.y0, p.width, p.height) for d, p in mos.placements.items()}
    assert frame.shape == (160, 160 + 145 + 160)  # A1 and A3 with the 145 px gap between them
    plain = render_array(frame, mask, "plain", tmp_path / "a")
    named = render_array(frame, mask, "plain", tmp_path / "b", regions=regions)
    a = np.asarray(Image.open(plain.previews[0]).convert("L"), dtype=int)
    b = np.asarray(Image.open(named.previews[0]).convert("L"), dtype=int)
    x0, y0, w, h = named.preview_box
    changed = np.abs(a - b) > 60
    assert not changed[:y0].any() and not changed[y0 + h:].any()  # title and colorbar untouched
    for det, (rx, _ry, rw, _rh) in regions.items():
        left = x0 + int(rx * w / frame.shape[1])
        corner = changed[y0:y0 + h // 3, left:left + int(rw * w / frame.shape[1])]
        assert corner.sum() > 30, det  # the name's strokes
        assert (b[y0:y0 + h // 3, left:left + 60] > 240).any(), det  # white letters
    assert changed[y0 + h // 2:y0 + h].sum() == 0  # nothing below the names
