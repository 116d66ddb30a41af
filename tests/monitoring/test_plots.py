"""The cron status table: jwql's columns, colours, escaping; written atomically with mode 0644."""

from datetime import datetime, timezone

from jwql_dagster.monitoring.status import FAILURE, SUCCESS, MonitorState
from jwql_dagster.monitoring.plots import GREEN, ORANGE, RED, TITLE, markdown_table, table_records, table_rows, write_table

T = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def state(name: str, status: str = SUCCESS, missing: bool = False, source: str = "legacy") -> MonitorState:
    return MonitorState(name, source, f"{name}_h_2026-03-10-12-00.log", T, 3600.0, 60.0, missing, status, 12, 0.0)


STATES = [state("monitor_ok"), state("monitor_failed", FAILURE), state("monitor_late", missing=True),
          state("previews", source="dagster"), state("<script>alert(1)</script>|x")]


def test_rows_follow_jwql():
    rows = table_rows(STATES)
    assert list(rows[0]) == ["Monitor Name", "Most Recent File", "Most Recent Time", "Possible Missing File", "Status"]
    assert rows[0]["Most Recent Time"] == "Tue, 10 Mar 2026 12:00:00 +0000"
    assert [r["Status"] for r in rows[:3]] == ["success", "failure", "success"]
    assert [r["Possible Missing File"] for r in rows[:3]] == ["False", "False", "True"]
    assert rows[3]["Monitor Name"] == "previews (dagster)"


def test_html_has_colours_and_escapes_names(tmp_path):
    path = write_table(tmp_path, STATES)
    assert path == tmp_path / "monitor_cron_jobs" / "cron_status_table.html"
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    html = path.read_text()
    for colour in (GREEN, RED, ORANGE):
        assert colour in html
    assert "<script>alert(1)</script>" not in html
    # bokeh stores its data HTML-escaped, so our "&lt;" appears as "&amp;lt;": the browser shows the text and runs nothing
    assert "&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;|x" in html
    md = markdown_table(STATES)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|x" in md and "**failure**" in md and "**True**" in md


def test_markdown_marks_missing_cadence():
    few = MonitorState("new_monitor", "legacy", "x.log", T, 31556736.0, 31556736.0, False, SUCCESS, 2, -1.0)
    assert "n/a (fewer than 3 runs)" in markdown_table([few])
    assert markdown_table([]) == "_No monitor has any run yet._"


def test_page_is_titled_timed_and_links_dagster_runs(tmp_path):
    run_id = "0123abcd-4567-89ef-0123-456789abcdef"
    dagster = MonitorState("previews", "dagster", run_id, T, 3600.0, 60.0, False, SUCCESS, 12, 0.0)
    taken = datetime(2026, 3, 10, 12, 7, tzinfo=timezone.utc)
    html = write_table(tmp_path, [dagster, state("monitor_ok")], taken=taken, snapshot_id="snap-1",
                       ui_url="https://dagster.example/").read_text()
    assert f"<title>{TITLE}</title>" in html and f"<h1>{TITLE}</h1>" in html
    assert "Snapshot taken Tue, 10 Mar 2026 12:07:00 +0000 (monitor_status snapshot snap-1)" in html
    assert f"https://dagster.example/runs/{run_id}" in html  # the Dagster run is one click away
    assert "2 monitor(s), 0 failing, 0 possibly missing" in html
    default = write_table(tmp_path, [dagster]).read_text()
    assert f"http://127.0.0.1:3000/runs/{run_id}" in default  # `make ui` when JWQL_UI_URL is unset


def test_page_escapes_what_it_shows_around_the_table(tmp_path):
    html = write_table(tmp_path, STATES, snapshot_id="<b>x</b>").read_text()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_ui_table_records_carry_cadence_and_runs():
    rec = {r["monitor"]: r for r in table_records(STATES)}
    assert rec["monitor_late"]["possibly_missing"] is True and rec["monitor_failed"]["status"] == "failure"
    assert rec["previews (dagster)"]["cadence"] == "60m ± 60s" and rec["monitor_ok"]["runs"] == 12
