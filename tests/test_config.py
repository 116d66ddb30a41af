"""Configuration: defaults, precedence environment > JWQL_CONFIG > default, bad files, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jwql_dagster.config import ConfigError, load_settings, mask_url, url_password
from jwql_dagster.monitoring.alerts import known_secrets


def test_defaults_hang_off_jwql_home(tmp_path: Path) -> None:
    s = load_settings({"JWQL_HOME": str(tmp_path)})
    assert s.filesystem == tmp_path / "archive"
    assert s.preview_root == tmp_path / "preview_images"
    assert s.thumbnail_root == tmp_path / "thumbnails"
    assert s.output_root == tmp_path / "outputs"
    assert s.log_root == tmp_path / "logs"
    assert s.working_root == tmp_path / "working"
    assert s.central_store == tmp_path
    assert s.dagster_home == tmp_path / "dagster_home"
    assert s.database_url == f"sqlite:///{tmp_path / 'jwql.db'}"
    assert s.mast_api_url == "https://mast.stsci.edu"
    assert s.mast_api_token is None
    assert s.executor == "multiprocess"
    assert (s.sensor_settle_seconds, s.sensor_max_files_per_tick, s.sensor_interval_seconds) == (10.0, 5000, 15)
    assert s.max_failure_rate == 0.1 and s.inline_previews == "public"
    assert s.celery_broker == "redis://127.0.0.1:6379/0"
    assert all(v == "default" for k, v in s.sources.items() if k != "home")


def test_home_defaults_to_dot_jwql_dagster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings({}).home == tmp_path / ".jwql-dagster"


def _jwql_config(tmp_path: Path, **extra: object) -> Path:
    data = {
        "filesystem": str(tmp_path / "cfg_archive"),
        "preview_image_filesystem": str(tmp_path / "cfg_previews"),
        "thumbnail_filesystem": str(tmp_path / "cfg_thumbs"),
        "outputs": str(tmp_path / "cfg_outputs"),
        "log_dir": str(tmp_path / "cfg_logs"),
        "working": str(tmp_path / "cfg_working"),
        "jwql_dir": str(tmp_path / "cfg_central"),
        "mast_base_url": "http://127.0.0.1:9999/",
        "mast_token": "cfg-secret-token",
        "connection_string": "",
        "databases": {"engine": "postgresql", "name": "jwqldb", "user": "jwql", "password": "p@ss", "host": "db.example", "port": 5433},
        "admin_account": "",
        "cores": "3",
    }
    data.update(extra)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return path


def test_jwql_config_file_is_mapped(tmp_path: Path) -> None:
    cfg = _jwql_config(tmp_path)
    s = load_settings({"JWQL_HOME": str(tmp_path / "home"), "JWQL_CONFIG": str(cfg)})
    assert s.filesystem == tmp_path / "cfg_archive"
    assert s.preview_root == tmp_path / "cfg_previews"
    assert s.thumbnail_root == tmp_path / "cfg_thumbs"
    assert s.output_root == tmp_path / "cfg_outputs"
    assert s.log_root == tmp_path / "cfg_logs"
    assert s.working_root == tmp_path / "cfg_working"
    assert s.central_store == tmp_path / "cfg_central"
    assert s.mast_api_url == "http://127.0.0.1:9999"
    assert s.mast_api_token == "cfg-secret-token"
    assert s.preview_workers == 3
    assert s.database_url == "postgresql+psycopg2://jwql:p%40ss@db.example:5433/jwqldb"
    assert s.sources["filesystem"] == "config"
    # not in the file: still the default under JWQL_HOME
    assert s.dagster_home == tmp_path / "home" / "dagster_home"


def test_connection_string_wins_over_databases(tmp_path: Path) -> None:
    cfg = _jwql_config(tmp_path, connection_string="sqlite:////data/jwql.db")
    assert load_settings({"JWQL_CONFIG": str(cfg)}).database_url == "sqlite:////data/jwql.db"


def test_environment_beats_config_file(tmp_path: Path) -> None:
    cfg = _jwql_config(tmp_path)
    s = load_settings({
        "JWQL_CONFIG": str(cfg),
        "JWQL_FILESYSTEM": str(tmp_path / "env_archive"),
        "JWQL_DATABASE_URL": "sqlite:///env.db",
        "MAST_API_TOKEN": "env-token",
    })
    assert s.filesystem == tmp_path / "env_archive"
    assert s.sources["filesystem"] == "env"
    assert s.database_url == "sqlite:///env.db"
    assert s.mast_api_token == "env-token"
    assert s.preview_root == tmp_path / "cfg_previews"  # untouched keys still come from the file


def test_empty_jwql_example_fields_fall_back_to_defaults(tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"filesystem": "", "connection_string": "",
                               "databases": {"engine": "", "name": "", "user": "", "password": "", "host": "", "port": ""}}))
    s = load_settings({"JWQL_HOME": str(tmp_path), "JWQL_CONFIG": str(cfg)})
    assert s.filesystem == tmp_path / "archive"
    assert s.database_url.startswith("sqlite:///")


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "not valid JSON (line 1"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"filesystem": {"a": 1}}', "key 'filesystem'"),
        ('{"databases": "x"}', "key 'databases'"),
        ('{"databases": {"engine": "postgresql", "user": "u"}}', "needs at least 'engine' and 'name'"),
        ('{"cores": "many"}', "JWQL_PREVIEW_WORKERS='many'"),
    ],
)
def test_bad_config_file_names_key_and_file(tmp_path: Path, content: str, expected: str) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings({"JWQL_CONFIG": str(cfg)})
    assert expected in str(err.value)
    if expected.startswith("JWQL_PREVIEW_WORKERS"):
        assert str(cfg) in str(err.value)
    else:
        assert "bad.json" in str(err.value)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"JWQL_CONFIG": str(tmp_path / "nope.json")})


@pytest.mark.parametrize(
    "var, value, expected",
    [
        ("JWQL_PREVIEW_WORKERS", "0", "must be at least 1"),
        ("JWQL_MAX_FAILURE_RATE", "1.5", "between 0.0 and 1.0"),
        ("JWQL_INLINE_PREVIEWS", "some", "public, all, none"),
        ("JWQL_EXECUTOR", "dask", "multiprocess, celery"),
        ("JWQL_SENSOR_MAX_FILES_PER_TICK", "x", "not an integer"),
        ("MAST_API_URL", "ftp://x", "must start with http"),
    ],
)
def test_bad_environment_values(var: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as err:
        load_settings({var: value})
    assert var in str(err.value)


def test_masked_hides_token_and_passwords(tmp_path: Path) -> None:
    s = load_settings({
        "JWQL_HOME": str(tmp_path),
        "MAST_API_TOKEN": "very-secret",
        "JWQL_DATABASE_URL": "postgresql+psycopg2://jwql:hunter2@db:5432/jwql",
        "JWQL_ALERT_SMTP": "smtp://me:mailpass@mail:25",
    })
    text = repr(s.masked())
    assert "very-secret" not in text and "hunter2" not in text and "mailpass" not in text
    assert s.masked()["database_url"] == "postgresql+psycopg2://jwql:***@db:5432/jwql"


def test_mask_url_leaves_passwordless_urls() -> None:
    assert mask_url("sqlite:////x/jwql.db") == "sqlite:////x/jwql.db"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_alert_recipients_split(tmp_path: Path) -> None:
    s = load_settings({"JWQL_ALERT_TO": "a@x.org, b@y.org,,"})
    assert s.alert_to == ("a@x.org", "b@y.org")


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


def test_unencoded_at_sign_in_password_is_masked_whole() -> None:
    # SQLAlchemy ends such a password at the first '@', urllib (the SMTP sender) at the last: neither part may show.
    url = "smtps://me%40x.org:p@ss@mail.x.org:465"
    assert mask_url(url) == "smtps://me%40x.org:***@mail.x.org:465"
    assert url_password(url) == "p@ss"
