"""The sensor's state between ticks and its encoding as the Dagster cursor (no Dagster here).

The state is ``{"v", "tree", "pending", "inflight", "resume"[, "initial_skip"]}``: ``tree`` holds
one value per area, program and visit folder (its mtime, or one of the markers below),
``pending`` the files waiting to settle or beyond the per-tick cap, ``inflight`` the files
requested whose rows are not written yet, ``resume`` where a capped tick stopped.
"""

from __future__ import annotations

import base64
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
