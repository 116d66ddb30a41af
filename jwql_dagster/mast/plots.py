"""Charts of the MAST inventory: a grouped bar chart (instrument x dataproduct) and a files-per-instrument pie.

Each is drawn twice from the same table: bokeh for the interactive HTML page and
matplotlib for a PNG that the Dagster UI shows inline and that works without JavaScript.
The HTML embeds bokeh's JavaScript (INLINE), so it renders on servers without internet.
"""

from __future__ import annotations

import io
import math
from typing import Sequence

import pandas as pd

# One colour per dataproduct / instrument, shared by both renderings so the HTML and PNG agree.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def inventory_table(counts: dict[str, dict[str, int]], dataproducts: Sequence[str]) -> pd.DataFrame:
    """``{instrument: {dataproduct: n}}`` -> columns instrument, *dataproducts, total (jwql's jwst_inventory table)."""
    rows = []
    for inst in sorted(counts):
        values = [int(counts[inst].get(dp, 0)) for dp in dataproducts]
        rows.append([inst, *values, sum(values)])
    return pd.DataFrame(rows, columns=["instrument", *dataproducts, "total"])


def bokeh_inventory_html(table: pd.DataFrame, dataproducts: Sequence[str], title: str) -> str:
    """A standalone HTML page: grouped bars of files per instrument and dataproduct, and a pie of files per instrument."""
    from bokeh.embed import file_html
    from bokeh.layouts import row
    from bokeh.models import ColumnDataSource, FactorRange
    from bokeh.plotting import figure
    from bokeh.resources import INLINE
    from bokeh.transform import factor_cmap

    factors = [(str(i), dp) for i in table["instrument"] for dp in dataproducts]
    counts = [int(table.loc[table["instrument"] == i, dp].iloc[0]) for i, dp in factors]
    bars = figure(x_range=FactorRange(*factors), height=400, width=640, title=title,
                  toolbar_location=None, tools="hover", tooltips="@x: @counts files")
    source = ColumnDataSource(data={"x": factors, "counts": counts})
    bars.vbar(x="x", top="counts", width=0.9, source=source, line_color="white",
              fill_color=factor_cmap("x", palette=list(PALETTE[: max(3, len(dataproducts))]), factors=list(dataproducts), start=1, end=2))
    bars.y_range.start = 0
    bars.x_range.range_padding = 0.1
    bars.xaxis.major_label_orientation = 1
    bars.yaxis.axis_label = "Files"
    bars.xgrid.grid_line_color = None

    totals = [int(v) for v in table["total"]]
    grand = sum(totals) or 1
    angles, start = [], 0.0
    for v in totals:
        angles.append((start, start + 2 * math.pi * v / grand))
        start += 2 * math.pi * v / grand
    pie_source = ColumnDataSource(data={
        "instrument": [str(i) for i in table["instrument"]], "files": totals,
        "start": [a for a, _ in angles], "end": [b for _, b in angles],
        "color": [PALETTE[k % len(PALETTE)] for k in range(len(totals))],
    })
    # x span / y span = plot width / height (roughly), so the pie stays round with the legend at its right
    pie = figure(height=400, width=560, title=f"Files per instrument ({sum(totals)} in total)",
                 toolbar_location=None, tools="hover", tooltips="@instrument: @files files",
                 x_range=(-1.0, 2.4), y_range=(-1.05, 1.05))
    pie.wedge(x=0, y=0, radius=0.85, start_angle="start", end_angle="end", line_color="white",
              fill_color="color", legend_field="instrument", source=pie_source)
    pie.axis.visible = False
    pie.grid.grid_line_color = None
    return file_html(row(bars, pie), INLINE, title)


def matplotlib_inventory_png(table: pd.DataFrame, dataproducts: Sequence[str], title: str) -> bytes:
    """The same two charts as a PNG (grouped bars left, pie right)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=90)
    ax_bar, ax_pie = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    instruments = [str(i) for i in table["instrument"]]
    n = max(1, len(dataproducts))
    width = 0.8 / n
    for k, dp in enumerate(dataproducts):
        xs = [i + (k - (n - 1) / 2) * width for i in range(len(instruments))]
        values = [int(v) for v in table[dp]]
        ax_bar.bar(xs, values, width=width, label=dp, color=PALETTE[k % len(PALETTE)])
        for x, v in zip(xs, values):
            ax_bar.annotate(str(v), (x, v), ha="center", va="bottom", fontsize=7)
    ax_bar.set_xticks(range(len(instruments)), instruments)
    ax_bar.set_ylabel("Files")
    ax_bar.set_title(title)
    ax_bar.legend(fontsize=8)
    totals = [int(v) for v in table["total"]]
    if sum(totals) > 0:
        ax_pie.pie(totals, labels=[f"{i}\n{t}" for i, t in zip(instruments, totals)],
                   colors=[PALETTE[k % len(PALETTE)] for k in range(len(totals))], startangle=90,
                   counterclock=False, wedgeprops={"linewidth": 1, "edgecolor": "white"}, textprops={"fontsize": 8})
    else:
        ax_pie.text(0.5, 0.5, "no files", ha="center", va="center")
        ax_pie.set_axis_off()
    ax_pie.set_title(f"Files per instrument ({sum(totals)} in total)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
