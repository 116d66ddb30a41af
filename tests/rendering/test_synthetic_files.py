"""Files from the archive generator: our science map agrees with the generator's reference pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

synthetic = pytest.importorskip("jwql_dagster.demo.synthetic")

from jwql_dagster.previews.fits_io import open_science  # noqa: E402
from jwql_dagster.previews.render import render_file  # noqa: E402

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
