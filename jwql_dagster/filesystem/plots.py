"""Filesystem history plots: jwql's GeneralDashboard as one offline bokeh page, plus PNGs.

The dashboard mirrors jwql's ``GeneralDashboard`` panels (available and used storage
with "Server Storage" / "Central Store Storage" tabs, JWQL directory sizes, total data
volume, files per filetype per instrument, files per instrument, file count over time).
The page embeds bokeh's JavaScript (``INLINE`` resources, about 4 MB) rather than
loading it from a CDN, because the observatory network that views it may have no
internet; the page around the plots is a jinja2 template with autoescape. Plots span the
page width and draw every snapshot as a point, and a time axis always spans at least a
day, so a dashboard with a single snapshot reads as a dated point, not an axis in
microseconds. Each panel also exists as a matplotlib PNG for places that show no HTML
(the Dagster UI, e-mail, a wiki).

Pure code (no Dagster): input is a :class:`FilesystemHistory` read from the database.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from markupsafe import Markup

from jwql_dagster.atomic import atomic_write_bytes, atomic_write_text
from jwql_dagster.pages import bokeh_page, page_template

DASHBOARD_NAME = "filesystem_dashboard.html"
PNG_NAMES: tuple[str, ...] = (
    "disk_usage",
    "directory_sizes",
    "data_volume",
    "filetypes",
    "files_per_instrument",
    "file_count",
)
DIRECTORY_AREAS: tuple[str, ...] = ("logs", "outputs", "working", "preview_images", "thumbnails")
INSTRUMENT_LABELS = {"fgs": "FGS", "miri": "MIRI", "nircam": "NIRCam", "niriss": "NIRISS", "nirspec": "NIRSpec",
                     "unrecognized": "Unrecognized"}
# Colour-blind-safe palette (Okabe-Ito)
COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
AVAILABLE_COLOR, USED_COLOR = "#009E73", "#D55E00"
MIN_TIME_SPAN = timedelta(days=1)  # a time axis shows at least this much, centred on the data
TITLE = "JWQL filesystem monitor"

PAGE_SOURCE = bokeh_page("""<p class="meta">{{ snapshots }} snapshot(s); latest {{ latest }}. Sizes in decimal units (1 TB = 10<sup>12</sup> bytes).</p>""")


@dataclass
class FilesystemHistory:
    """Every snapshot of the three history tables, oldest first; sizes in bytes, dates UTC."""

    general: list[dict[str, Any]] = field(default_factory=list)  # date, total_file_count, ..., used, available, size
    central: list[dict[str, Any]] = field(default_factory=list)  # date, area, size, used, available
    latest_instrument: list[dict[str, Any]] = field(default_factory=list)  # instrument, filetype, count, size
    latest_date: datetime | None = None

    @property
    def dates(self) -> list[datetime]:
        return [r["date"] for r in self.general]

    def central_series(self, area: str) -> list[dict[str, Any]]:
        return [r for r in self.central if r["area"] == area]

    def files_per_instrument(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.latest_instrument:
            out[r["instrument"]] = out.get(r["instrument"], 0) + int(r["count"])
        return dict(sorted(out.items()))

    def filetypes(self) -> dict[str, list[tuple[str, int]]]:
        """instrument -> [(filetype, count)] sorted by filetype."""
        out: dict[str, list[tuple[str, int]]] = {}
        for r in sorted(self.latest_instrument, key=lambda r: (r["instrument"], r["filetype"])):
            out.setdefault(r["instrument"], []).append((r["filetype"], int(r["count"])))
        return out


def byte_unit(max_bytes: float) -> tuple[float, str]:
    """(divisor, label) of the decimal unit that shows ``max_bytes`` as 1..999 (TB for an archive)."""
    for div, label in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if max_bytes >= div:
            return div, label
    return 1.0, "bytes"


def _naive(d: datetime) -> datetime:
    """UTC without tzinfo: what both bokeh and matplotlib plot without shifting."""
    return d.astimezone(timezone.utc).replace(tzinfo=None) if d.tzinfo else d


def _label(inst: str) -> str:
    return INSTRUMENT_LABELS.get(inst, inst)


def _day(d: datetime | None) -> str:
    return _naive(d).strftime("%d %b %Y %H:%M UTC") if d else "no data"


def time_window(dates: Sequence[datetime]) -> tuple[datetime, datetime] | None:
    """The x range of a time plot: the data's span, widened to MIN_TIME_SPAN around it (None without data).

    A single snapshot (or several within minutes) would otherwise get an axis a few
    microseconds wide, its ticks unreadable.
    """
    if not dates:
        return None
    first, last = _naive(min(dates)), _naive(max(dates))
    if last - first >= MIN_TIME_SPAN:
        return first, last
    middle = first + (last - first) / 2
    return middle - MIN_TIME_SPAN / 2, middle + MIN_TIME_SPAN / 2


def _series(rows: Sequence[dict[str, Any]], key: str) -> tuple[list[datetime], list[float]]:
    return [_naive(r["date"]) for r in rows], [float(r[key]) for r in rows]


def _storage_panels(h: FilesystemHistory) -> list[tuple[str, str, list[datetime], list[float], list[float]]]:
    """(tab, title, dates, available, used) for the server (archive disks) and the central store disk."""
    d, avail = _series(h.general, "available")
    _, used = _series(h.general, "used")
    c = h.central_series("all")
    cd, cavail = _series(c, "available")
    cused = [float(r["size"]) - float(r["available"]) for r in c]
    return [
        ("Server Storage", "Available & Used Storage on Server (archive)", d, avail, used),
        ("Central Store Storage", "Available & Used Storage on Central Store (used = size - available)", cd, cavail, cused),
    ]


# ---------------------------------------------------------------------------------------------
# bokeh


def render_dashboard(h: FilesystemHistory) -> str:
    """The whole dashboard as one self-contained HTML page (bokeh JS inlined, works offline)."""
    from bokeh.embed import components
    from bokeh.resources import INLINE

    script, div = components(dashboard_layout(h))
    return page_template(PAGE_SOURCE).render(title=TITLE, snapshots=len(h.general), latest=_day(h.latest_date),
                                             resources=Markup(INLINE.render()), script=Markup(script), div=Markup(div))


def dashboard_layout(h: FilesystemHistory) -> Any:
    """The dashboard's bokeh layout: every panel as wide as the page."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, DatetimeTickFormatter, Div, HoverTool, Range1d, TabPanel, Tabs
    from bokeh.plotting import figure
    from bokeh.transform import cumsum

    window = time_window(h.dates + [r["date"] for r in h.central])
    ticks = DatetimeTickFormatter(hours="%H:%M\n%d %b", hourmin="%H:%M\n%d %b", days="%d %b %Y", months="%b %Y", years="%Y")

    def time_figure(title: str, y_label: str) -> Any:
        fig = figure(title=title, x_axis_type="datetime", height=350, sizing_mode="stretch_width", x_axis_label="Date (UTC)",
                     y_axis_label=y_label, tools="pan,box_zoom,wheel_zoom,reset,save")
        if window is not None:
            fig.x_range = Range1d(*window)
        fig.xaxis.formatter = ticks
        return fig

    def lines(fig: Any, dates: list[datetime], series: list[tuple[str, list[float], str]], fmt: str) -> None:
        for name, values, color in series:
            src = ColumnDataSource({"date": dates, "value": values})
            fig.line("date", "value", source=src, color=color, line_width=2, legend_label=name)
            r = fig.scatter("date", "value", source=src, color=color, size=7, legend_label=name)
            fig.add_tools(HoverTool(renderers=[r], tooltips=[("", name), ("date", "@date{%F %H:%M}"), ("value", f"@value{{{fmt}}}")],
                                    formatters={"@date": "datetime"}))
        fig.legend.location = "top_left"

    # 1. available and used storage, server and central store tabs
    tabs = []
    for tab, title, dates, avail, used in _storage_panels(h):
        div, unit = byte_unit(max(avail + used, default=0))
        fig = time_figure(title, f"Disk Space ({unit})")
        lines(fig, dates, [("Available", [v / div for v in avail], AVAILABLE_COLOR),
                           ("Used", [v / div for v in used], USED_COLOR)], "0.00")
        tabs.append(TabPanel(child=fig, title=tab))
    storage = Tabs(tabs=tabs, sizing_mode="stretch_width")

    # 2. JWQL directory sizes per area, 3. total data volume ('all')
    area_rows = {a: h.central_series(a) for a in DIRECTORY_AREAS}
    div, unit = byte_unit(max((float(r["used"]) for rows in area_rows.values() for r in rows), default=0))
    dirs = time_figure("JWQL directory size", f"Used ({unit})")
    for (area, rows), color in zip(area_rows.items(), COLORS):
        if rows:
            d, v = _series(rows, "used")
            lines(dirs, d, [(area, [x / div for x in v], color)], "0.000")
    all_rows = h.central_series("all")
    d, v = _series(all_rows, "used")
    div, unit = byte_unit(max(v, default=0))
    volume = time_figure("JWQL central store directory, total data volume", f"Used ({unit})")
    lines(volume, d, [("all", [x / div for x in v], COLORS[0])], "0.000")

    # 4. files per filetype, a tab per instrument (latest snapshot)
    ft_tabs = []
    for inst, pairs in h.filetypes().items():
        types = [p[0] for p in pairs]
        src = ColumnDataSource({"filetype": types, "count": [p[1] for p in pairs]})
        fig = figure(x_range=types, title=f"{_label(inst)} files per Filetype: {_day(h.latest_date)}",
                     sizing_mode="stretch_width", height=350, x_axis_label="File Type", y_axis_label="Number of files",
                     tools="save")
        fig.vbar(x="filetype", top="count", source=src, width=0.8, color=COLORS[0])
        fig.add_tools(HoverTool(tooltips=[("filetype", "@filetype"), ("files", "@count")]))
        fig.y_range.start = 0
        fig.xaxis.major_label_orientation = math.pi / 4
        ft_tabs.append(TabPanel(child=fig, title=_label(inst)))
    filetypes: Any = (Tabs(tabs=ft_tabs, sizing_mode="stretch_width") if ft_tabs
                      else Div(text="<p>No FITS files in the latest snapshot.</p>"))

    # 5. files per instrument pie chart (latest snapshot)
    per_inst = h.files_per_instrument()
    total = sum(per_inst.values())
    pie = figure(title=f"Number of Files Per Instrument {_day(h.latest_date)}", width=520, height=400,
                 tools="hover,save", tooltips="@label: @count files (@pct{0.0}%)", x_range=(-1.0, 1.0),
                 y_range=(-1.0, 1.0))
    if total:
        src = ColumnDataSource({
            "label": [_label(k) for k in per_inst], "count": list(per_inst.values()),
            "angle": [2 * math.pi * c / total for c in per_inst.values()],
            "pct": [100.0 * c / total for c in per_inst.values()],
            "color": [COLORS[i % len(COLORS)] for i in range(len(per_inst))],
        })
        pie.wedge(x=0, y=0, radius=0.9, start_angle=cumsum("angle", include_zero=True), end_angle=cumsum("angle"),
                  line_color="white", fill_color="color", legend_field="label", source=src)
        pie.add_layout(pie.legend[0], "right")  # beside the pie, not over it
    pie.axis.visible = False
    pie.grid.grid_line_color = None

    # 6. file count over time
    d, n = _series(h.general, "total_file_count")
    _, nf = _series(h.general, "fits_file_count")
    count = time_figure("Number of Files in Filesystem", "Number of files")
    lines(count, d, [("All files", n, COLORS[0]), ("FITS files", nf, COLORS[1])], "0,0")

    return column(
        Div(text="<h2>Storage</h2>"), storage,
        Div(text="<h2>JWQL directories</h2>"), dirs, volume,
        Div(text="<h2>Files</h2>"), row(filetypes, pie, sizing_mode="stretch_width"), count,
        sizing_mode="stretch_width",
    )


# ---------------------------------------------------------------------------------------------
# matplotlib


def _figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (8.0, 4.0)) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _date_axis(ax: Any, dates: Sequence[datetime]) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("Date (UTC)")
    window = time_window(dates)
    if window is not None and window != (min(dates), max(dates)):  # one snapshot, or a few close together
        ax.set_xlim(*window)
    ax.grid(True, alpha=0.3)


def _time_lines(ax: Any, title: str, y_label: str, series: list[tuple[str, list[datetime], list[float], str]]) -> None:
    drawn = [s for s in series if s[1]]
    for name, dates, values, color in drawn:
        ax.plot(dates, values, marker="o" if len(dates) <= 40 else None, markersize=5, color=color, label=name, linewidth=2)
    ax.set_title(title)
    ax.set_ylabel(y_label)
    if drawn:
        _date_axis(ax, [d for s in drawn for d in s[1]])
        ax.legend(loc="best", fontsize="small")
        ax.set_ylim(bottom=0)
    else:
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def render_pngs(h: FilesystemHistory) -> dict[str, bytes]:
    """Each dashboard panel as PNG bytes, keyed by the names in PNG_NAMES."""
    out: dict[str, bytes] = {}

    fig, axes = _figure(1, 2, (11.0, 4.0))
    for ax, (tab, title, dates, avail, used) in zip(axes[0], _storage_panels(h)):
        div, unit = byte_unit(max(avail + used, default=0))
        dn = [_naive(d) for d in dates]
        _time_lines(ax, title.replace("Available & Used Storage on ", ""), f"Disk space ({unit})",
                    [("Available", dn, [v / div for v in avail], AVAILABLE_COLOR),
                     ("Used", dn, [v / div for v in used], USED_COLOR)])
    fig.suptitle("Available & used storage")
    out["disk_usage"] = _png(fig)

    fig, axes = _figure()
    area_rows = {a: h.central_series(a) for a in DIRECTORY_AREAS}
    div, unit = byte_unit(max((float(r["used"]) for rows in area_rows.values() for r in rows), default=0))
    series = []
    for (area, rows), color in zip(area_rows.items(), COLORS):
        d, v = _series(rows, "used")
        series.append((area, d, [x / div for x in v], color))
    _time_lines(axes[0][0], "JWQL directory size", f"Used ({unit})", series)
    out["directory_sizes"] = _png(fig)

    fig, axes = _figure()
    d, v = _series(h.central_series("all"), "used")
    div, unit = byte_unit(max(v, default=0))
    _time_lines(axes[0][0], "JWQL central store, total data volume", f"Used ({unit})",
                [("all", d, [x / div for x in v], COLORS[0])])
    out["data_volume"] = _png(fig)

    ft = h.filetypes()
    n = max(1, len(ft))
    ncols = 2 if n > 1 else 1
    nrows = math.ceil(n / ncols)
    fig, axes = _figure(nrows, ncols, (11.0 if ncols == 2 else 8.0, 3.2 * nrows + 0.6))
    flat = [ax for r in axes for ax in r]
    for ax, (inst, pairs) in zip(flat, ft.items()):
        ax.bar([p[0] for p in pairs], [p[1] for p in pairs], color=COLORS[0])
        ax.set_title(f"{_label(inst)} files per filetype")
        ax.set_xlabel("File type")
        ax.set_ylabel("Number of files")
        ax.tick_params(axis="x", labelrotation=45)
        for lab in ax.get_xticklabels():
            lab.set_horizontalalignment("right")
        ax.yaxis.get_major_locator().set_params(integer=True)
    for ax in flat[len(ft):]:
        ax.set_axis_off()
    if not ft:
        flat[0].text(0.5, 0.5, "no FITS files", transform=flat[0].transAxes, ha="center", va="center")
    fig.suptitle(f"Files per filetype: {_day(h.latest_date)}")
    out["filetypes"] = _png(fig)

    fig, axes = _figure(size=(7.0, 4.5))
    ax = axes[0][0]
    per_inst = h.files_per_instrument()
    total = sum(per_inst.values())
    if total:
        labels = [f"{_label(k)}: {v:,}" for k, v in per_inst.items()]
        ax.pie(list(per_inst.values()), labels=labels, colors=[COLORS[i % len(COLORS)] for i in range(len(per_inst))],
               autopct="%1.0f%%", startangle=90, counterclock=False, wedgeprops={"edgecolor": "white"})
        ax.set_aspect("equal")
    else:
        ax.text(0.5, 0.5, "no FITS files", transform=ax.transAxes, ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"Number of FITS files per instrument ({total:,})\n{_day(h.latest_date)}")
    out["files_per_instrument"] = _png(fig)

    fig, axes = _figure()
    d, nall = _series(h.general, "total_file_count")
    _, nfits = _series(h.general, "fits_file_count")
    ax = axes[0][0]
    _time_lines(ax, "Number of files in the archive", "Number of files",
                [("All files", d, nall, COLORS[0]), ("FITS files", d, nfits, COLORS[1])])
    ax.yaxis.get_major_locator().set_params(integer=True)
    from matplotlib.ticker import StrMethodFormatter

    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    out["file_count"] = _png(fig)
    return out


def write_outputs(h: FilesystemHistory, out_dir: str | Path) -> dict[str, Path]:
    """Write the dashboard and every PNG into ``out_dir`` atomically; name -> path."""
    out_dir = Path(out_dir)
    paths = {"dashboard": atomic_write_text(out_dir / DASHBOARD_NAME, render_dashboard(h))}
    for name, data in render_pngs(h).items():
        paths[name] = atomic_write_bytes(out_dir / f"{name}.png", data)
    return paths
