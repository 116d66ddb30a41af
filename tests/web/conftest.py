"""The quicklook app over the shared test world (see tests/web/world.py)."""

from __future__ import annotations

import pytest

from tests.web.world import World, session_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return session_world(tmp_path_factory)


@pytest.fixture(scope="session")
def app(world: World):
    from jwql_dagster.web.app import create_app

    application = create_app(world.settings)
    yield application
    application.state.db.dispose()
