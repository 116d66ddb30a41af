"""The cron-job status table: jwql's bokeh DataTable (same columns and colours) and a markdown twin for the UI.

Colours as jwql: "Status" green for success and red for failure; "Possible Missing File"
orange when True, green otherwise. Values are HTML-escaped before they enter the
table's cell templates (bokeh renders those as HTML), since a monitor name or log name
comes from folder names; the page around the table is a jinja2 template with autoescape.
It is titled and timed (when the snapshot was taken), and a Dagster monitor's latest run
links to that run in the Dagster UI. The page embeds bokeh's JavaScript (INLINE) so it
renders on servers without internet.
"""

from __future__ import annotations

import html
import os
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Sequence

from markupsafe import Markup

from jwql_dagster.atomic import atomic_write_text
from jwql_dagster.monitoring.status import ONE_YEAR_S, SUCCESS, MonitorState, format_duration
from jwql_dagster.pages import bokeh_page, page_template

GREEN = "#2ca02c"
RED = "#d62728"
ORANGE = "#ff7f0e"
COLUMNS = ("Monitor Name", "Most Recent File", "Most Recent Time", "Possible Missing File", "Status")
TABLE_FILE = ("monitor_cron_jobs", "cron_status_table.html")
TITLE = "Cron job status"
DEFAULT_UI_URL = "http://127.0.0.1:3000"  # `make ui`; JWQL_UI_URL names a deployed Dagster UI

PAGE_SOURCE = bokeh_page("""<p class="meta">Snapshot taken {{ taken }}{% if snapshot_id %} (monitor_status snapshot {{ snapshot_id }}){% endif %}:
{{ n_monitors }} monitor(s), {{ n_failing }} failing, {{ n_missing }} possibly missing.
Dagster monitors link to their latest run in the <a href="{{ ui_url }}">Dagster UI</a>.</p>""")


def rfc2822(t: datetime | None) -> str:
    return format_datetime(t.astimezone(timezone.utc)) if t else "never"


def table_rows(states: Sequence[MonitorState]) -> list[dict[str, str]]:
    """Display values of each monitor, as jwql shows them (status in lower case, missing flag as 'True'/'False')."""
    rows = []
    for s in states:
        rows.append({
            "Monitor Name": s.monitor_name if s.source == "legacy" else f"{s.monitor_name} (dagster)",
            "Most Recent File": s.latest_file or "",
            "Most Recent Time": rfc2822(s.latest_time),
            "Possible Missing File": str(bool(s.possibly_missing)),
            "Status": "success" if s.status == SUCCESS else "failure",
        })
    return rows


def table_records(states: Sequence[MonitorState]) -> list[dict[str, str | int | bool]]:
    """One record per monitor for a UI table: jwql's columns plus the cadence and the number of runs."""
    out = []
    for s, row in zip(states, table_rows(states)):
        cad = "n/a (fewer than 3 runs)" if s.cadence_mean_s == ONE_YEAR_S else (
            f"{format_duration(s.cadence_mean_s)} ± {format_duration(s.cadence_std_s)}")
        out.append({"monitor": row["Monitor Name"], "most_recent_file": row["Most Recent File"],
                    "most_recent_time": row["Most Recent Time"], "possibly_missing": bool(s.possibly_missing),
                    "status": row["Status"], "cadence": cad, "runs": s.n_runs})
    return out


def _md_cell(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(states: Sequence[MonitorState]) -> str:
    """The table as markdown (for Dagster metadata), with a cadence column and emoji-free colour words."""
    if not states:
        return "_No monitor has any run yet._"
    head = "| " + " | ".join(COLUMNS) + " | Cadence (mean ± std) | Runs |\n|" + "---|" * (len(COLUMNS) + 2) + "\n"
    lines = []
    for s, row in zip(states, table_rows(states)):
        missing = "**True**" if s.possibly_missing else "False"
        status = "**failure**" if row["Status"] == "failure" else "success"
        if s.cadence_mean_s == ONE_YEAR_S:
            cad = "n/a (fewer than 3 runs)"
        else:
            cad = f"{format_duration(s.cadence_mean_s)} ± {format_duration(s.cadence_std_s)}"
        cells = [_md_cell(row["Monitor Name"]), _md_cell(row["Most Recent File"]), row["Most Recent Time"], missing, status, cad, str(s.n_runs)]
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def run_link(state: MonitorState, ui_url: str) -> str:
    """The Dagster UI page of a Dagster monitor's latest run ('' for a legacy cron job)."""
    if state.source != "dagster" or not state.latest_file:
        return ""
    return f"{ui_url.rstrip('/')}/runs/{state.latest_file}"


def render_html(states: Sequence[MonitorState], taken: datetime | None = None, snapshot_id: str | None = None,
                ui_url: str | None = None) -> str:
    """A standalone HTML page holding the bokeh DataTable, titled and timed."""
    from bokeh.embed import components
    from bokeh.models import ColumnDataSource, DataTable, HTMLTemplateFormatter, TableColumn
    from bokeh.resources import INLINE

    ui_url = ui_url or DEFAULT_UI_URL
    rows = table_rows(states)
    data: dict[str, list[str]] = {f"c{i}": [html.escape(r[c]) for r in rows] for i, c in enumerate(COLUMNS)}
    data["missing_color"] = [ORANGE if r["Possible Missing File"] == "True" else GREEN for r in rows]
    data["status_color"] = [GREEN if r["Status"] == "success" else RED for r in rows]
    data["link"] = [html.escape(run_link(s, ui_url)) for s in states]
    source = ColumnDataSource(data)

    def coloured(color_field: str) -> HTMLTemplateFormatter:
        return HTMLTemplateFormatter(
            template=f'<div style="background:<%= {color_field} %>;color:white;font-weight:bold;padding-left:4px"><%= value %></div>'
        )

    plain = HTMLTemplateFormatter(template="<%= value %>")
    linked = HTMLTemplateFormatter(template='<% if (link) { %><a href="<%= link %>" target="_blank"><%= value %></a><% } else { %><%= value %><% } %>')
    widths = (260, 380, 230, 150, 90)
    columns = []
    for i, (name, width) in enumerate(zip(COLUMNS, widths)):
        fmt = {"Possible Missing File": coloured("missing_color"), "Status": coloured("status_color"),
               "Most Recent File": linked}.get(name, plain)
        columns.append(TableColumn(field=f"c{i}", title=name, formatter=fmt, width=width))
    table = DataTable(source=source, columns=columns, width=sum(widths) + 40, height=30 + 28 * max(1, len(rows)), index_position=None)
    script, div = components(table)
    return page_template(PAGE_SOURCE).render(
        title=TITLE,
        taken=rfc2822(taken or datetime.now(timezone.utc)),
        snapshot_id=snapshot_id,
        n_monitors=len(states),
        n_failing=sum(s.status != SUCCESS for s in states),
        n_missing=sum(bool(s.possibly_missing) for s in states),
        ui_url=ui_url,
        resources=Markup(INLINE.render()),  # bokeh's own JS and CSS
        script=Markup(script),
        div=Markup(div),
    )


def write_table(output_root: str | os.PathLike[str], states: Sequence[MonitorState], taken: datetime | None = None,
                snapshot_id: str | None = None, ui_url: str | None = None) -> Path:
    """Write ``{output_root}/monitor_cron_jobs/cron_status_table.html`` atomically and return its path."""
    target = Path(output_root).joinpath(*TABLE_FILE)
    atomic_write_text(target, render_html(states, taken, snapshot_id, ui_url))
    return target
