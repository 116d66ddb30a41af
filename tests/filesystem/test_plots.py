"""Plot helpers: units a reader understands, and no crash before the first snapshot."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jwql_dagster.filesystem.plots import PNG_NAMES, FilesystemHistory, byte_unit, render_dashboard, render_pngs


@pytest.mark.parametrize("n, unit", [(0, "bytes"), (999, "bytes"), (1500, "kB"), (2.5e9, "GB"), (1.2e15, "TB")])
def test_byte_unit_picks_a_readable_decimal_unit(n: float, unit: str) -> None:
    div, label = byte_unit(n)
    assert label == unit and (n == 0 or 1 <= n / div < 1000 or unit == "TB")


def test_empty_history_still_renders() -> None:
    h = FilesystemHistory()
    assert set(render_pngs(h)) == set(PNG_NAMES)
    assert "No FITS files" in render_dashboard(h)


def test_pngs_of_a_long_history_in_tb() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    general = [dict(date=t0 + timedelta(days=i), total_file_count=10 + i, fits_file_count=9 + i, total_file_size=0,
                    fits_file_size=0, used=int(1e15), available=int(5e14), size=int(2e15)) for i in range(60)]
    central = [dict(date=g["date"], area=a, used=int(3e12), size=int(2e13), available=int(1e13))
               for g in general for a in ("outputs", "all")]
    pngs = render_pngs(FilesystemHistory(general=general, central=central, latest_date=general[-1]["date"]))
    assert all(p[:4] == b"\x89PNG" for p in pngs.values())
