"""The member record of a NIRCam mosaic: which files, of which size and time, it was made from.

jwql remade a mosaic only when it had none; comparing the members' mtimes with the mosaic's
missed members that arrive with an older mtime (``rsync -t``, ``cp -p``). A hidden JSON file
beside the mosaic's previews records the member set and the outputs it was written with, so
any change to the set (added, removed, resized, re-timed) remakes the mosaic, and a stale
mosaic whose member is deleted from the archive can be traced and removed.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Sequence

from jwql_dagster.atomic import atomic_write_text
from jwql_dagster.previews.mosaic_names import is_mosaic_name

if TYPE_CHECKING:
    from jwql_dagster.previews.plan import SourceFile

MEMBERS_VERSION = 1


def members_sidecar_name(stem: str) -> str:
    """Hidden file beside a mosaic's previews recording the member set it was made from.

    ``stem`` is the mosaic's dummy name without ``.fits``. The leading dot keeps it out of the
    gallery, the coverage check and web listings; it never starts with ``.tmp-`` (stems start
    with ``jw``), so the temp-file sweep leaves it alone.
    """
    return f".{stem}.members.json"


def sidecar_stem(name: str) -> str | None:
    """The mosaic stem of a sidecar file name, or None when ``name`` is not a mosaic's sidecar."""
    if not (name.startswith(".") and name.endswith(".members.json")):
        return None
    stem = name[1 : -len(".members.json")]
    return stem if stem and is_mosaic_name(stem) and "/" not in stem else None


def member_record(members: Sequence[tuple[str, int, int]]) -> list[list[Any]]:
    """The member set as stored: ``[name, size, mtime_ns]`` per file, sorted by name (folders left out,
    so a move from proprietary to public, which keeps name, size and time, is no change)."""
    return [[str(n), int(s), int(t)] for n, s, t in sorted(members, key=lambda m: str(m[0]))]


def write_members(
    path: str | os.PathLike[str],
    stem: str,
    members: Sequence[tuple[str, int, int]],
    outputs: dict[str, tuple[int, int]] | None = None,
) -> None:
    """Record the member set of a mosaic just rendered (atomically: temp file + rename, mode 0644).

    ``outputs``: output name -> (size, mtime_ns) of the integration-0 preview and thumbnail this
    render wrote. They tie the record to those very files: when another run of the partition
    replaces the outputs between this run's render and its record, the record no longer matches
    them and the mosaic is remade instead of passing as up to date.
    """
    body: dict[str, Any] = {"version": MEMBERS_VERSION, "mosaic": stem, "members": member_record(members)}
    if outputs is not None:
        body["outputs"] = _output_record(outputs)
    atomic_write_text(path, json.dumps(body, indent=1) + "\n")


def _output_record(outputs: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    return {str(name): [int(size), int(mtime)] for name, (size, mtime) in sorted(outputs.items())}


def _read_body(path: str | os.PathLike[str], stem: str | None) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            body = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("version") != MEMBERS_VERSION:
        return None
    if stem is not None and body.get("mosaic") != stem:
        return None
    return body


def read_members(path: str | os.PathLike[str], stem: str | None = None) -> list[list[Any]] | None:
    """The recorded member set, or None when there is none or it cannot be trusted (unreadable,
    another format version, another mosaic's record, malformed)."""
    body = _read_body(path, stem)
    return None if body is None else _members_of(body)


def _members_of(body: dict[str, Any]) -> list[list[Any]] | None:
    members = body.get("members")
    if not isinstance(members, list):
        return None
    if not all(isinstance(m, list) and len(m) == 3 for m in members):
        return None
    try:
        return member_record([(m[0], m[1], m[2]) for m in members])
    except (TypeError, ValueError):
        return None


def members_unchanged(
    path: str | os.PathLike[str],
    stem: str,
    members: Sequence[tuple[str, int, int]],
    outputs: dict[str, tuple[int, int]] | None = None,
) -> bool:
    """True when the record at ``path`` holds exactly this member set (same names, sizes and mtimes).

    A member added, removed, resized or given another mtime (older as well as newer) makes it
    False, and so does a missing record (mosaics made before records existed are made once more).
    With ``outputs`` (name -> (size, mtime_ns) of the integration-0 outputs now on disk), the
    record must also name exactly those files: outputs replaced after the record was written (by
    another run of the partition) make it False, and so does a record without outputs.
    """
    body = _read_body(path, stem)
    if body is None:
        return False
    recorded = _members_of(body)
    if recorded is None or recorded != member_record(members):
        return False
    if outputs is None:
        return True
    try:
        return body.get("outputs") == _output_record(outputs)
    except (TypeError, ValueError):
        return False


def member_stats(members: Sequence[SourceFile]) -> list[tuple[str, int, int]]:
    """(name, size, mtime_ns) of a mosaic's members, as recorded beside it."""
    return [(m.name, m.size, m.mtime_ns) for m in members]


def mosaic_outputs(stem: str) -> tuple[str, str]:
    """The integration-0 preview and thumbnail of a mosaic, the outputs its member record names."""
    return f"{stem}_integ0.jpg", f"{stem}_integ0.thumb"


def record_after_render(record: str | os.PathLike[str], stem: str, members: Sequence[SourceFile],
                        jpg: str | os.PathLike[str], thumb: str | os.PathLike[str]) -> str | None:
    """Write the member record of a mosaic just rendered (after its outputs, so a crash before it only remakes).

    The record names the integration-0 outputs ``jpg`` and ``thumb`` as found now (size,
    mtime). Returns the reason when it could not be written (an odd file in its place,
    permissions, a full disk): the mosaic is then remade by the next run, and this run goes on.
    """
    if not members:
        return None
    try:
        outputs = {}
        for path in (jpg, thumb):
            st = os.stat(path)
            outputs[os.path.basename(path)] = (st.st_size, st.st_mtime_ns)
        write_members(record, stem, member_stats(members), outputs)
    except OSError as exc:
        return f"{exc.strerror or exc}"
    return None
