"""Reading jwql's cron-log tree: layout, verdicts, times, and the demo tree written by make-legacy-logs."""

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jwql_dagster.cli import main
from jwql_dagster.demo.legacy_logs import make_legacy_logs
from jwql_dagster.monitoring.legacy_logs import judge_log, scan_log_tree, time_from_name
from jwql_dagster.monitoring.status import FAILURE, SUCCESS, compute_status

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def test_demo_tree_gives_expected_status(tmp_path: Path):
    truth = make_legacy_logs(tmp_path, now=NOW, tz=timezone.utc)
    records = scan_log_tree(tmp_path, tz=timezone.utc)
    states = {s.monitor_name: s for s in compute_status(records, now=NOW)}
    assert set(states) == set(truth)  # monitor_cron_jobs and the dev tree are not ops monitors
    for module, t in truth.items():
        s = states[module]
        assert (s.status, s.possibly_missing, s.n_runs, s.latest_file) == (t["status"], t["possibly_missing"], t["runs"], t["latest"]), module
    assert states["generate_preview_images"].possibly_missing  # hourly job silent for two days
    assert 3600 <= states["generate_preview_images"].cadence_mean_s < 3660
    assert 86400 - 300 < states["monitor_filesystem"].cadence_mean_s < 86400 + 300
    assert states["monitor_template_cache"].cadence_mean_s == 31556736.0
    assert "ConnectionError" in states["monitor_mast"].error_summary
    assert states["generate_proposal_thumbnails"].error_summary == "log file is empty"
    assert states["monitor_filesystem"].latest_time == NOW - timedelta(hours=3)


def test_ops_is_read_not_prod(tmp_path: Path):
    for env in ("prod", "ops", "dev"):
        folder = tmp_path / env / f"mon_{env}"
        folder.mkdir(parents=True)
        (folder / f"mon_{env}_h_2026-03-10-11-00.log").write_text("start\nCompleted Successfully\n")
    assert {r.monitor_name for r in scan_log_tree(tmp_path)} == {"mon_ops"}
    assert {r.monitor_name for r in scan_log_tree(tmp_path, "dev")} == {"mon_dev"}
    assert scan_log_tree(tmp_path / "nowhere") == []


def test_verdicts(tmp_path: Path):
    def log(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    assert judge_log(log("a.log", "x\ncompleted successfully\n\n  \n")).status == SUCCESS
    crashed = judge_log(log("b.log", "Traceback\nValueError: bad header\nCRASHED\n"))
    assert crashed == type(crashed)(FAILURE, "CRASHED: ValueError: bad header")
    assert judge_log(log("c.log", "")).reason == "log file is empty"
    assert "does not end" in judge_log(log("d.log", "still running step 3\n")).reason
    unreadable = judge_log(tmp_path / "gone.log")
    assert unreadable.status == FAILURE and unreadable.reason.startswith("log unreadable")


def test_times_from_name_else_mtime(tmp_path: Path):
    assert time_from_name("mon_pljwql1_2026-03-10-11-05.log", timezone.utc) == datetime(2026, 3, 10, 11, 5, tzinfo=timezone.utc)
    assert time_from_name("mon_2026-13-40-11-05.log", timezone.utc) is None
    folder = tmp_path / "ops" / "mon"
    folder.mkdir(parents=True)
    p = folder / "mon_renamed.log"
    p.write_text("Completed Successfully\n")
    os.utime(p, (1_700_000_000, 1_700_000_000))
    (rec,) = scan_log_tree(tmp_path)
    assert rec.start_time == datetime.fromtimestamp(1_700_000_000, timezone.utc) and rec.run_ref == str(p)


def test_cli_writes_tree(tmp_path: Path, capsys):
    assert main(["make-legacy-logs", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    assert "generate_preview_images" in out and "possibly missing" in out
    logs = list((tmp_path / "logs" / "ops").rglob("*.log"))
    assert len(logs) > 50 and all(oct(p.stat().st_mode & 0o777) == "0o644" for p in logs)
    (tmp_path / "file").write_text("")
    assert main(["make-legacy-logs", str(tmp_path / "file")]) == 2


def test_since_skips_old_logs_but_keeps_the_latest(tmp_path: Path):
    make_legacy_logs(tmp_path, now=NOW, tz=timezone.utc)
    recent = scan_log_tree(tmp_path, tz=timezone.utc, since=NOW - timedelta(hours=36))
    per_module = {}
    for r in recent:
        per_module[r.monitor_name] = per_module.get(r.monitor_name, 0) + 1
    assert per_module["generate_proposal_thumbnails"] == 6  # every 6 h, newest 2 h ago: 2, 8, ..., 32 h
    assert per_module["generate_preview_images"] == 3  # quiet for 2 days: its 3 newest logs are still read
    assert per_module["monitor_filesystem"] == 3  # 2 within 36 h, topped up to the 3 newest
    assert per_module["monitor_template_cache"] == 2


def test_unreadable_module_folder_does_not_hide_the_others(tmp_path: Path, monkeypatch):
    logs = tmp_path / "logs"
    truth = make_legacy_logs(logs)
    blocked = str(logs / "ops" / "monitor_mast")
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    records = scan_log_tree(logs)
    names = {r.monitor_name for r in records}
    assert names >= set(truth) - {"monitor_mast"}
    mast = [r for r in records if r.monitor_name == "monitor_mast"]
    assert len(mast) == 1 and mast[0].status == FAILURE and "unreadable" in (mast[0].error_summary or "")
