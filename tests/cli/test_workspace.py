"""The workspace file `ui` and `materialize-all` share: the project's in a checkout, else one in DAGSTER_HOME;
either way the code location is `jwql` loading jwql_dagster.definitions (what run origins name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwql_dagster.cli import workspace


def test_the_project_workspace_names_location_jwql(tmp_path: Path) -> None:
    found = workspace.workspace_file(tmp_path)
    assert found == workspace.project_workspace()
    origin = workspace.code_location_origin(found)
    assert origin.location_name == workspace.LOCATION_NAME == "jwql"
    assert origin.loadable_target_origin.module_name == "jwql_dagster.definitions"
    assert not (tmp_path / "workspace.yaml").exists()  # nothing written beside the instance


def test_without_a_checkout_one_is_written_into_dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workspace, "project_workspace", lambda: None)
    written = workspace.workspace_file(tmp_path)
    assert written == tmp_path / "workspace.yaml"
    origin = workspace.code_location_origin(written)
    assert origin.location_name == "jwql"
    assert origin.loadable_target_origin.module_name == "jwql_dagster.definitions"
    job = workspace.remote_job_origin(written, "__repository__", "__ASSET_JOB")
    assert job.location_name == "jwql" and job.repository_origin.get_label() == "__repository__@jwql"
    # A damaged file is rewritten; an intact one is left as it is.
    written.write_text("load_from: []\n")
    assert workspace.workspace_file(tmp_path).read_text() == workspace.WORKSPACE_TEXT


def test_a_workspace_without_our_module_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "workspace.yaml"
    other.write_text("load_from:\n  - python_module:\n      module_name: somebody.else\n      location_name: other\n")
    with pytest.raises(SystemExit, match="no code location loads jwql_dagster.definitions \\(locations: other\\)"):
        workspace.code_location_origin(other)

