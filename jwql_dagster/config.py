"""Settings of jwql-dagster, resolved from environment > JWQL_CONFIG file > defaults.

One place decides every path, URL and tuning knob so that the CLI, the Dagster
definitions and the tests agree. A jwql ``config.json`` can be pointed at with
``JWQL_CONFIG`` so an existing jwql installation works unchanged; environment
variables still win over it, so one value can be overridden for a single run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, get_args
from urllib.parse import quote

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    import sqlalchemy as sa

MASK = "***"


class ConfigError(ValueError):
    """A configuration value or file is unusable; the message names the key and its source."""


# jwql config.json key -> our variable. "connection_string"/"databases" and "cores" are handled apart.
JWQL_CONFIG_KEYS: dict[str, str] = {
    "filesystem": "JWQL_FILESYSTEM",
    "preview_image_filesystem": "JWQL_PREVIEW_ROOT",
    "thumbnail_filesystem": "JWQL_THUMBNAIL_ROOT",
    "outputs": "JWQL_OUTPUT_ROOT",
    "log_dir": "JWQL_LOG_ROOT",
    "working": "JWQL_WORKING_ROOT",
    "jwql_dir": "JWQL_CENTRAL_STORE",
    "mast_base_url": "MAST_API_URL",
    "mast_token": "MAST_API_TOKEN",
    "cores": "JWQL_PREVIEW_WORKERS",
}

InlinePreviews = Literal["public", "all", "none"]
Executor = Literal["multiprocess", "celery"]


HTTP_URL = r"^https?://"


class Settings(BaseModel):
    """The resolved configuration. Paths are absolute; secrets are kept but never printed by ``masked()``.

    Validated by pydantic when built: the bounds and choices below are the rules, and
    ``load_settings`` turns a violation into a message naming the variable and its source.
    """

    model_config = ConfigDict(frozen=True)

    home: Path
    filesystem: Path
    preview_root: Path
    thumbnail_root: Path
    output_root: Path
    log_root: Path
    working_root: Path
    central_store: Path
    database_url: str
    dagster_home: Path
    mast_api_url: str = Field(pattern=HTTP_URL)
    mast_api_token: str | None
    preview_workers: int = Field(ge=1)
    executor: Executor
    celery_broker: str
    celery_backend: str
    sensor_settle_seconds: float = Field(ge=0.0)
    sensor_max_files_per_tick: int = Field(ge=1)
    sensor_interval_seconds: int = Field(ge=1)
    max_failure_rate: float = Field(ge=0.0, le=1.0)
    inline_previews: InlinePreviews
    alert_smtp: str | None
    alert_from: str | None
    alert_to: tuple[str, ...]
    alert_webhook: str | None
    ui_url: str | None
    config_file: Path | None
    sources: Mapping[str, str]  # field name -> "env", "config" or "default"
    # Live MAST answers JWST queries in minutes: a whole query (pages, EXECUTING polls, retries) may take
    # mast_timeout_s; one HTTP attempt mast_attempt_timeout_s (default: the same, so a slow answer is awaited).
    mast_timeout_s: float = Field(default=600.0, ge=1.0)
    mast_attempt_timeout_s: float = Field(default=600.0, ge=1.0)
    web_url: str = Field(default="http://127.0.0.1:3001", pattern=HTTP_URL)  # quicklook pages (`jwql-dagster serve`), linked from asset metadata

    def masked(self) -> dict[str, str]:
        """Every setting as text for display, with the MAST token and passwords in URLs masked."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            if name == "sources":
                continue
            value = getattr(self, name)
            if name == "mast_api_token":
                text = MASK if value else "(unset)"
            elif isinstance(value, str) and "://" in value:
                text = mask_url(value)
            elif isinstance(value, tuple):
                text = ",".join(value) if value else "(unset)"
            elif value is None:
                text = "(unset)"
            else:
                text = str(value)
            out[name] = text
        return out

    @property
    def output_roots(self) -> dict[str, Path]:
        """The folders this platform writes into (the archive is read-only for us)."""
        return {
            "preview_root": self.preview_root,
            "thumbnail_root": self.thumbnail_root,
            "output_root": self.output_root,
            "working_root": self.working_root,
        }


def _parse_url(url: str) -> sa.URL | None:
    # SQLAlchemy's parser reads a raw '/', '?' or '#' in a password as the password (urllib would
    # end the host part there); redis, SMTP and webhook URLs parse the same way. Imported here, not at
    # module level: every process that loads the code location imports this module, few mask a URL.
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(url)
    except Exception:  # noqa: BLE001 - not a URL at all: nothing to mask
        return None
    if parsed.password and parsed.host and "@" in parsed.host:
        # An unencoded '@' in the password: SQLAlchemy ends the password at the first '@', urllib (our
        # SMTP and webhook senders) at the last. Treat everything up to the last '@' as secret.
        rest, host = parsed.host.rsplit("@", 1)
        parsed = parsed.set(password=f"{parsed.password}@{rest}", host=host)
    return parsed


def url_password(url: str) -> str | None:
    """The password of ``scheme://user:pass@host...``, as the URL's consumer reads it, or None."""
    parsed = _parse_url(url)
    return parsed.password if parsed is not None and parsed.password else None


def mask_url(url: str) -> str:
    """Replace the password of a URL (``scheme://user:pass@host``) by ``***``; a URL without one is returned unchanged."""
    parsed = _parse_url(url)
    if parsed is None or not parsed.password:
        return url
    return parsed.render_as_string(hide_password=True)


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"JWQL_CONFIG points to {path}, which does not exist") from None
    except OSError as exc:
        raise ConfigError(f"JWQL_CONFIG file {path} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"JWQL_CONFIG file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"JWQL_CONFIG file {path} must hold a JSON object, found {type(data).__name__}")
    return data


def _database_url_from_config(data: Mapping[str, Any], path: Path) -> str | None:
    conn = data.get("connection_string")
    if conn not in (None, ""):
        if not isinstance(conn, str):
            raise ConfigError(f"key 'connection_string' in {path} must be a string")
        return conn
    dbs = data.get("databases")
    if dbs in (None, "", {}):
        return None
    if not isinstance(dbs, dict):
        raise ConfigError(f"key 'databases' in {path} must be an object with engine, name, user, password, host, port")
    if not any(str(v) for v in dbs.values() if v is not None):
        return None  # jwql's example config ships every field empty
    engine = str(dbs.get("engine") or "")
    name = str(dbs.get("name") or "")
    if not engine or not name:
        raise ConfigError(f"key 'databases' in {path} needs at least 'engine' and 'name'")
    if engine in ("postgres", "postgresql"):
        engine = "postgresql+psycopg2"
    if engine.startswith("sqlite"):
        return f"sqlite:///{name}"
    user = quote(str(dbs.get("user") or ""), safe="")
    password = quote(str(dbs.get("password") or ""), safe="")
    host = str(dbs.get("host") or "localhost")
    port = dbs.get("port")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    hostport = f"{host}:{port}" if port not in (None, "") else host
    return f"{engine}://{auth}{hostport}/{name}"


# Setting -> the variable a user sets it with; validation errors name the variable, not the field.
VARIABLES: dict[str, str] = {
    "mast_api_url": "MAST_API_URL",
    "mast_timeout_s": "JWQL_MAST_TIMEOUT_S",
    "mast_attempt_timeout_s": "JWQL_MAST_ATTEMPT_TIMEOUT_S",
    "preview_workers": "JWQL_PREVIEW_WORKERS",
    "executor": "JWQL_EXECUTOR",
    "sensor_settle_seconds": "JWQL_SENSOR_SETTLE_SECONDS",
    "sensor_max_files_per_tick": "JWQL_SENSOR_MAX_FILES_PER_TICK",
    "sensor_interval_seconds": "JWQL_SENSOR_INTERVAL_SECONDS",
    "max_failure_rate": "JWQL_MAX_FAILURE_RATE",
    "inline_previews": "JWQL_INLINE_PREVIEWS",
    "web_url": "JWQL_WEB_URL",
}


def _problem(field: str, error: Mapping[str, Any]) -> str:
    """What is wrong with one validated setting, in words (the caller adds the variable, value and source)."""
    kind = error["type"]
    info = Settings.model_fields[field]
    if kind.startswith("int_"):
        return "is not an integer"
    if kind.startswith("float_"):
        return "is not a number"
    if kind == "literal_error":
        return "must be one of " + ", ".join(get_args(info.annotation))
    if kind == "string_pattern_mismatch":
        return "must start with http:// or https://"
    if kind in ("greater_than_equal", "less_than_equal"):
        low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
        high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
        return f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
    return str(error["msg"])


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting. ``env`` defaults to ``os.environ``; pass a dict in tests."""
    env = dict(os.environ if env is None else env)
    config_path: Path | None = None
    config: dict[str, str] = {}
    if env.get("JWQL_CONFIG"):
        config_path = Path(env["JWQL_CONFIG"]).expanduser().resolve()
        data = _read_config_file(config_path)
        for key, var in JWQL_CONFIG_KEYS.items():
            value = data.get(key)
            if value in (None, ""):
                continue
            if isinstance(value, (dict, list)):
                raise ConfigError(f"key {key!r} in {config_path} must be a string, found {type(value).__name__}")
            config[var] = str(value)
        url = _database_url_from_config(data, config_path)
        if url:
            config["JWQL_DATABASE_URL"] = url

    sources: dict[str, str] = {}

    def get(var: str, default: Callable[[], str | None]) -> tuple[str | None, str]:
        if env.get(var, "") != "":
            return env[var], "env"
        if var in config:
            return config[var], "config"
        return default(), "default"

    def where(source: str) -> str:
        return f"config file {config_path}" if source == "config" else ("environment" if source == "env" else "default")

    raw: dict[str, str] = {}  # field -> the text as given, for error messages

    def typed(field: str, var: str, default: str, lower: bool = False) -> str:
        """The text of a setting that pydantic validates when Settings is built (stripped; lower-cased for choices)."""
        text, sources[field] = get(var, lambda: default)
        raw[field] = str(text)
        value = str(text).strip()
        return value.lower() if lower else value

    home_text, src = get("JWQL_HOME", lambda: str(Path("~/.jwql-dagster")))
    home = Path(str(home_text)).expanduser().resolve()
    sources["home"] = src

    def path(field: str, var: str, default_rel: str) -> Path:
        value, source = get(var, lambda: str(home / default_rel) if default_rel else str(home))
        sources[field] = source
        return Path(str(value)).expanduser().resolve()

    filesystem = path("filesystem", "JWQL_FILESYSTEM", "archive")
    preview_root = path("preview_root", "JWQL_PREVIEW_ROOT", "preview_images")
    thumbnail_root = path("thumbnail_root", "JWQL_THUMBNAIL_ROOT", "thumbnails")
    output_root = path("output_root", "JWQL_OUTPUT_ROOT", "outputs")
    log_root = path("log_root", "JWQL_LOG_ROOT", "logs")
    working_root = path("working_root", "JWQL_WORKING_ROOT", "working")
    central_store = path("central_store", "JWQL_CENTRAL_STORE", "")
    dagster_home = path("dagster_home", "DAGSTER_HOME", "dagster_home")

    database_url, sources["database_url"] = get("JWQL_DATABASE_URL", lambda: f"sqlite:///{home / 'jwql.db'}")
    mast_api_url, sources["mast_api_url"] = get("MAST_API_URL", lambda: "https://mast.stsci.edu")
    mast_api_url = str(mast_api_url).rstrip("/")
    raw["mast_api_url"] = mast_api_url
    token, sources["mast_api_token"] = get("MAST_API_TOKEN", lambda: None)
    mast_timeout = typed("mast_timeout_s", "JWQL_MAST_TIMEOUT_S", "600")
    mast_attempt = typed("mast_attempt_timeout_s", "JWQL_MAST_ATTEMPT_TIMEOUT_S", mast_timeout)

    preview_workers = typed("preview_workers", "JWQL_PREVIEW_WORKERS", str(os.cpu_count() or 1))
    executor = typed("executor", "JWQL_EXECUTOR", "multiprocess", lower=True)
    celery_broker, sources["celery_broker"] = get("JWQL_CELERY_BROKER", lambda: "redis://127.0.0.1:6379/0")
    celery_backend, sources["celery_backend"] = get("JWQL_CELERY_BACKEND", lambda: "redis://127.0.0.1:6379/1")
    settle = typed("sensor_settle_seconds", "JWQL_SENSOR_SETTLE_SECONDS", "10")
    max_files = typed("sensor_max_files_per_tick", "JWQL_SENSOR_MAX_FILES_PER_TICK", "5000")
    interval = typed("sensor_interval_seconds", "JWQL_SENSOR_INTERVAL_SECONDS", "15")
    max_failure_rate = typed("max_failure_rate", "JWQL_MAX_FAILURE_RATE", "0.1")
    inline = typed("inline_previews", "JWQL_INLINE_PREVIEWS", "public", lower=True)

    alert_smtp, sources["alert_smtp"] = get("JWQL_ALERT_SMTP", lambda: None)
    alert_from, sources["alert_from"] = get("JWQL_ALERT_FROM", lambda: None)
    alert_to_text, sources["alert_to"] = get("JWQL_ALERT_TO", lambda: None)
    alert_to = tuple(a.strip() for a in str(alert_to_text or "").split(",") if a.strip())
    alert_webhook, sources["alert_webhook"] = get("JWQL_ALERT_WEBHOOK", lambda: None)
    ui_url, sources["ui_url"] = get("JWQL_UI_URL", lambda: None)
    web_url, sources["web_url"] = get("JWQL_WEB_URL", lambda: "http://127.0.0.1:3001")
    web_url = str(web_url).rstrip("/")
    raw["web_url"] = web_url

    values = dict(
        home=home,
        filesystem=filesystem,
        preview_root=preview_root,
        thumbnail_root=thumbnail_root,
        output_root=output_root,
        log_root=log_root,
        working_root=working_root,
        central_store=central_store,
        database_url=str(database_url),
        dagster_home=dagster_home,
        mast_api_url=mast_api_url,
        mast_api_token=token or None,
        preview_workers=preview_workers,
        executor=executor,
        celery_broker=str(celery_broker),
        celery_backend=str(celery_backend),
        sensor_settle_seconds=settle,
        sensor_max_files_per_tick=max_files,
        sensor_interval_seconds=interval,
        max_failure_rate=max_failure_rate,
        inline_previews=inline,
        alert_smtp=alert_smtp or None,
        alert_from=alert_from or None,
        alert_to=alert_to,
        alert_webhook=alert_webhook or None,
        ui_url=str(ui_url).rstrip('/') if ui_url else None,
        config_file=config_path,
        sources=sources,
        mast_timeout_s=mast_timeout,
        mast_attempt_timeout_s=mast_attempt,
        web_url=web_url,
    )
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        # The first problem, in the order of the fields, worded for the variable a user sets.
        error = exc.errors()[0]
        field = str(error["loc"][0])
        var = VARIABLES.get(field, field)
        text = raw.get(field, str(error["input"]))
        problem = _problem(field, error)
        shown = text.strip() if problem.startswith("must be ") and not problem.startswith("must be one of") else repr(text)
        raise ConfigError(f"{var}={shown} (from {where(sources[field])}) {problem}") from None


def ensure_dagster_home(settings: Settings, env: dict[str, str] | None = None) -> Path:
    """Set DAGSTER_HOME (when unset) to the resolved folder and create it, as our CLI and Makefile do."""
    target = os.environ if env is None else env
    if not target.get("DAGSTER_HOME"):
        target["DAGSTER_HOME"] = str(settings.dagster_home)
    home = Path(target["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    return home
