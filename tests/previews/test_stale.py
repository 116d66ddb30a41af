"""Products that outlive their sources: previews of deleted FITS files, and mosaics whose member set changed."""

from __future__ import annotations

import json
import os
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import dagster as dg
import numpy as np
import pytest

from tests.plugins.fits import write_fits
from tests.plugins.resources import make_resources
from tests.previews.program import E1, E2, E3, NIRCAM_PREVIEWS, NIRCAM_THUMBS, P, V, listing, make_program

E4 = f"{P}001001_02102_00004"
SWA = f"{E4}_NRC_SWA_MOSAIC_rate"


@pytest.fixture
def stale_env(jwql_env, sqlite_db):
    """Settings, resources and a test instance; ``make_program`` is left to the test."""
    from jwql_dagster.options import JwqlOptions

    resources = make_resources(jwql_env, db=sqlite_db,
                               options=JwqlOptions(preview_workers=1, max_failure_rate=0.5, inline_previews="public"))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", [P, "jw02000"])
        yield jwql_env, resources, instance


def _run(assets, resources, instance, partition_key, **kwargs):
    result = dg.materialize(assets, partition_key=partition_key, resources=resources, instance=instance,
                            raise_on_error=True, **kwargs)
    assert result.success
    return result


def run_inventory(resources, instance, instrument="nircam"):
    from jwql_dagster.archive.assets import archive_files
    from jwql_dagster.partitions import program_instrument_key

    return _run([archive_files], resources, instance, program_instrument_key(P, instrument))


def run_previews(resources, instance, instrument="nircam"):
    """preview_images/thumbnails and the coverage check of one partition; returns (result, metadata by asset)."""
    from jwql_dagster.previews.assets import preview_assets, preview_coverage
    from jwql_dagster.partitions import program_instrument_key

    result = _run([preview_assets, preview_coverage], resources, instance, program_instrument_key(P, instrument))
    meta = {m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("preview_assets")}
    return result, meta


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if tag in ("a", "img"):
            self.targets.append(d.get("href") or d.get("src"))


def gallery_names(resources, instance, settings) -> set[str]:
    """File names the program's gallery page links to (previews and thumbnails)."""
    from jwql_dagster.previews.assets import preview_gallery

    _run([preview_gallery], resources, instance, P)
    page = settings.output_root / "previews" / P / "index.html"
    parser = _Links()
    parser.feed(page.read_text())
    return {os.path.basename(unquote(t)) for t in parser.targets}


def previews_of_both_instruments(settings, resources, instance) -> None:
    """The test program in the archive, inventoried and previewed for NIRCam and NIRISS."""
    make_program(settings.filesystem)
    for instrument in ("nircam", "niriss"):
        run_inventory(resources, instance, instrument)
        run_previews(resources, instance, instrument)


def test_deleted_fits_files_take_their_previews_thumbnails_and_orphaned_mosaic_along(stale_env, tmp_path) -> None:
    settings, resources, instance = stale_env
    previews_of_both_instruments(settings, resources, instance)
    prev, thumbs = settings.preview_root / P, settings.thumbnail_root / P
    assert listing(prev, ".jpg") >= NIRCAM_PREVIEWS and listing(thumbs, ".thumb") >= NIRCAM_THUMBS
    niriss = f"{P}002001_02101_00001_nis_rate_integ0"

    # Look-alikes the cleanup must never touch: other names, a link out of the root, another program.
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"not ours")
    decoys = [prev / f"{E3}_nrca1_rateints_integ0.jpg.bak", prev / f"{E3}_nrca1_rateints_notes.jpg",
              prev / f"{E3}_nrca1_rateints_integX.jpg", thumbs / f"{E3}_nrca1_rateints_integ0.jpg",
              settings.preview_root / "jw02000" / f"{E3}_nrca1_rateints_integ0.jpg"]
    for d in decoys:
        d.parent.mkdir(parents=True, exist_ok=True)
        d.write_bytes(b"decoy")
    link = prev / f"{E3}_nrca1_rateints_integ7.jpg"
    link.symlink_to(outside)

    visit = settings.filesystem / "public" / P / V
    uncal = visit / f"{E2}_nrcb1_uncal.fits"
    aside = tmp_path / uncal.name
    os.rename(uncal, aside)
    for name in (f"{E3}_nrca1_rateints.fits", f"{E1}_nrcblong_rate.fits", f"{E1}_nrca4_rate.fits"):
        (visit / name).unlink()
    run_inventory(resources, instance)  # marks the four files deleted in `files`

    # The gallery leaves deleted files out even before a preview run has removed their images.
    shown = gallery_names(resources, instance, settings)
    assert f"{E3}_nrca1_rateints_integ0.jpg" not in shown and f"{E1}_nrcblong_rate_integ0.thumb" not in shown
    assert f"{E1}_nrca1_rate_integ0.jpg" in shown and f"{niriss}.jpg" in shown
    assert (prev / f"{E3}_nrca1_rateints_integ0.jpg").is_file()

    os.rename(aside, uncal)  # back in the archive (mtime kept), though `files` still says deleted: kept
    result, meta = run_previews(resources, instance)
    removed_previews = {f"{E3}_nrca1_rateints_integ{i}.jpg" for i in range(3)} | {
        f"{E1}_nrcblong_rate_integ0.jpg", f"{E1}_nrca4_rate_integ0.jpg", f"{E1}_NRC_LW_MOSAIC_rate_integ0.jpg"}
    removed_thumbs = {f"{E1}_nrcblong_rate_integ0.thumb", f"{E1}_nrca4_rate_integ0.thumb",
                      f"{E1}_NRC_LW_MOSAIC_rate_integ0.thumb"}
    assert listing(prev, ".jpg") == (NIRCAM_PREVIEWS - removed_previews) | {
        f"{niriss}.jpg", f"{E3}_nrca1_rateints_notes.jpg", f"{E3}_nrca1_rateints_integX.jpg", link.name}
    assert listing(thumbs, ".thumb") == (NIRCAM_THUMBS - removed_thumbs) | {f"{niriss}.thumb", f"{P}.thumb"}
    assert all(d.read_bytes() == b"decoy" for d in decoys)
    assert link.is_symlink() and outside.read_bytes() == b"not ours"
    # the LW mosaic lost its second member and its record goes with it; the SWA one is remade from three
    assert not (prev / f".{E1}_NRC_LW_MOSAIC_rate.members.json").exists()
    assert (prev / f".{E1}_NRC_SWA_MOSAIC_rate.members.json").is_file()

    m = meta["preview_images"]
    assert m["previews_removed"].value == 6 and meta["thumbnails"]["thumbnails_removed"].value == 3
    assert m["stale_removed"].value == 9 and meta["thumbnails"]["stale_removed"].value == 9
    assert (m["deleted_files_cleaned"].value, m["mosaics_removed"].value) == (3, 1)
    assert (m["files_made"].value, m["mosaics_made"].value, m["files_skipped"].value) == (0, 1, 6)
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(line.startswith("removed 6 preview(s) and 3 thumbnail(s) of 3 file(s) deleted from the archive "
                               "and 1 mosaic(s) no longer made") for line in logs), logs
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]

    run_inventory(resources, instance)  # the returned uncal counts as present again
    shown = gallery_names(resources, instance, settings)
    assert not shown & (removed_previews | removed_thumbs)
    assert f"{E2}_nrcb1_uncal_integ0.thumb" in shown and f"{E1}_NRC_SWA_MOSAIC_rate_integ0.thumb" in shown
    _, meta = run_previews(resources, instance)  # nothing left to remove
    assert meta["preview_images"]["stale_removed"].value == 0
    assert meta["preview_images"]["mosaics_skipped"].value == 1


def _mosaic_made(prev: Path) -> int:
    return (prev / f"{SWA}_integ0.jpg").stat().st_mtime_ns


def _recorded_members(prev: Path) -> list[str]:
    """Member names in the mosaic's record (read as plain JSON, independent of the code under test)."""
    body = json.loads((prev / f".{SWA}.members.json").read_text())
    assert body["mosaic"] == SWA
    return [m[0] for m in body["members"]]


def test_mosaic_is_remade_when_its_member_set_changes_whatever_the_mtimes(stale_env) -> None:
    from astropy.io import fits

    settings, resources, instance = stale_env
    visit = settings.filesystem / "public" / P / V
    for det in ("nrca1", "nrca2"):
        write_fits(visit / f"{E4}_{det}_rate.fits", det, "rate", seed=len(det))
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["mosaics_made"].value == 1
    prev = settings.preview_root / P
    made = _mosaic_made(prev)

    # a member arriving late with an old mtime (rsync -t / cp -p): older than the mosaic
    old = time.time() - 86400
    late = write_fits(visit / f"{E4}_nrca3_rate.fits", "nrca3", "rate", seed=3)
    os.utime(late, (old, old))
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["mosaics_made"].value == 1
    remade = _mosaic_made(prev)
    assert remade != made
    assert _recorded_members(prev) == [f"{E4}_nrca{i}_rate.fits" for i in (1, 2, 3)]

    # an unchanged member set is still skipped
    _, meta = run_previews(resources, instance)
    m = meta["preview_images"]
    assert (m["mosaics_made"].value, m["mosaics_skipped"].value, m["files_made"].value) == (0, 1, 0)
    assert _mosaic_made(prev) == remade

    # a member given an older mtime, then replaced by other content that keeps that mtime (size differs)
    member = visit / f"{E4}_nrca2_rate.fits"
    os.utime(member, (old, old))
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["mosaics_made"].value == 1
    with fits.open(member, memmap=False) as hdul:
        grown = fits.HDUList([h.copy() for h in hdul] + [fits.ImageHDU(np.zeros((4, 4), np.float32), name="EXTRA")])
    size = member.stat().st_size
    grown.writeto(member, overwrite=True)
    os.utime(member, (old, old))
    assert member.stat().st_size != size
    before = _mosaic_made(prev)
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["mosaics_made"].value == 1
    assert _mosaic_made(prev) != before

    # a member removed: two are left, so the mosaic is remade from them
    late.unlink()
    before = _mosaic_made(prev)
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["mosaics_made"].value == 1
    assert _mosaic_made(prev) != before
    assert _recorded_members(prev) == [f"{E4}_nrca1_rate.fits", f"{E4}_nrca2_rate.fits"]
    assert not list(prev.glob(".tmp-*"))


def test_gallery_hides_products_of_hidden_stems_by_exact_stem(tmp_path: Path) -> None:
    from jwql_dagster.previews.gallery import products_of, write_gallery

    prev, thumb = tmp_path / "preview_images" / P, tmp_path / "thumbnails" / P
    prev.mkdir(parents=True)
    thumb.mkdir(parents=True)
    gone, kept = f"{E1}_nrca1_rate", f"{E1}_nrca1_rateints"  # one stem is a prefix of the other
    names = [f"{gone}_integ0.jpg", f"{kept}_integ0.jpg", f"{kept}_integ1.jpg"]
    for n in names:
        (prev / n).write_bytes(b"\xff\xd8jpeg\xff\xd9")
    (thumb / f"{gone}_integ0.thumb").write_bytes(b"\xff\xd8jpeg\xff\xd9")
    page = tmp_path / "out" / "index.html"
    gallery = write_gallery(P, prev, thumb, page, hidden={gone})
    assert gallery.n_previews == 2 and gallery.n_thumbnails == 0
    text = page.read_text()
    assert f"{gone}_integ0.jpg" not in text and f"{gone}_integ0.thumb" not in text and f"{kept}_integ1.jpg" in text
    found = products_of({gone, kept}, names + [f".tmp-{gone}_integ0.jpg", f"{gone}_integ0.jpg.bak", f"{kept}_integ10.jpg"])
    assert found == {gone: [f"{gone}_integ0.jpg"], kept: [f"{kept}_integ0.jpg", f"{kept}_integ1.jpg", f"{kept}_integ10.jpg"]}


# ---------------------------------------------------------------- review fixes


E5 = f"{P}001001_02102_00005"
LW5 = f"{E5}_NRC_LW_MOSAIC_rate"


def _fake_products(prev: Path, thumbs: Path, stem: str) -> None:
    prev.mkdir(parents=True, exist_ok=True)
    thumbs.mkdir(parents=True, exist_ok=True)
    (prev / f"{stem}_integ0.jpg").write_bytes(b"\xff\xd8jpeg\xff\xd9")
    (thumbs / f"{stem}_integ0.thumb").write_bytes(b"\xff\xd8jpeg\xff\xd9")


def test_orphaned_mosaic_keeps_its_record_until_every_product_is_removed(stale_env, monkeypatch) -> None:
    """A product that cannot be removed (permissions) must not lose the record that proves the mosaic was ours."""
    from jwql_dagster.previews import stale
    from jwql_dagster.previews.members import members_sidecar_name, write_members

    settings, resources, _ = stale_env
    archive = resources["archive"]
    prev, thumbs = settings.preview_root / P, settings.thumbnail_root / P
    _fake_products(prev, thumbs, LW5)
    record = prev / members_sidecar_name(LW5)
    gone = f"{E5}_nrcblong_rate.fits"
    write_members(record, LW5, [(f"{E5}_nrcalong_rate.fits", 10, 1), (gone, 10, 1)])

    real_unlink = os.unlink
    stuck = str(thumbs / f"{LW5}_integ0.thumb")

    def unlink(path, *args, **kwargs):
        if os.fspath(path) == stuck:
            raise PermissionError(13, "Permission denied", stuck)
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    removal = stale.remove_stale_products(archive, P, {gone}, set())
    assert [e.split(":")[0] for e in removal.errors] == [f"{LW5}_integ0.thumb"]
    assert not (prev / f"{LW5}_integ0.jpg").exists() and (thumbs / f"{LW5}_integ0.thumb").exists()
    assert record.is_file()  # kept: the next run can still trace the leftover thumbnail to this mosaic

    monkeypatch.setattr(os, "unlink", real_unlink)  # permissions fixed: the next run finishes the job
    removal = stale.remove_stale_products(archive, P, {gone}, set())
    assert removal.thumbnails == [f"{LW5}_integ0.thumb"] and removal.mosaics == [f"{LW5}.fits"]
    assert not record.exists() and not (thumbs / f"{LW5}_integ0.thumb").exists()


@pytest.mark.parametrize("odd", ["folder", "link_out"])
def test_a_member_record_that_cannot_be_written_does_not_stop_the_run(stale_env, tmp_path, odd) -> None:
    settings, resources, instance = stale_env
    visit = settings.filesystem / "public" / P / V
    for det in ("nrcalong", "nrcblong"):
        write_fits(visit / f"{E5}_{det}_rate.fits", det, "rate", seed=len(det))
    prev = settings.preview_root / P
    prev.mkdir(parents=True)
    record = prev / f".{LW5}.members.json"
    if odd == "folder":
        record.mkdir()
    else:
        record.symlink_to(tmp_path / "elsewhere.json")
    result, meta = run_previews(resources, instance)
    m = meta["preview_images"]
    assert (m["files_made"].value, m["mosaics_made"].value) == (2, 1)
    assert (prev / f"{LW5}_integ0.jpg").is_file()
    assert not (tmp_path / "elsewhere.json").exists()
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any("member record" in line and LW5 in line for line in logs), logs


def test_mosaic_left_stale_by_two_concurrent_runs_is_remade(stale_env) -> None:
    """Run B renders {a1,a2,a3}; run A, planned before a3 arrived, replaces the outputs with {a1,a2} and
    writes its record just before B writes its own: the outputs are A's, the record B's. The mosaic
    must not count as up to date."""
    from jwql_dagster.atomic import atomic_write_bytes

    settings, resources, instance = stale_env
    visit = settings.filesystem / "public" / P / V
    for i, det in enumerate(("nrca1", "nrca2", "nrca3")):
        write_fits(visit / f"{E4}_{det}_rate.fits", det, "rate", seed=i)
    _, meta = run_previews(resources, instance)  # run B
    assert meta["preview_images"]["mosaics_made"].value == 1
    prev, thumbs = settings.preview_root / P, settings.thumbnail_root / P
    record = prev / f".{SWA}.members.json"
    b_record = record.read_bytes()
    # run A: its outputs (made from two members) land after B's, its record too ...
    atomic_write_bytes(prev / f"{SWA}_integ0.jpg", b"\xff\xd8 two-member mosaic \xff\xd9")
    atomic_write_bytes(thumbs / f"{SWA}_integ0.thumb", b"\xff\xd8 two-member thumbnail \xff\xd9")
    body = json.loads(b_record)
    body["members"] = body["members"][:2]
    record.write_text(json.dumps(body))
    record.write_bytes(b_record)  # ... and B's record, written a moment later, wins
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["mosaics_made"].value == 1
    assert (prev / f"{SWA}_integ0.jpg").read_bytes() != b"\xff\xd8 two-member mosaic \xff\xd9"
    _, meta = run_previews(resources, instance)  # and then it is up to date again
    assert (meta["preview_images"]["mosaics_made"].value, meta["preview_images"]["mosaics_skipped"].value) == (0, 1)


def test_failure_row_of_a_mosaic_no_longer_made_is_cleared(stale_env) -> None:
    """A mosaic that never rendered has no member record; when a member is deleted and the group is
    gone, its failure row must go too."""
    import sqlalchemy as sa
    from astropy.io import fits

    from jwql_dagster.db.models import FileFailure

    settings, resources, instance = stale_env
    visit = settings.filesystem / "public" / P / V
    write_fits(visit / f"{E5}_nrcalong_rate.fits", "nrcalong", "rate", seed=1)
    bad = write_fits(visit / f"{E5}_nrcblong_rate.fits", "nrcblong", "rate", seed=2)
    with fits.open(bad, mode="update") as hdul:
        hdul[0].header["SUBSTRT1"] = 2040  # a 32 px subarray from column 2040 does not fit: the mosaic fails
    run_inventory(resources, instance)
    _, meta = run_previews(resources, instance)
    assert (meta["preview_images"]["files_made"].value, meta["preview_images"]["mosaics_failed"].value) == (2, 1)
    t = FileFailure.__table__

    def rows():
        with resources["db"].session(readonly=True) as s:
            return sorted(tuple(r) for r in s.execute(sa.select(t.c.filename, t.c.product)))

    assert rows() == [(f"{LW5}.fits", "mosaic")]
    bad.unlink()
    run_inventory(resources, instance)
    _, meta = run_previews(resources, instance)
    assert meta["preview_images"]["deleted_files_cleaned"].value == 1
    assert rows() == []


def test_runs_of_other_instruments_do_not_read_nircam_member_records(stale_env, monkeypatch) -> None:
    from jwql_dagster.previews import stale

    settings, resources, instance = stale_env
    previews_of_both_instruments(settings, resources, instance)
    visit = settings.filesystem / "public" / P / f"{P}002001"
    extra = write_fits(visit / f"{P}002001_02101_00002_nis_rate.fits", "nis", "rate")
    run_inventory(resources, instance, "niriss")
    run_previews(resources, instance, "niriss")
    extra.unlink()
    run_inventory(resources, instance, "niriss")  # one deleted NIRISS file: every later niriss run has a `gone`
    reads = []
    real = stale.read_members
    monkeypatch.setattr(stale, "read_members", lambda *a, **k: reads.append(a) or real(*a, **k))
    _, meta = run_previews(resources, instance, "niriss")
    assert meta["preview_images"]["deleted_files_cleaned"].value == 1
    assert reads == []  # NIRCam's mosaic records cannot name a NIRISS file


def test_stale_temp_files_are_swept_young_ones_kept(tmp_path: Path) -> None:
    import os
    import time

    from jwql_dagster.previews.stale import sweep_stale_temp

    old = tmp_path / ".tmp-old-abc.jpg"
    young = tmp_path / ".tmp-young-def.jpg"
    product = tmp_path / "x_integ0.jpg"
    for p in (old, young, product):
        p.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    os.utime(product, (past, past))
    assert sweep_stale_temp(tmp_path) == 1
    assert not old.exists() and young.exists() and product.exists()
