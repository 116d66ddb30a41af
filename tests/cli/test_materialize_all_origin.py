"""Runs of `jwql-dagster materialize-all` carry the code location's origin (issue 19, item 5).

Without it the UI leaves them out of the Overview timeline (it groups runs by the repository
label Dagster derives from the origin) and re-executing one from the UI fails. These tests make
real runs with the command, then re-execute one exactly as the UI's "Re-execute all" button does
(GraphQL against a workspace loaded from the same workspace file, with its own code server) and
as a script does (``dg.execute_job`` with ``ReexecutionOptions``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from jwql_dagster.cli.workspace import LOCATION_NAME, workspace_file
from tests.cli.support import cli, user_env

pytestmark = pytest.mark.slow

REEXECUTE = """
mutation($reexecutionParams: ReexecutionParams) {
  launchPipelineReexecution(reexecutionParams: $reexecutionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


@pytest.fixture(scope="module")
def materialized(small_archive, tmp_path_factory: pytest.TempPathFactory) -> dg.DagsterInstance:
    tmp_path = tmp_path_factory.mktemp("origin")
    env = user_env(tmp_path, small_archive.root)
    assert cli(env, "register-programs").returncode == 0
    done = cli(env, "materialize-all", "--select", "archive_files")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "summary:" in done.stdout and "0 failed" in done.stdout
    # The same settings in this process and in any code server it starts (one instance for the module).
    with pytest.MonkeyPatch.context() as patch:
        for key in ("JWQL_HOME", "JWQL_FILESYSTEM"):
            patch.setenv(key, env[key])
        patch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
        with dg.DagsterInstance.get() as instance:
            yield instance


def test_runs_name_the_code_location_the_ui_loads(materialized: dg.DagsterInstance) -> None:
    runs = materialized.get_runs(dg.RunsFilter(tags={"jwql/launched_by": "materialize-all"}))
    assert runs
    for run in runs:
        origin = run.remote_job_origin
        assert origin is not None, run.run_id
        assert origin.location_name == LOCATION_NAME
        assert origin.job_name == run.job_name
        assert run.job_code_origin is not None  # still reconstructable in a plain Python process
        assert run.tags["jwql/launched_by"] == "materialize-all"
    # The UI's per-repository run list and the Overview timeline filter on this label.
    label = f"{runs[0].remote_job_origin.repository_origin.repository_name}@{LOCATION_NAME}"
    labelled = materialized.get_runs(dg.RunsFilter(tags={REPOSITORY_LABEL_TAG: label}))
    assert {r.run_id for r in runs} <= {r.run_id for r in labelled}
    # One launch id for every run of the call (the cron monitor counts launches).
    assert len({r.tags["jwql/launch"] for r in runs}) == 1


def test_a_run_re_executes_from_the_ui_and_from_python(materialized: dg.DagsterInstance, small_archive) -> None:
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_graphql.test.utils import execute_dagster_graphql

    # A run over a range of cells (an instrument with files in several programs); which instrument's run
    # comes last is not fixed, and a single cell runs with a plain partition key.
    runs = materialized.get_runs(dg.RunsFilter(tags={"jwql/launched_by": "materialize-all"}))
    parent = next((r for r in runs if "dagster/asset_partition_range_start" in r.tags), None)
    assert parent is not None, [r.tags.get("dagster/partition") for r in runs]
    workspace = workspace_file(Path(materialized.root_directory))
    with WorkspaceProcessContext(materialized, WorkspaceFileTarget(paths=[str(workspace)])) as process:
        context = process.create_request_context()
        assert not context.get_code_location_error(LOCATION_NAME)
        result = execute_dagster_graphql(
            context, REEXECUTE, {"reexecutionParams": {"parentRunId": parent.run_id, "strategy": "ALL_STEPS"}}
        )
        answer = result.data["launchPipelineReexecution"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        child_id = answer["run"]["runId"]
        if materialized.get_run_by_id(child_id).status == dg.DagsterRunStatus.QUEUED:
            # No daemon here: launch it from the queue as the daemon would, in the code location's server.
            materialized.launch_run(child_id, context)
        deadline = time.monotonic() + 240
        done = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
        while (child := materialized.get_run_by_id(child_id)).status not in done:
            assert time.monotonic() < deadline, f"re-executed run still {child.status}"
            time.sleep(0.5)
    assert child.status == dg.DagsterRunStatus.SUCCESS
    assert child.parent_run_id == parent.run_id
    # The parent ran a range of cells (one instrument over its programs): the re-execution runs the same range.
    ranged = {k: v for k, v in parent.tags.items() if k.startswith("dagster/asset_partition_range_")}
    assert len(ranged) == 2
    assert {k: child.tags.get(k) for k in ranged} == ranged
    assert child.remote_job_origin.location_name == LOCATION_NAME

    # The same from a Python script (its own process: the code location reads its settings when first
    # imported, and this test process imported it earlier with other settings): dg.execute_job with
    # ReexecutionOptions, no warning about the parent.
    env = {**os.environ, "DAGSTER_HOME": materialized.root_directory,
           "JWQL_HOME": str(Path(materialized.root_directory).parent), "JWQL_FILESYSTEM": str(small_archive.root)}
    script = subprocess.run([sys.executable, "-c", REEXECUTE_SCRIPT, parent.run_id, parent.job_name, json.dumps(ranged)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert script.returncode == 0, script.stdout + script.stderr
    answer = json.loads(script.stdout.strip().splitlines()[-1])
    assert answer["success"], script.stderr
    assert not answer["warnings"], answer["warnings"]


REEXECUTE_SCRIPT = """
import json, sys, warnings
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

parent_id, job_name, tags = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
recon = ReconstructableRepository.for_module("jwql_dagster.definitions", "defs").get_reconstructable_job(job_name)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    # execute_job does not inherit the parent's tags: a script names the partition range again.
    with dg.DagsterInstance.get() as instance, dg.execute_job(
        recon, instance=instance, tags=tags, reexecution_options=dg.ReexecutionOptions(parent_run_id=parent_id),
    ) as again:
        success = again.success
ours = [str(w.message) for w in caught if "origin" in str(w.message).lower() or "reexecut" in str(w.message).lower()]
print(json.dumps({"success": success, "warnings": ours}))
"""
