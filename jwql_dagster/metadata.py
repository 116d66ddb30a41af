"""Helpers shared by asset modules: snapshot identity, small inline images and safe markdown for the UI."""

from __future__ import annotations

import base64
import io
import re
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

ROOT_RUN_TAG = "dagster/root_run_id"


def md_code(text: str) -> str:
    """``text`` as an inline code span that survives backticks and newlines in it.

    File names come from the archive and may hold anything a file system allows; a stray
    backtick would otherwise break a listing in the asset's metadata. The fence is one
    backtick longer than the longest run of backticks inside. In a table, pass the result
    through ``md_cell`` as well.
    """
    text = " ".join(str(text).splitlines())
    runs = [len(run) for run in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_cell(text: str) -> str:
    """Plain text fit for one markdown table cell: pipes escaped, newlines folded."""
    return " ".join(str(text).splitlines()).replace("|", "\\|")


def snapshot_identity(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> tuple[str, datetime]:
    """(snapshot_id, date) of the current run: the root run id and that root run's creation time (UTC).

    A retried or re-executed run shares its root, so it rewrites the same snapshot keys.
    """
    run = context.run
    root_id = run.tags.get(ROOT_RUN_TAG) or run.run_id
    created: datetime | None = None
    record = context.instance.get_run_record_by_id(root_id)
    if record is not None:
        created = record.create_timestamp
    if created is None:
        created = datetime.now(timezone.utc)
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return root_id, created.astimezone(timezone.utc)


def inline_image_md(image: str | Path | bytes, alt: str = "preview", max_px: int = 256, fmt: str = "JPEG") -> dg.MetadataValue:
    """A markdown metadata value holding a small data-URI image (kept to tens of KB for the event log)."""
    from PIL import Image

    raw = Path(image).read_bytes() if isinstance(image, (str, Path)) else image
    with Image.open(io.BytesIO(raw)) as im:
        im = im.convert("RGB")
        im.thumbnail((max_px, max_px))
        buf = io.BytesIO()
        im.save(buf, format=fmt, quality=80)
    mime = "image/jpeg" if fmt.upper() == "JPEG" else f"image/{fmt.lower()}"
    b64 = base64.b64encode(buf.getvalue()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:{mime};base64,{b64})")


def quicklook(program: str | None = None) -> dg.MetadataValue:
    """One click from a materialization to its previews: the program's quicklook page (JWQL_WEB_URL),
    or the list of programs when a run covers many."""
    from jwql_dagster.config import load_settings
    from jwql_dagster.web.links import program_url, programs_url

    base = load_settings().web_url
    return dg.MetadataValue.url(program_url(base, program) if program else programs_url(base))
