"""The MAST token and the database password never reach logs, event metadata, exceptions, outputs or the UI."""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import make_url

from jwql_dagster.demo.mast_server import Failures, start_server
from tests.plugins.resources import make_resources
from tests.reliability.conftest import PROGRAM, VISIT, all_event_text, good_rate, rate_name

pytestmark = pytest.mark.postgres
TOKEN = "mast-TOKEN-4f9c2d7e1a"
PASSWORD = "db-PASS-8b3e6f0c"


def _secrets_in(text: str) -> list[str]:
    return [s for s in (TOKEN, PASSWORD) if s in text]


def test_secrets_never_appear_in_events_logs_errors_outputs_or_the_ui(jwql_env, pg_url, monkeypatch, caplog, capfd,
                                                                       tmp_path: Path) -> None:
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    import jwql_dagster.filesystem.assets as fs_assets
    import jwql_dagster.mast.assets as mast_assets
    import jwql_dagster.monitoring.assets as monitoring
    import jwql_dagster.previews.assets as previews
    import jwql_dagster.archive.assets as archive_files
    from jwql_dagster.config import load_settings
    from jwql_dagster.mast.resources import MastService

    settings = jwql_env
    good_rate(settings.filesystem / "public" / PROGRAM / VISIT / rate_name(1))
    (settings.filesystem / "public" / PROGRAM / VISIT / rate_name(2)).write_bytes(b"broken")
    secret_url = make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)  # trust auth: any password
    caplog.set_level(logging.DEBUG)
    texts: list[tuple[str, str]] = []
    with start_server(token=TOKEN) as server:
        monkeypatch.setenv("JWQL_DATABASE_URL", secret_url)
        monkeypatch.setenv("MAST_API_TOKEN", TOKEN)
        monkeypatch.setenv("MAST_API_URL", server.url)
        settings = load_settings()
        resources = make_resources(settings)
        defs = dg.Definitions(
            assets=[archive_files.archive_files, previews.preview_assets, previews.proposal_thumbnail,
                    previews.preview_gallery, fs_assets.filesystem_snapshot, fs_assets.filesystem_plots,
                    mast_assets.mast_inventory, mast_assets.jwst_inventory, mast_assets.filesystem_characteristics],
            resources=resources,
        )
        # the UI: everything the webserver is sent about the code location (resources tab, config defaults)
        texts.append(("repository snapshot", serialize_value(RepositorySnap.from_def(defs.get_repository_def()))))

        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("program", [PROGRAM])
            runs = []
            from jwql_dagster.partitions import program_instrument_key

            runs.append(dg.materialize([archive_files.archive_files, previews.preview_assets],
                                       partition_key=program_instrument_key(PROGRAM, "nircam"),
                                       resources=resources, instance=instance))
            runs.append(dg.materialize([previews.proposal_thumbnail, previews.preview_gallery], partition_key=PROGRAM,
                                       resources=resources, instance=instance))
            runs.append(dg.materialize([fs_assets.filesystem_snapshot, fs_assets.filesystem_plots],
                                       resources=resources, instance=instance))
            for inst in ("nircam", "fgs"):
                runs.append(dg.materialize([mast_assets.mast_inventory, mast_assets.filesystem_characteristics],
                                           partition_key=inst, resources=resources, instance=instance))
            runs.append(dg.materialize([mast_assets.jwst_inventory], resources=resources, instance=instance))
            assert all(r.success for r in runs)
            assert server.counts_by_kind.get("login", 0) >= 1  # the token was really used

            # failures with the secrets in play: MAST failing, and the database refusing (wrong port)
            server.failures = Failures(http_500=1000, kinds=("invoke", "login"))
            res = dict(resources, mast=MastService(url=server.url, token=dg.EnvVar("MAST_API_TOKEN"), timeout_s=1,
                                                     max_retries=1, backoff_s=0.05, total_retry_seconds=2))
            runs.append(dg.materialize([mast_assets.mast_inventory], partition_key="miri", resources=res,
                                       instance=instance, raise_on_error=False))
            server.failures = None
            bad_url = make_url(secret_url).set(port=1).render_as_string(hide_password=False)
            monkeypatch.setenv("JWQL_DATABASE_URL", bad_url)
            res = make_resources()
            runs.append(dg.materialize([archive_files.archive_files], partition_key=program_instrument_key(PROGRAM, "nircam"),
                                       resources=res, instance=instance, raise_on_error=False))
            assert [r.success for r in runs[-2:]] == [False, False]
            for r in runs:
                texts.append((f"events of run {r.run_id}", all_event_text(instance, r.run_id)))
                texts.append((f"run record {r.run_id}", serialize_value(instance.get_run_by_id(r.run_id))))
            # the monitor status asset reads these runs, their failures and error messages back
            monkeypatch.setenv("JWQL_DATABASE_URL", secret_url)
            r = dg.materialize([monitoring.monitor_status, monitoring.monitor_status_table],
                               resources=dict(res, db=resources["db"]), instance=instance)
            texts.append(("monitor_status run", all_event_text(instance, r.run_id)))

    texts.append(("captured log records", "\n".join(rec.getMessage() for rec in caplog.records)))
    out, err = capfd.readouterr()
    texts.append(("captured stdout/stderr", out + err))
    for path in settings.home.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".csv", ".json", ".log", ".txt", ".md"):
            texts.append((str(path), path.read_text(errors="replace")))
    leaks = {where: _secrets_in(text) for where, text in texts if _secrets_in(text)}
    assert not leaks, leaks
    assert any("***" in t or "127.0.0.1:1" in t for _, t in texts)  # the failing database was named, masked
