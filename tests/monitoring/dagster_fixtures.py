"""Small asset groups with real run history for the monitoring tests."""

import os

import dagster as dg

SECRET = "hunter2pass"


@dg.asset(group_name="alpha")
def alpha_asset() -> None:
    """Always succeeds."""


@dg.asset_check(asset=alpha_asset)
def alpha_ok() -> dg.AssetCheckResult:
    """Passes; raises when ALPHA_CHECK_FAIL is set (a check step failure fails its run)."""
    if os.environ.get("ALPHA_CHECK_FAIL"):
        raise RuntimeError("alpha check exploded")
    return dg.AssetCheckResult(passed=True)


@dg.asset(group_name="beta")
def beta_asset() -> None:
    """Fails when BETA_FAIL is set, with a database URL holding a password in its message."""
    if os.environ.get("BETA_FAIL"):
        raise ValueError(f"cannot reach postgresql://jwql:{SECRET}@db.example:5432/jwql")


@dg.asset(group_name="gamma", partitions_def=dg.StaticPartitionsDefinition(["fgs", "miri", "nircam", "niriss", "nirspec"]))
def mast_inventory() -> None:
    """Stands in for the MAST helper's partitioned asset (same key)."""


def run(assets: list, instance: dg.DagsterInstance, fail: bool = False, **kwargs) -> dg.ExecuteInProcessResult:
    if fail:
        os.environ["BETA_FAIL"] = "1"
    try:
        return dg.materialize(assets, instance=instance, raise_on_error=False, **kwargs)
    finally:
        os.environ.pop("BETA_FAIL", None)


def build_defs() -> dg.Definitions:
    """A code location holding the test groups and the real monitoring definitions (resources from env)."""
    from jwql_dagster.monitoring.assets import defs as monitoring_defs
    from jwql_dagster.monitoring.checks import freshness_checks
    from jwql_dagster.monitoring.sensors import defs as sensor_defs
    from tests.plugins.resources import make_resources

    resources = make_resources()
    return dg.Definitions.merge(
        monitoring_defs,
        sensor_defs,
        dg.Definitions(
            assets=[alpha_asset, beta_asset, mast_inventory],
            asset_checks=[alpha_ok],
            jobs=[dg.define_asset_job("alpha_job", selection=[alpha_asset]), dg.define_asset_job("beta_job", selection=[beta_asset]),
                  dg.define_asset_job("gamma_job", selection=[mast_inventory]),
                  dg.define_asset_job("freshness_job", selection=dg.AssetSelection.checks(*freshness_checks))],
            resources={"db": resources["db"], "archive": resources["archive"]},
            executor=dg.in_process_executor,
        ),
    )


def execute(job_name: str, instance: dg.DagsterInstance, fail: bool = False, **kwargs):
    """Run a job as the daemon would: reconstructed from its code location, so context.repository_def exists."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module(__name__, "build_defs", working_directory=os.getcwd())
    if fail:
        os.environ["BETA_FAIL"] = "1"
    try:
        return dg.execute_job(repo.get_reconstructable_job(job_name), instance=instance, raise_on_error=False, **kwargs)
    finally:
        os.environ.pop("BETA_FAIL", None)


def launch_like_ui(job_name: str, instance: dg.DagsterInstance, assets=None, checks=None, fail_check: bool = False, start: bool = True):
    """Create and run a run the way the webserver's launchRun does (dagster_graphql create_valid_pipeline_run).

    The UI sends the selected assets (an empty list is stored as None) and the selected checks;
    "Execute checks" gives asset_selection=None with a non-empty asset_check_selection.
    With start=False the run is failed before it starts, as a launcher error would.
    """
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.execution.api import create_execution_plan, execute_run
    from dagster._core.snap import snapshot_from_execution_plan

    repo = ReconstructableRepository.for_module(__name__, "build_defs", working_directory=os.getcwd())
    full = repo.get_reconstructable_job(job_name)
    asset_selection = frozenset(assets) if assets else None
    check_selection = frozenset(checks) if checks is not None else None
    sub = full.get_subset(asset_selection=asset_selection, asset_check_selection=check_selection) if (asset_selection or check_selection is not None) else full
    job_def = sub.get_definition()
    plan = create_execution_plan(sub)
    snapshot = job_def.get_job_snapshot()
    run = instance.create_run(
        job_name=job_name, run_id=None, run_config={}, resolved_op_selection=None, step_keys_to_execute=None,
        status=dg.DagsterRunStatus.NOT_STARTED, tags=None, root_run_id=None, parent_run_id=None,
        job_snapshot=snapshot, execution_plan_snapshot=snapshot_from_execution_plan(plan, snapshot.snapshot_id),
        parent_job_snapshot=job_def.get_parent_job_snapshot(), remote_job_origin=None, job_code_origin=full.get_python_origin(),
        asset_selection=asset_selection, asset_check_selection=check_selection, op_selection=None,
        asset_graph=job_def.asset_layer.asset_graph,
    )
    if not start:
        instance.report_run_failed(run)
        return instance.get_run_by_id(run.run_id)
    if fail_check:
        os.environ["ALPHA_CHECK_FAIL"] = "1"
    try:
        return execute_run(full, run, instance)
    finally:
        os.environ.pop("ALPHA_CHECK_FAIL", None)
