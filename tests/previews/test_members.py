"""The member record of a NIRCam mosaic (previews/members.py)."""

from __future__ import annotations

from pathlib import Path

E4 = "jw01068001001_02102_00004"


def test_member_record_is_exact_and_atomic(tmp_path: Path) -> None:
    from jwql_dagster.previews.members import members_sidecar_name, members_unchanged, read_members, sidecar_stem, write_members

    stem = f"{E4}_NRC_SWA_MOSAIC_rate"
    path = tmp_path / members_sidecar_name(stem)
    members = [(f"{E4}_nrca2_rate.fits", 100, 2_000), (f"{E4}_nrca1_rate.fits", 90, 1_000)]
    assert not members_unchanged(path, stem, members)  # no record yet (a mosaic made before records): remake
    write_members(path, stem, members)
    assert oct(path.stat().st_mode & 0o777) == "0o644" and [p.name for p in tmp_path.iterdir()] == [path.name]
    assert sidecar_stem(path.name) == stem and sidecar_stem(".tmp-x.members.json") is None
    assert read_members(path, stem)[0][0] == f"{E4}_nrca1_rate.fits"  # sorted by name
    assert members_unchanged(path, stem, list(reversed(members)))
    assert not members_unchanged(path, stem, [(members[0][0], 100, 1_999), members[1]])  # older mtime
    assert not members_unchanged(path, stem, [(members[0][0], 101, 2_000), members[1]])  # other size
    assert not members_unchanged(path, stem, members[:1])  # one removed
    assert not members_unchanged(path, stem, members + [(f"{E4}_nrca3_rate.fits", 1, 1)])  # one added
    assert not members_unchanged(path, f"{E4}_NRC_SWB_MOSAIC_rate", members)  # another mosaic's record
    path.write_text('{"version": 1, "mosaic": "%s", "members": [["a", 1]]}' % stem)
    assert read_members(path, stem) is None
    path.write_text("{not json")
    assert not members_unchanged(path, stem, members)
