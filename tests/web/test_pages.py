"""Every quicklook page over the shared world: programs, gallery and pickers, file page, failures, dashboards, 404s."""

from __future__ import annotations

import io
import re
from html import unescape
from pathlib import Path

import pytest
from PIL import Image

from jwql_dagster.failures import reasons
from tests.web.client import get
from tests.web.world import ALL_NAN, E1, E2, EMPTY, GARBAGE, GOOD, NIRISS, P1, P2, TRUNCATED

IMG_SRC = re.compile(r'<img[^>]*\ssrc="([^"]+)"')


def srcs(html: str) -> list[str]:
    return [unescape(s) for s in IMG_SRC.findall(html)]


def tiles(html: str) -> list[str]:
    return re.findall(r'<div class="tile[^"]*" data-stem="([^"]+)"', html)


def test_programs_page_shows_each_program_with_its_proposal_thumbnail(app) -> None:
    page = get(app, "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert f'href="/programs/{P1}"' in page.text and f'href="/programs/{P2}"' in page.text
    assert srcs(page.text) == [f"/squares/{P1}/{P1}.jpg", f"/squares/{P2}/{P2}.jpg"]
    for src in srcs(page.text):
        image = get(app, src)
        assert image.status == 200 and image.headers["content-type"] == "image/jpeg" and image.body[:2] == b"\xff\xd8"
        assert Image.open(io.BytesIO(image.body)).size == (240, 240)
    assert "8 files" in page.text and "4 failed" in page.text  # jw01068: 4 good + 4 broken files, 4 failures


def test_program_gallery_groups_by_exposure_with_every_preview_and_failure_badges(app, world) -> None:
    page = get(app, f"/programs/{P1}")
    assert page.status == 200
    shown = tiles(page.text)
    assert set(shown) >= set(GOOD) | {f"{E1}_NRC_SWA_MOSAIC_rate"}
    assert {f.removesuffix(".fits") for f in (GARBAGE, TRUNCATED, ALL_NAN, EMPTY)} <= set(shown)
    sections = re.findall(r'<section class="exposure"><h2>([^<]+)</h2>', page.text)
    assert sections[:2] == [E1, E2] and len(sections) == len(set(sections))
    # every picture of the page is served, as a square JPEG of the same size for every product type
    pictures = srcs(page.text)
    assert len(pictures) == len(GOOD) + 1  # the four good files and the mosaic; broken files have none
    assert f"/squares/{P1}/{E2}_nrcb1_rateints_integ0.jpg" in pictures  # a product without a .thumb
    for src in pictures:
        answer = get(app, src)
        assert answer.status == 200 and answer.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(answer.body)).size == (240, 240)
    # failure badges name the cause, in the one wording
    for reason in (reasons.NOT_FITS, reasons.EMPTY_FILE, reasons.no_finite_pixel()):
        assert f'<span class="badge" title="{reason}">failed</span>' in unescape(page.text)
    assert page.text.count('class="badge"') == 4


@pytest.mark.parametrize(("query", "expected"), [
    ("suffix=rateints", {f"{E2}_nrcb1_rateints"}),
    ("suffix=cal", {f"{E1}_nrca1_cal"}),
    ("filter=F200W", {f"{E2}_nrcb1_rateints"}),
    ("detector=nrca1&suffix=rate", {f"{E1}_nrca1_rate"}),
    ("date=2022-07-02", {f"{E2}_nrcb1_rateints"}),
    ("exp_type=NRC_IMAGE&suffix=rate&filter=F150W&date=2022-07-01", {
        f"{E1}_nrca1_rate", f"{E1}_nrca2_rate", "jw01068001001_02102_00004_nrca4_rate",
        "jw01068001001_02102_00005_nrcb2_rate"}),
])
def test_pickers_filter_the_gallery_from_header_values(app, query: str, expected: set[str]) -> None:
    page = get(app, f"/programs/{P1}?{query}")
    assert page.status == 200
    assert set(tiles(page.text)) == expected
    for key, value in (kv.split("=") for kv in query.split("&")):
        assert f'<option value="{value}" selected>' in page.text


def test_integration_picker_lists_each_integration_and_its_preview_exists(app) -> None:
    page = get(app, f"/programs/{P1}?suffix=rateints")
    options = re.search(r'<select class="integ"[^>]*>(.*?)</select>', page.text, re.S)
    assert options and re.findall(r'<option value="(\d+)">', options.group(1)) == ["0", "1", "2"]
    for i in range(3):
        assert get(app, f"/previews/{P1}/{E2}_nrcb1_rateints_integ{i}.jpg").status == 200


def test_unknown_programs_are_404(app) -> None:
    for target in ("/programs/jw09999", "/programs/jw1", "/programs/JW01068", "/programs/jw01068x",
                   "/programs/..%2Fjw01068", "/programs/"):
        answer = get(app, target)
        assert answer.status == 404, target
        assert "Not found" in answer.text


def test_file_page_shows_preview_pickers_header_and_interactive_frame(app) -> None:
    stem = f"{E2}_nrcb1_rateints"
    page = get(app, f"/files/{stem}?integ=1")
    assert page.status == 200
    assert f'id="preview" alt="preview of {stem}" src="/previews/{P1}/{stem}_integ1.jpg"' in page.text
    assert re.findall(r'<option value="(\d)"( selected)?>', page.text) == [("0", ""), ("1", " selected"), ("2", "")]
    assert "<td>filter</td><td>F200W</td>" in page.text and "<td>nints</td><td>3</td>" in page.text
    # the bokeh figure: its div, its script, and BokehJS served by this server
    assert 'data-root-id=' in page.text and "Bokeh.embed.embed_items" in page.text
    assert '"value"' in page.text and "colour range" in page.text  # hover field and the linked colour slider
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts and all(s.startswith("/bokeh/static/js/") for s in scripts)
    for src in scripts:
        js = get(app, src.split("?")[0])
        assert js.status == 200 and len(js.body) > 10_000


def test_file_page_suffix_picker_links_the_exposure_siblings(app) -> None:
    page = get(app, f"/files/{E1}_nrca1_cal")
    assert page.status == 200
    assert '<option value="jw01068001001_02102_00001_nrca1_cal" selected>cal</option>' in page.text
    assert '<option value="jw01068001001_02102_00001_nrca1_rate">rate</option>' in page.text
    assert get(app, f"/files/{E1}_nrca1_cal.fits").status == 200  # the FITS name works too


def test_science_frame_is_downsampled_to_at_most_1024_pixels(tmp_path: Path) -> None:
    import numpy as np

    from jwql_dagster.web.science import MAX_PIXELS, bokeh_components, read_frame
    from tests.web.world import write_product

    path = write_product(tmp_path / "jw01068001001_02102_00001_nrca1_rate.fits", "NRCA1", "F150W", "2022-07-01")
    small = read_frame(path)
    assert small.step == 1 and small.data.shape == (48, 48) and small.data[20, 30] == 500.0
    big = np.zeros((2048, 2100), np.float32)
    big[1000, 2050] = 7.0
    from astropy.io import fits

    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(big, name="SCI")]).writeto(tmp_path / "big_rate.fits")
    frame = read_frame(tmp_path / "big_rate.fits")
    assert max(frame.data.shape) <= MAX_PIXELS and frame.step == 3 and frame.shape == (2048, 2100)
    assert frame.data[1000 // 3, 2049 // 3] == big[999, 2049]  # every 3rd pixel: real values, no averaging
    script, div = bokeh_components(frame, "big")
    assert "$x{custom}" in script and "@image" in script and "Math.floor((value + 0.5) / step)" in script


def test_broken_files_have_a_page_with_the_reason_and_no_frame(app) -> None:
    for name, reason in ((ALL_NAN, reasons.no_finite_pixel()), (EMPTY, reasons.EMPTY_FILE),
                         (GARBAGE, reasons.NOT_FITS), (TRUNCATED, "file is truncated")):
        page = get(app, f"/files/{name.removesuffix('.fits')}")
        assert page.status == 200
        assert reason in unescape(page.text)
        assert 'id="no-science"' in page.text and "Bokeh.embed" not in page.text
        assert 'id="preview"' not in page.text


def test_mosaic_page_shows_its_preview(app) -> None:
    page = get(app, f"/files/{E1}_NRC_SWA_MOSAIC_rate")
    assert page.status == 200 and f"/previews/{P1}/{E1}_NRC_SWA_MOSAIC_rate_integ0.jpg" in page.text


def test_unknown_files_are_404(app) -> None:
    for target in (f"/files/{E1}_nrcb4_rate", "/files/jw99999001001_02102_00001_nrca1_rate", "/files/readme",
                   "/files/.hidden", f"/files/{NIRISS.removesuffix('.fits')}x",
                   f"/previews/{P1}/{E1}_nrcb4_rate_integ0.jpg", f"/thumbnails/{P2}/{P1}.thumb",
                   f"/previews/{P1}/.{E1}_NRC_SWA_MOSAIC_rate.members.json", "/outputs/nothing.html", "/nowhere"):
        assert get(app, target).status == 404, target


TRAVERSALS = [
    "/files/..%2F..%2Fetc%2Fpasswd", "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/files/..%252F..%252Fetc%252Fpasswd",
    "/files/%2Fetc%2Fpasswd", "/files/jw01068%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    f"/previews/{P1}/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/previews/..%2F..%2F..%2Fetc/passwd",
    f"/thumbnails/{P1}/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/outputs/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/outputs/%2Fetc%2Fpasswd", "/outputs/../../../../../etc/passwd", "/outputs/filesystem/..%2F..%2F..%2Fjwql.db",
    "/bokeh/static/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/files/..%00%2Fetc%2Fpasswd",
    f"/squares/{P1}/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/squares/..%2F..%2Fetc/passwd_integ0.jpg",
    f"/squares/{P1}/..%2F..%2F..%2Fjwql_integ0.jpg", f"/squares/{P1}/%2E%2E_integ0.jpg",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_paths_outside_the_output_roots_are_404_never_the_file(app, target: str) -> None:
    answer = get(app, target)
    assert answer.status == 404
    assert b"root:" not in answer.body and b"SQLite format" not in answer.body


def test_symlinks_out_of_the_roots_are_not_followed(tmp_path: Path) -> None:
    from jwql_dagster.web import paths

    root = tmp_path / "previews"
    (root / P1).mkdir(parents=True)
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"secret")
    (root / P1 / "x_integ0.jpg").symlink_to(secret)
    (root / P1 / "y_integ0.jpg").write_bytes(b"\xff\xd8ok")
    (root / "jw02000").symlink_to(tmp_path, target_is_directory=True)
    assert paths.product_path(root, P1, "x_integ0.jpg") is None
    assert paths.product_path(root, "jw02000", "secret.jpg") is None
    assert paths.product_path(root, P1, "y_integ0.jpg") == (root / P1 / "y_integ0.jpg").resolve()
    assert paths.product_path(root, P1, "y_integ0.png") is None  # not a product ending


def test_failure_view_lists_every_current_failure_and_searches(app, world) -> None:
    page = get(app, "/failures")
    assert page.status == 200
    text = unescape(page.text)
    rows = re.findall(r"<tr>\s*<td class=\"mono\">(.*?)</tr>", page.text, re.S)
    assert len(rows) == 4
    for name in (GARBAGE, TRUNCATED, ALL_NAN, EMPTY):
        assert f'<a href="/files/{name.removesuffix(".fits")}">{name}</a>' in page.text
    assert reasons.EMPTY_FILE in text and reasons.NOT_FITS in text and reasons.no_finite_pixel() in text
    assert "archive_files, preview_images" in text
    assert f'<a href="/programs/{P1}">{P1}</a>' in page.text
    assert any(run[:8] in page.text for run in world.run_ids)
    for query, expected in (("truncated", {TRUNCATED}), ("NRCA3", {GARBAGE}), ("0 bytes", {EMPTY}),
                            ("finite", {ALL_NAN}), (P2, set()), ("nircam", {GARBAGE, TRUNCATED, ALL_NAN, EMPTY})):
        found = get(app, f"/failures?q={query.replace(' ', '+')}")
        assert found.status == 200
        names = set(re.findall(r'<a href="/files/[^"]+">([^<]+)</a>', found.text))
        assert names == expected, query
        assert f'value="{query}"' in found.text  # the search box keeps the query


def test_search_text_is_escaped(app) -> None:
    page = get(app, "/failures?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert page.status == 200 and "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text


def test_dashboards_link_the_filesystem_mast_and_cron_pages(tmp_path: Path) -> None:
    from jwql_dagster.config import load_settings
    from jwql_dagster.web.app import create_app

    settings = load_settings({"JWQL_HOME": str(tmp_path)})
    app = create_app(settings)
    try:
        page = get(app, "/dashboards")
        assert page.status == 200 and page.text.count("not made yet") == 4
        dash = settings.output_root / "filesystem" / "filesystem_dashboard.html"
        dash.parent.mkdir(parents=True)
        dash.write_text("<html><body>filesystem dashboard</body></html>")
        (settings.output_root / "filesystem" / "notes.py").write_text("secret = 1")
        page = get(app, "/dashboards")
        assert page.text.count("not made yet") == 3
        assert '<a href="/outputs/filesystem/filesystem_dashboard.html">Filesystem statistics</a>' in page.text
        for rel in ("monitor_mast/database_monitor_jwst.html", "monitor_mast/database_monitor_caom.html",
                    "monitor_cron_jobs/cron_status_table.html"):
            assert rel in page.text
        served = get(app, "/outputs/filesystem/filesystem_dashboard.html")
        assert served.status == 200 and served.headers["content-type"].startswith("text/html")
        assert b"filesystem dashboard" in served.body
        assert get(app, "/outputs/filesystem/notes.py").status == 404  # only dashboard kinds of file
        # an empty database: pages still answer
        assert "No program in the database yet" in get(app, "/").text
        assert "No current failure" in get(app, "/failures").text
        assert get(app, f"/programs/{P1}").status == 404
    finally:
        app.state.db.dispose()


def test_square_of_a_product_without_thumbnail_is_its_image_area_not_the_figure(app, world) -> None:
    import numpy as np

    for stem in (f"{E1}_nrca1_cal", f"{E2}_nrcb1_rateints"):
        for i in ((0,) if stem.endswith("cal") else (0, 1, 2)):
            square = np.asarray(Image.open(io.BytesIO(get(app, f"/squares/{P1}/{stem}_integ{i}.jpg").body)))
            # the preview's white figure (title, axes, colour bar) is cut away: no white row or column is left
            white = (square > 235).all(axis=2)
            assert white.mean() < 0.01, (stem, i, white.mean())
    # a file with a thumbnail: its square is the thumbnail itself, fitted
    thumb = Image.open(world.settings.thumbnail_root / P1 / f"{E1}_nrca1_rate_integ0.thumb")
    square = Image.open(io.BytesIO(get(app, f"/squares/{P1}/{E1}_nrca1_rate_integ0.jpg").body))
    assert thumb.size[0] == thumb.size[1] and square.size == (240, 240)
    diff = np.abs(np.asarray(square.convert("L"), float) - np.asarray(thumb.convert("L").resize((240, 240)), float))
    assert diff.mean() < 12


def test_issue_19_done_when(app) -> None:
    """Garbage, truncated and all-NaN files after the previews are made: the four checks of the issue."""
    failures = get(app, "/failures")
    assert failures.status == 200
    for name in (GARBAGE, TRUNCATED, ALL_NAN):
        assert f">{name}</a>" in failures.text
    gallery = get(app, f"/programs/{P1}")
    assert gallery.status == 200 and all(get(app, src).status == 200 for src in srcs(gallery.text))
    assert len(srcs(gallery.text)) == len(GOOD) + 1
    assert get(app, "/programs/jw09999").status == 404
    passwd = get(app, "/files/..%2F..%2Fetc%2Fpasswd")
    assert passwd.status == 404 and b"root:" not in passwd.body


def test_unrecognised_names_link_their_failure_page_odd_names_link_nothing(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from jwql_dagster.config import load_settings
    from jwql_dagster.db.models import FileFailure
    from jwql_dagster.db.resources import JwqlDatabase
    from jwql_dagster.web.app import create_app

    settings = load_settings({"JWQL_HOME": str(tmp_path)})
    db = JwqlDatabase(url=settings.database_url)
    now = datetime.now(timezone.utc)
    with db.session() as s:
        db.upsert(s, FileFailure, [{"filename": name, "product": "archive_files", "program": P1, "instrument": None,
                                    "path": None, "reason": "unrecognised file name: x",
                                    "error_type": "UnrecognizedFilename", "first_seen": now, "last_seen": now,
                                    "run_id": "r"} for name in ("jw01068001001_not-a-jwst-name.fits",
                                                                "jw01068001001 copy (2).fits")], ("filename", "product"))
    db.dispose()
    app = create_app(settings)
    try:
        page = get(app, "/failures?q=unrecognised")
        assert '<a href="/files/jw01068001001_not-a-jwst-name">jw01068001001_not-a-jwst-name.fits</a>' in page.text
        assert "jw01068001001 copy (2).fits" in page.text and page.text.count('href="/files/') == 1
        file_page = get(app, "/files/jw01068001001_not-a-jwst-name")
        assert file_page.status == 200 and "unrecognised file name: x" in file_page.text
        gallery = get(app, f"/programs/{P1}")  # the program exists through its failure; the name has its tile
        assert gallery.status == 200 and "(unrecognised names)" in gallery.text
        assert gallery.text.count('href="/files/') == 1  # the odd name has its tile, without a dead link
    finally:
        app.state.db.dispose()
