"""benchmarks/bench_runs.py: the partition it builds matches issue 17's measurement, and its run helpers.

Cheap checks only (no rendering, no dagster dev): a partition without the mosaic or the
uncal, or a launch that drops the partition tag, would make the printed figures
answer a different question than the issue asks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_runs  # noqa: E402
import dagster_dev  # noqa: E402


def test_partition_is_one_nircam_cell_of_13_files_with_one_mosaic_and_an_uncal():
    plan = bench_runs.partition_plan()
    names = [Path(f["rel"]).name for f in plan["files"]]
    assert len(names) == len(set(names)) == 13
    assert {f["rel"].split("/")[1] for f in plan["files"]} == {plan["program"]}
    assert {f["suffix"] for f in plan["files"]} >= {"rate", "uncal", "rateints", "cal"}
    assert bench_runs.expected_mosaics(plan) == [names[0].replace("_nrca1_", "_NRC_SWALL_MOSAIC_").removesuffix(".fits")]
    assert bench_runs.partition_key(plan) == f"nircam|{plan['program']}"


def test_options_default_to_both_figures_and_reject_unknown_ones(capsys):
    args = bench_runs.parse_args([])
    assert args.only == ["partition", "noop"] and args.repeat == 5
    assert bench_runs.parse_args(["--only", "noop", "--repeat", "2"]).only == ["noop"]
    with pytest.raises(SystemExit):
        bench_runs.parse_args(["--only", "sensor"])
    with pytest.raises(SystemExit):
        bench_runs.parse_args(["--repeat", "0"])


class FakeGraphQL:
    def __init__(self, answers):
        self.answers, self.calls = list(answers), []

    def __call__(self, query, variables=None, timeout=60):
        self.calls.append(variables)
        return self.answers.pop(0)


def test_launch_run_sends_the_job_selector_and_partition_tag_and_raises_on_errors():
    gql = FakeGraphQL([{"launchRun": {"__typename": "LaunchRunSuccess", "run": {"runId": "r1"}}},
                       {"launchRun": {"__typename": "RunConfigValidationInvalid", "errors": [{"message": "bad op"}]}}])
    assert dagster_dev.launch_run(gql, "jwql", "__repository__", "preview_partition_job",
                                  {"dagster/partition": "nircam|jw01068"}) == "r1"
    params = gql.calls[0]["p"]
    assert params["selector"] == {"repositoryLocationName": "jwql", "repositoryName": "__repository__",
                                  "jobName": "preview_partition_job"}
    assert params["executionMetadata"]["tags"] == [{"key": "dagster/partition", "value": "nircam|jw01068"}]
    with pytest.raises(RuntimeError, match="bad op"):
        dagster_dev.launch_run(gql, "jwql", "__repository__", "preview_partition_job")


def test_wait_for_run_polls_until_a_terminal_status():
    running = {"runOrError": {"__typename": "Run", "status": "STARTED"}}
    done = {"runOrError": {"__typename": "Run", "status": "SUCCESS", "creationTime": 1.0, "startTime": 2.0,
                           "endTime": 3.5}}
    gql = FakeGraphQL([running, running, done])
    stats, _seen = dagster_dev.wait_for_run(gql, "r1", timeout=10, poll=0.0)
    assert stats["status"] == "SUCCESS" and len(gql.calls) == 3
