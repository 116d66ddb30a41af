"""Fixtures of the preview tests."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.plugins.resources import make_resources
from tests.previews.program import P, make_program


@pytest.fixture
def env(jwql_env, sqlite_db):
    """Settings, resources and a test instance with the program partitions added."""
    from jwql_dagster.options import JwqlOptions

    settings = jwql_env
    make_program(settings.filesystem)
    resources = make_resources(settings, db=sqlite_db,
                               options=JwqlOptions(preview_workers=1, max_failure_rate=0.5, inline_previews="public"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [P, "jw02000", "jw03000"])
        yield settings, resources, instance
