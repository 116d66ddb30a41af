"""Plot helpers: units a reader understands, and no crash before the first snapshot."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jwql_dagster.filesystem.plots import (
    PNG_NAMES, TITLE, FilesystemHistory, byte_unit, dashboard_layout, render_dashboard, render_pngs, time_window,
)


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


def _one_snapshot() -> FilesystemHistory:
    t = datetime(2026, 3, 10, 3, 15, tzinfo=timezone.utc)
    general = [dict(date=t, total_file_count=140, fits_file_count=138, total_file_size=9_000_000, fits_file_size=8_900_000,
                    used=int(4e11), available=int(6e11), size=int(1e12))]
    central = [dict(date=t, area=a, used=1_000_000, size=int(1e12), available=int(6e11))
               for a in ("logs", "outputs", "working", "preview_images", "thumbnails", "all")]
    latest = [dict(instrument="nircam", filetype="rate", count=20, size=1), dict(instrument="miri", filetype="cal", count=4, size=1)]
    return FilesystemHistory(general=general, central=central, latest_instrument=latest, latest_date=t)


def test_time_window_gives_a_lone_snapshot_a_day() -> None:
    t = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    naive = t.replace(tzinfo=None)
    assert time_window([]) is None
    assert time_window([t]) == (naive - timedelta(hours=12), naive + timedelta(hours=12))
    assert time_window([t, t + timedelta(minutes=10)]) == (naive - timedelta(hours=11, minutes=55), naive + timedelta(hours=12, minutes=5))
    assert time_window([t, t + timedelta(days=3)]) == (naive, naive + timedelta(days=3))


def test_single_snapshot_dashboard_is_readable_and_page_wide() -> None:
    from bokeh.models import DatetimeAxis, Plot, Range1d

    layout = dashboard_layout(_one_snapshot())
    plots = list(layout.select({"type": Plot}))
    timed = [p for p in plots if isinstance(p.xaxis[0], DatetimeAxis)]
    assert len(timed) == 5  # server and central storage, directories, volume, file count
    for p in timed:
        assert isinstance(p.x_range, Range1d) and p.x_range.end - p.x_range.start == timedelta(days=1)
        assert any(type(r.glyph).__name__ == "Scatter" for r in p.renderers)  # the lone snapshot is a visible point
        assert p.sizing_mode == "stretch_width"
    assert layout.sizing_mode == "stretch_width"
    page = render_dashboard(_one_snapshot())
    assert f"<title>{TITLE}</title>" in page and "1 snapshot(s); latest 10 Mar 2026 03:15 UTC" in page
