"""The code location the UI loads (location ``jwql``), shared by `ui` and `materialize-all`.

Runs launched outside the UI only appear in its Overview timeline, and re-execute from it
cleanly, when they carry the origin of a code location the UI knows: same location name and
repository name. Both commands therefore read the same workspace file: the project's
``workspace.yaml`` in a source checkout, else one written into DAGSTER_HOME that loads
``jwql_dagster.definitions`` as location ``jwql`` (``dagster dev -m`` would name the location
after the module). This module imports no Dagster at import time (``--help`` stays instant).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jwql_dagster.atomic import atomic_write_text

LOCATION_NAME = "jwql"
MODULE = "jwql_dagster.definitions"

WORKSPACE_TEXT = f"""# Written by jwql-dagster (cli/workspace.py): the code location `ui` and `materialize-all` share.
load_from:
  - python_module:
      module_name: {MODULE}
      location_name: {LOCATION_NAME}
"""


def project_workspace() -> Path | None:
    """The source checkout's workspace.yaml (editable install), if there is one."""
    import jwql_dagster

    candidate = Path(jwql_dagster.__file__).resolve().parent.parent / "workspace.yaml"
    return candidate if candidate.is_file() else None


def workspace_file(dagster_home: Path) -> Path:
    """The workspace file to load: the project's, else ``<dagster_home>/workspace.yaml`` (written if needed)."""
    found = project_workspace()
    if found is not None:
        return found
    path = Path(dagster_home) / "workspace.yaml"
    if not path.is_file() or path.read_text() != WORKSPACE_TEXT:
        atomic_write_text(path, WORKSPACE_TEXT)
    return path


def code_location_origin(workspace: Path) -> Any:
    """The origin of our code location as the UI builds it from ``workspace`` (no code server is started)."""
    from dagster._core.workspace.load import location_origins_from_yaml_paths

    origins = list(location_origins_from_yaml_paths([str(workspace)]))
    for origin in origins:
        target = getattr(origin, "loadable_target_origin", None)
        if getattr(target, "module_name", None) == MODULE:
            return origin
    names = ", ".join(o.location_name for o in origins) or "none"
    raise SystemExit(f"{workspace}: no code location loads {MODULE} (locations: {names})")


def remote_job_origin(workspace: Path, repository_name: str, job_name: str) -> Any:
    """The RemoteJobOrigin of ``job_name`` in our location: what the UI groups and re-executes runs by."""
    from dagster._core.remote_origin import RemoteRepositoryOrigin

    return RemoteRepositoryOrigin(code_location_origin(workspace), repository_name).get_job_origin(job_name)
