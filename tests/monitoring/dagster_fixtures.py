"""Small asset groups with real run history for the monitoring tests."""

import os

import dagster as dg

SECRET = "hunter2pass"


@dg.asset(group_name="alpha")
def alpha_asset() -> None:
    """Always succeeds."""


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
    from jwql_dagster.assets.monitoring import defs as monitoring_defs, freshness_checks
    from jwql_dagster.config import load_settings
    from jwql_dagster.resources import build_resources
    from jwql_dagster.sensors.run_failures import defs as sensor_defs

    resources = build_resources(load_settings())
    return dg.Definitions.merge(
        monitoring_defs,
        sensor_defs,
        dg.Definitions(
            assets=[alpha_asset, beta_asset, mast_inventory],
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
