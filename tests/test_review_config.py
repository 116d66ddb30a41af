"""Review fixes (configuration): passwords with '/', '#' or '?' that SQLAlchemy accepts unencoded stay masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwql_dagster.monitoring.alerts import known_secrets
from jwql_dagster.config import load_settings, mask_url


@pytest.mark.parametrize("password", ["s3cr/et+x", "ab#cd", "ab?cd"])
def test_raw_special_characters_in_password_are_masked(tmp_path: Path, password: str) -> None:
    url = f"postgresql+psycopg2://jwql:{password}@db:5432/jwql"
    assert mask_url(url) == "postgresql+psycopg2://jwql:***@db:5432/jwql"
    s = load_settings({"JWQL_HOME": str(tmp_path), "JWQL_DATABASE_URL": url})
    assert password not in repr(s.masked())
    assert password in known_secrets(s)


def test_mask_url_does_not_touch_urls_without_credentials() -> None:
    for url in ("https://mast.stsci.edu", "http://127.0.0.1:8080/x?a=b", "sqlite:////x/jwql.db", "https://host:8080/path"):
        assert mask_url(url) == url
