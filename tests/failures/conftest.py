"""The quicklook app over the shared test world: the same session fixtures as tests/web uses."""

from tests.web.conftest import app, world  # noqa: F401  (fixtures, found by pytest through this conftest)
