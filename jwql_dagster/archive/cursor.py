"""The scanner's state between ticks, its text, and the small marker Dagster keeps as the cursor (no Dagster here).

The state is ``{"v", "tree", "pending", "inflight", "resume"[, "initial_skip"]}``: ``tree`` holds
one value per area, program and visit folder (its mtime, or one of the markers below),
``pending`` the files waiting to settle or beyond the per-tick cap, ``inflight`` the files
requested whose runs have not succeeded yet, ``resume`` where a capped tick stopped.

The scanner reads and writes the state as text (``encode_cursor``/``decode_cursor``: the
"scanner cursor"). The sensor keeps that text in the jwql database (db/sensor_state.py) and
gives Dagster only a marker naming it (``encode_marker``): Dagster stores the cursor with every
tick, and the state grows with the archive (about 20 KB per 2,100 folders), the marker does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib

CURSOR_VERSION = 1

# Directory states in the tree besides a real mtime.
CHANGED = 0  # list on the next tick, compare with the known files
INITIAL = -1  # list on the next tick, as in the first tick (materialized partitions are skipped)
# A visit folder that is the same folder as one walked before it (two links to one target): not
# listed, its files count at the first path; kept, so it takes over when the first path goes.
SHADOWED = -3
# A program or visit folder that is a symlink the rule does not follow because it is dangling or
# leads to a place scanned anyway: not listed, judged again (silently) on every tick, so it is
# walked as soon as it resolves somewhere archive_files would list it from. (Links out of the
# archive and loops are dropped instead, reported once, until their parent folder changes:
# nothing outside the archive is touched on every tick.)
UNFOLLOWED = -4
# State key: the partitions materialized at the first tick, skipped by the whole first pass.
INITIAL_SKIP_KEY = "initial_skip"


class CursorError(ValueError):
    """The cursor text is not a cursor of this scanner."""


def empty_state() -> dict:
    return {"v": CURSOR_VERSION, "tree": {}, "pending": [], "inflight": {}, "resume": ""}


def decode_cursor(text: str | None) -> dict | None:
    """The cursor as a dict (directory tree unpacked), or None for an empty cursor (first tick)."""
    if not text:
        return None
    try:
        state = json.loads(text)
        if isinstance(state, dict) and isinstance(state.get("tree_z"), str):
            packed = state.pop("tree_z")
            raw = zlib.decompress(base64.b64decode(packed))
            state["tree"] = json.loads(raw)
            _PACKED_CACHE[raw] = packed
    except (json.JSONDecodeError, zlib.error, ValueError) as exc:
        raise CursorError(f"sensor cursor cannot be read ({exc}); reset the sensor's cursor") from None
    if not isinstance(state, dict) or state.get("v") != CURSOR_VERSION or not isinstance(state.get("tree"), dict):
        raise CursorError(f"sensor cursor is not a version-{CURSOR_VERSION} arrival cursor; reset the sensor's cursor")
    merged = empty_state()
    merged.update(state)
    return merged


def encode_cursor(state: dict) -> str:
    """JSON; the directory tree (one mtime per directory) is zlib-packed because Dagster stores the cursor with every tick."""
    out = {k: v for k, v in state.items() if k != "tree"}
    tree = json.dumps(state["tree"], separators=(",", ":"), sort_keys=True).encode()
    packed = _PACKED_CACHE.get(tree)  # an unchanged tree (most ticks) is not compressed again
    if packed is None:
        packed = base64.b64encode(zlib.compress(tree, 6)).decode("ascii")
    _PACKED_CACHE.clear()
    out["tree_z"] = packed
    return json.dumps(out, separators=(",", ":"), sort_keys=True)


# raw tree JSON -> its packed form, for the cursor read in this process's latest tick
_PACKED_CACHE: dict[bytes, str] = {}


# --------------------------------------------------------------------------- the Dagster cursor

MARKER_VERSION = 2


def state_token(text: str) -> str:
    """The name of a state text: the first 32 hex digits of its sha256 (equal texts, equal names)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def encode_marker(token: str, folders: int | None = None, waiting: int | None = None) -> str:
    """The Dagster cursor naming the state saved under ``token`` (under 100 bytes, whatever the archive's size).

    The UI's sensor page shows the cursor as it is, so it leads with what a person wants to read
    there: how many folders the tick looked at and how many files wait to settle.
    """
    summary = {} if folders is None else {"folders": folders, "waiting": waiting or 0}
    return json.dumps({**summary, "v": MARKER_VERSION, "state": token}, separators=(",", ":"))


def decode_marker(text: str) -> str | None:
    """The token a Dagster cursor names; None for a cursor that is itself a whole scanner state
    (written before the state moved to the database: the sensor reads it once and moves it)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise CursorError("sensor cursor cannot be read; reset the sensor's cursor") from None
    if isinstance(data, dict) and data.get("v") == MARKER_VERSION and isinstance(data.get("state"), str):
        return data["state"]
    if isinstance(data, dict) and data.get("v") == CURSOR_VERSION:
        return None
    raise CursorError(f"sensor cursor is not a version-{MARKER_VERSION} marker; reset the sensor's cursor")
