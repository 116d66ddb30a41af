"""Failure alerts: the message formats and two senders (SMTP e-mail, JSON webhook). No Dagster here.

Formats (documented in docs/monitoring.md):
- e-mail subject ``[jwql-dagster] FAILURE: <job> (run <first 8 of run id>)``, a plain-text body
  with the same fields as the JSON;
- webhook: POST of one JSON object ``{"run_id", "job", "status", "error_summary", "tags",
  "time", "ui_url", "monitors"}`` with ``Content-Type: application/json``.
Error summaries and tags are passed through ``redact`` so no secret leaves the process,
and sender errors mention URLs with their password masked.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Mapping, Sequence
from urllib.parse import unquote, urlsplit

from jwql_dagster.config import Settings, url_password
from jwql_dagster.monitoring.status import redact, summarize_error

SUBJECT_PREFIX = "[jwql-dagster]"
TIMEOUT_S = 10.0
# Tags that carry no secret and help whoever reads the alert; anything else is dropped.
_TAG_PREFIXES = ("dagster/partition", "dagster/backfill", "dagster/schedule_name", "dagster/sensor_name", "dagster/root_run_id",
                 "dagster/retry_number", "dagster/asset_partition_range", "dagster/run_key", "instrument", "program", "jwql/")


def known_secrets(settings: Settings) -> list[str]:
    """Secret values that must never appear in an error summary or alert: the MAST token and URL passwords."""
    out = [settings.mast_api_token or ""]
    for url in (settings.database_url, settings.alert_smtp or "", settings.alert_webhook or ""):
        out.append(url_password(url) or "")
    return [s for s in out if s]


class AlertError(RuntimeError):
    """An alert could not be delivered; the message holds no secret."""


@dataclass(frozen=True)
class FailureAlert:
    run_id: str
    job: str
    error_summary: str | None
    time: datetime
    status: str = "FAILURE"
    tags: Mapping[str, str] = field(default_factory=dict)
    ui_url: str | None = None
    monitors: Sequence[str] = ()

    def payload(self) -> dict:
        """The webhook JSON object."""
        return {
            "run_id": self.run_id,
            "job": self.job,
            "status": self.status,
            "error_summary": summarize_error(self.error_summary),
            "tags": safe_tags(self.tags),
            "time": self.time.astimezone(timezone.utc).isoformat(timespec="seconds"),
            "ui_url": self.ui_url,
            "monitors": list(self.monitors),
        }

    def subject(self) -> str:
        return f"{SUBJECT_PREFIX} {self.status}: {self.job} (run {self.run_id[:8]})"

    def body(self) -> str:
        p = self.payload()
        lines = [
            f"Dagster run {p['run_id']} of job {p['job']} ended with status {p['status']} at {p['time']}.",
            "",
            f"Monitors (asset groups): {', '.join(p['monitors']) or '-'}",
            f"Error: {p['error_summary'] or '(no error message recorded)'}",
        ]
        if p["tags"]:
            lines += ["", "Tags:"] + [f"  {k} = {v}" for k, v in sorted(p["tags"].items())]
        if p["ui_url"]:
            lines += ["", f"Run in the Dagster UI: {p['ui_url']}"]
        lines += ["", "This run is recorded in the jwql 'monitor' table (source 'dagster')."]
        return "\n".join(lines) + "\n"


def safe_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {k: redact(str(v))[:200] for k, v in sorted(tags.items()) if k.startswith(_TAG_PREFIXES)}


def run_ui_url(base_url: str | None, run_id: str) -> str | None:
    return f"{base_url.rstrip('/')}/runs/{run_id}" if base_url else None


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    user: str | None
    password: str | None
    use_ssl: bool

    @property
    def display(self) -> str:
        user = f"{self.user}:***@" if self.user else ""
        return f"{'smtps' if self.use_ssl else 'smtp'}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user[:pass]@]host[:port]`` (port 25 default) or ``smtps://...`` (implicit TLS, 465)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AlertError(f"JWQL_ALERT_SMTP is not a valid URL: {redact(str(exc))}") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise AlertError("JWQL_ALERT_SMTP must look like smtp://[user[:pass]@]host:port (or smtps://)")
    use_ssl = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if use_ssl else 25),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_ssl=use_ssl,
    )


def send_email(smtp_url: str, sender: str, recipients: Sequence[str], alert: FailureAlert, timeout: float = TIMEOUT_S) -> None:
    """Send the alert as a plain-text e-mail; STARTTLS is used when a plain server offers it."""
    if not recipients:
        raise AlertError("JWQL_ALERT_TO has no recipient")
    if not sender:
        raise AlertError("JWQL_ALERT_FROM is not set")
    target = parse_smtp_url(smtp_url)
    msg = EmailMessage()
    msg["Subject"] = alert.subject()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(alert.body())
    try:
        if target.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with client:
            client.ehlo()
            if not target.use_ssl and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if target.user:
                client.login(target.user, target.password or "")
            client.send_message(msg, from_addr=sender, to_addrs=list(recipients))
    except (OSError, smtplib.SMTPException) as exc:
        secrets = [target.password] if target.password else []
        raise AlertError(f"e-mail to {target.display} failed: {redact(f'{type(exc).__name__}: {exc}', secrets)}") from None


def post_webhook(url: str, alert: FailureAlert, timeout: float = TIMEOUT_S) -> int:
    """POST the alert JSON; returns the HTTP status (2xx) or raises AlertError."""
    if not url.startswith(("http://", "https://")):
        raise AlertError("JWQL_ALERT_WEBHOOK must start with http:// or https://")
    data = json.dumps(alert.payload()).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "jwql-dagster"})
    shown = redact(url.split("?", 1)[0])
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        raise AlertError(f"webhook {shown} answered HTTP {exc.code}") from None
    except (OSError, urllib.error.URLError) as exc:
        raise AlertError(f"webhook {shown} failed: {redact(str(exc.reason if isinstance(exc, urllib.error.URLError) else exc))}") from None


def send_alert(alert: FailureAlert, smtp_url: str | None, sender: str | None, recipients: Sequence[str], webhook: str | None) -> list[str]:
    """Send through every configured channel; returns one line per channel ('sent ...' or the error). Never raises."""
    out: list[str] = []
    if smtp_url:
        try:
            send_email(smtp_url, sender or "", recipients, alert)
            out.append(f"e-mail sent to {len(recipients)} recipient(s)")
        except AlertError as exc:
            out.append(f"e-mail not sent: {exc}")
    if webhook:
        try:
            code = post_webhook(webhook, alert)
            out.append(f"webhook answered HTTP {code}")
        except AlertError as exc:
            out.append(f"webhook not sent: {exc}")
    return out
