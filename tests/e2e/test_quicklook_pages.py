"""Browser tests of the quicklook pages (`jwql-dagster serve`) in real Chromium.

One `jwql-dagster serve` per module on the web test world (tests/web/world.py: a garbage
FITS file, a truncated one and an all-NaN rate file among good ones, previews made by the
assets) plus one filesystem snapshot and its dashboard. Screenshots are kept under each
test's tmp dir (printed in the test output) and under test-output/e2e/<test>/.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.conftest import OUTPUT_ROOT, _free_port, _require_browser
from tests.e2e.support import safe_name
from tests.plugins.resources import make_resources
from tests.web.world import ALL_NAN, E1, EMPTY, GARBAGE, P1, TRUNCATED, World, asset_named, session_world

pytestmark = pytest.mark.e2e


def _add_filesystem_snapshot(world: World) -> None:
    """One filesystem snapshot and its dashboard, as the filesystem group's first run makes them."""
    import dagster as dg

    from jwql_dagster.db.resources import JwqlDatabase

    resources = make_resources(world.settings, db=JwqlDatabase(url=world.db_url))
    with dg.instance_for_test() as instance:
        dg.materialize([asset_named("filesystem_snapshot"), asset_named("filesystem_plots")], resources=resources,
                       instance=instance)
    resources["db"].dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World]]:
    """`jwql-dagster serve` on a free port; stopped with SIGTERM at the end (and it must stop)."""
    _require_browser()
    world = session_world(tmp_path_factory)
    dashboard = world.settings.output_root / "filesystem" / "filesystem_dashboard.html"
    if not dashboard.exists():
        _add_filesystem_snapshot(world)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(JWQL_HOME=str(world.settings.home), DAGSTER_HOME=str(world.settings.dagster_home),
               JWQL_WEB_URL=f"http://127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from jwql_dagster.cli import main; sys.exit(main())",
                                 "serve"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                    if resp.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jwql-dagster serve did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield url, world
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError("jwql-dagster serve ignored SIGTERM")
        assert code == 0, log.read_text(errors="replace")


@pytest.fixture(scope="module")
def chromium(server: tuple[str, World], chromium_browser: Any) -> Any:
    """The package's one Chromium (tests/e2e/conftest.py), once the pages server is up."""
    return chromium_browser


@pytest.fixture
def page(chromium: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        kept = OUTPUT_ROOT / safe_name(request.node.name)
        shutil.rmtree(kept, ignore_errors=True)
        shots = sorted(tmp_path.glob("*.png"))
        if shots:
            kept.mkdir(parents=True)
            for shot in shots:
                shutil.copy2(shot, kept / shot.name)
            print(f"\nscreenshots: {tmp_path} (copied to {kept})")
        context.close()


def test_failure_search_finds_a_broken_file(server, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, _ = server
    page.goto(f"{url}/failures")
    rows = page.locator("table.failures tr").filter(has=page.locator("td"))
    expect(rows).to_have_count(4)
    for name in (GARBAGE, TRUNCATED, ALL_NAN, EMPTY):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    box = page.get_by_role("searchbox")
    box.fill("truncated")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/failures\?q=truncated$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(TRUNCATED)
    expect(rows.first).to_contain_text("file is truncated")
    expect(box).to_have_value("truncated")
    page.screenshot(path=str(tmp_path / "01-failures-search.png"), full_page=True)


def test_gallery_to_file_page_where_hover_shows_a_pixel_value(server, page, tmp_path: Path) -> None:
    from astropy.io import fits
    from playwright.sync_api import expect

    url, world = server
    stem = f"{E1}_nrca1_rate"
    page.goto(f"{url}/programs/{P1}")
    tile = page.locator(f'.tile[data-stem="{stem}"]')
    expect(tile.locator("img")).to_be_visible()
    # visible is layout only: wait (as expect does) until the JPEG itself has loaded and decoded
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=tile.locator("img").element_handle(),
                           timeout=15_000)
    expect(page.locator(".tile.failed")).to_have_count(4)
    page.screenshot(path=str(tmp_path / "01-gallery.png"), full_page=True)
    tile.locator("a.open").click()
    page.wait_for_url(f"{url}/files/{stem}")
    expect(page.locator("#preview")).to_be_visible()
    assert page.locator("#preview").evaluate("img => img.complete && img.naturalWidth > 400")
    canvas = page.locator(".bk-Canvas canvas, canvas").first
    expect(canvas).to_be_visible()
    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # first paint
    box = canvas.bounding_box()
    assert box and box["width"] > 300
    tooltip = page.locator(".bk-tooltip-content").filter(has_text="value")
    data = fits.getdata(world.settings.filesystem / "public" / P1 / f"{P1}001001" / f"{stem}.fits", "SCI")
    seen = []
    for fx, fy in ((0.5, 0.5), (0.3, 0.7), (0.6, 0.35)):  # points inside the plot area of the canvas
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=8)
        expect(tooltip.first).to_be_visible()
        text = " ".join(tooltip.first.inner_text().split())
        m = re.fullmatch(r"x: (\d+) y: (\d+) value: (-?\d+\.\d+)", text)
        assert m, text
        x, y, value = int(m[1]), int(m[2]), float(m[3])
        # the value shown is the file's pixel at the position shown
        assert round(float(data[y, x]), 4) == value, (text, float(data[y, x]))
        seen.append((x, y))
        if len(seen) == 1:
            page.screenshot(path=str(tmp_path / "02-file-page-hover.png"))
    assert len(set(seen)) == 3  # three places, three different pixels


def test_filesystem_dashboard_with_one_snapshot_is_readable(server, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, _ = server
    page.goto(f"{url}/dashboards")
    link = page.get_by_role("link", name="Filesystem statistics")
    expect(link).to_be_visible()
    page.screenshot(path=str(tmp_path / "01-dashboards.png"), full_page=True)
    link.click()
    page.wait_for_url(f"{url}/outputs/filesystem/filesystem_dashboard.html")
    canvases = page.locator("canvas")
    expect(canvases.first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1500)  # bokeh lays out and paints every plot
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert canvases.count() >= 1
    widths = [b["width"] for b in (c.bounding_box() for c in canvases.all()) if b]
    assert max(widths) > 300
    page.screenshot(path=str(tmp_path / "02-filesystem-dashboard.png"), full_page=True)
    assert not errors


TIME_PLOTS_JS = """() => {
  const width = document.documentElement.clientWidth;
  return [...Bokeh.index.all_views()]
    .filter(v => v.model.below && v.model.below.some(a => a.type === 'DatetimeAxis'))
    .map(v => ({title: v.model.title ? v.model.title.text : '', span_ms: v.model.x_range.end - v.model.x_range.start,
                width: v.bbox.width, page: width}));
}"""


def test_filesystem_dashboard_time_axes_are_sensible_and_full_width_with_one_snapshot(server, page,
                                                                                      tmp_path: Path) -> None:
    url, _ = server
    page.goto(f"{url}/outputs/filesystem/filesystem_dashboard.html")
    page.locator("canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    plots = page.evaluate(TIME_PLOTS_JS)
    page.screenshot(path=str(tmp_path / "01-filesystem-dashboard.png"), full_page=True)
    assert plots, "no time-series plot found"
    for plot in plots:
        assert plot["span_ms"] >= 60_000, plot  # at least a minute around a lone snapshot, not microseconds
        assert plot["width"] >= 0.9 * plot["page"], plot  # the page's width, not half of it
