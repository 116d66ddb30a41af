"""What a user does in the Dagster UI, in Chromium: browse lineage, materialize a partition, watch the sensor, read logs.

Each test saves numbered screenshots under test-output/e2e/<test>/ (see docs/ui-tests.md).
Locators are by role and visible text, so small layout changes of the UI do not break them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.e2e.support import DemoInstance, Ui

pytestmark = pytest.mark.e2e

GROUPS = ("previews", "filesystem", "mast", "monitoring")
PREVIEW_GROUP = ("archive_files", "preview_images", "thumbnails", "proposal_thumbnail", "preview_gallery",
                 "file_failures")
# (asset, side, neighbour): the Contract's lineage archive_files -> preview_images/thumbnails -> proposal_thumbnail
EDGES = (
    ("archive_files", "Downstream", "preview_images"),
    ("archive_files", "Downstream", "thumbnails"),
    ("preview_images", "Upstream", "archive_files"),
    ("thumbnails", "Upstream", "archive_files"),
    ("thumbnails", "Downstream", "proposal_thumbnail"),
    ("proposal_thumbnail", "Upstream", "thumbnails"),
    ("file_failures", "Upstream", "archive_files"),  # issue 19: one failure table fed by both recorders
    ("file_failures", "Upstream", "preview_images"),
)
RUN_TIMEOUT_MS = 180_000
SENSOR_TIMEOUT_MS = 90_000
NEW_EXPOSURE = "00099"


def _expect():
    from playwright.sync_api import expect

    return expect


# ---------------------------------------------------------------- helpers


def public_cell(instance: DemoInstance) -> tuple[str, str]:
    """(program, instrument) of the smallest cell of the first public program: quick to render, inline thumbnail allowed."""
    program = instance.programs("public")[0]
    cells = {i: files for (p, i), files in instance.cells().items() if p == program}
    return program, min(cells, key=lambda i: (len(cells[i]), i))


def wait_for_run_success(ui: Ui, run_id: str) -> None:
    """Open the run's page and wait until its status is final; fail unless it succeeded."""
    expect = _expect()
    ui.goto(f"/runs/{run_id}")
    done = ui.page.get_by_role("img", name=re.compile(r"^run_(success|failure|failed|canceled)$")).first
    expect(done).to_be_visible(timeout=RUN_TIMEOUT_MS)
    status = done.get_attribute("aria-label")
    if status != "run_success":
        ui.shot("run-not-successful")
        pytest.fail(f"run {run_id} ended with {status}; dagster dev log:\n{ui.instance.log_tail()}")


def materialize_partition(ui: Ui, asset: str, program: str, instrument: str) -> str:
    """On the asset's Partitions tab pick the program x instrument cell, launch it, return the run id."""
    expect = _expect()
    page = ui.page
    key = f"{instrument}|{program}"
    ui.goto(f"/assets/{asset}?view=partitions")
    expect(page.get_by_text(re.compile(r"^Missing \(\d+\)$"))).to_be_visible()
    # The grid: one column of instruments, one of programs.
    for name in ("fgs", "miri", "nircam", "niriss", "nirspec", program):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    ui.shot("partition-grid")
    page.get_by_text(instrument, exact=True).first.click()
    page.get_by_text(program, exact=True).first.click()
    expect(page.get_by_text(key, exact=True).first).to_be_visible()
    ui.shot(f"selected-{key}")

    page.get_by_role("button", name=re.compile(r"Materialize(…|\.\.\.)$")).first.click()
    launch = page.get_by_role("button", name="Launch 1 run", exact=True)
    confirm_button = page.get_by_role("button", name="Confirm", exact=True)
    confirm = page.get_by_role("dialog").filter(has=confirm_button)
    # Before the launch dialog Dagster may ask to confirm the multi-asset sibling (thumbnails)
    # and materializing while upstream partitions are missing.
    for _ in range(4):
        expect(launch.or_(confirm).first).to_be_visible()
        if launch.is_visible():
            break
        question = confirm.first.inner_text().strip().splitlines()[0]  # its title, e.g. "Additional assets will be materialized"
        ui.shot("confirm")
        confirm.first.get_by_role("button", name="Confirm", exact=True).click()
        expect(page.get_by_role("dialog").filter(has_text=question)).to_be_hidden()  # wait out its closing animation
    dialog = page.get_by_role("dialog").filter(has=launch)
    expect(dialog).to_contain_text("1 partition")
    expect(dialog).to_contain_text(instrument)
    expect(dialog).to_contain_text(program)
    ui.shot("launch-dialog")
    launch.click()
    view = page.locator("a[href^='/runs/']", has_text="View").first
    expect(view).to_be_visible()
    ui.shot("launched")
    return view.get_attribute("href").rsplit("/", 1)[-1]


def preview_run(ui: Ui, shared: dict[str, Any]) -> tuple[str, str, str]:
    """(program, instrument, run id) of a successful preview run launched from the UI (made once per session)."""
    if "preview_run" not in shared:
        program, instrument = public_cell(ui.instance)
        run_id = materialize_partition(ui, "preview_images", program, instrument)
        wait_for_run_success(ui, run_id)
        shared["preview_run"] = (program, instrument, run_id)
    return shared["preview_run"]


# ---------------------------------------------------------------- tests


def test_asset_graph_shows_groups_and_preview_lineage(ui: Ui) -> None:
    expect = _expect()
    page = ui.page
    ui.goto("/asset-groups")
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    expect(page.get_by_text("fetching statuses")).to_have_count(0)  # group nodes show their asset statuses
    ui.shot("global-lineage-groups")

    ui.goto("/locations/jwql/asset-groups/previews/lineage")
    for asset in PREVIEW_GROUP:
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Loading(…|\.\.\.)$"))).to_have_count(0)  # node statuses filled in
    ui.shot("previews-group-graph")

    # Edges, read from each asset's Overview: the lists of upstream and downstream assets.
    by_asset: dict[str, list[tuple[str, str]]] = {}
    for asset, side, neighbour in EDGES:
        by_asset.setdefault(asset, []).append((side, neighbour))
    for asset, edges in by_asset.items():
        ui.goto(f"/assets/{asset}")
        for side, neighbour in edges:
            heading = page.get_by_text(f"{side} assets", exact=True)
            listing = heading.locator("xpath=following-sibling::*[1]")
            expect(listing.locator(f"a[href='/assets/{neighbour}']")).to_be_visible()
        heading.scroll_into_view_if_needed()
        ui.shot(f"{asset}-lineage-lists")

    ui.goto("/assets/thumbnails?view=lineage")
    for asset in ("archive_files", "thumbnails", "proposal_thumbnail"):
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    ui.shot("thumbnails-lineage-tab")


def test_materialize_public_partition_shows_inline_thumbnail(ui: Ui, shared: dict[str, Any]) -> None:
    expect = _expect()
    page = ui.page
    program, instrument, run_id = preview_run(ui, shared)
    key = f"{instrument}|{program}"
    ui.shot("run-succeeded")

    ui.goto(f"/assets/preview_images?view=partitions&partition={quote(key)}")
    expect(page.get_by_text(key, exact=True).first).to_be_visible()
    expect(page.get_by_text(run_id[:8], exact=True).first).to_be_visible()  # latest materialization: our run
    show = page.get_by_role("row").filter(has_text="thumbnail").get_by_text("[Show Markdown]").first
    expect(show).to_be_visible()
    show.scroll_into_view_if_needed()
    ui.shot("latest-materialization-metadata")
    show.click()
    image = page.get_by_role("dialog").locator("img[src^='data:image/']").first
    expect(image).to_be_visible()
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 16 and height > 16, f"inline thumbnail did not decode ({width}x{height})"
    ui.shot("inline-thumbnail")


def _new_exposure(instance: DemoInstance) -> tuple[Path, dict[str, Any]]:
    """Path and truth record of a new exposure, next to an existing rate file of the first proprietary program."""
    programs = instance.programs("proprietary") or instance.programs("public")[-1:]
    for rel, rec in sorted(instance.truth["files"].items()):
        if rec["program"] == programs[0] and rec["suffix"] == "rate" and isinstance(rec.get("subarray"), dict):
            name = Path(rel).name
            new_name = re.sub(r"^(jw\d{11}_\d{5}_)\d{5}(_)", rf"\g<1>{NEW_EXPOSURE}\2", name)
            assert new_name != name, name
            return instance.archive / Path(rel).parent / new_name, rec
    raise AssertionError(f"no rate file of {programs[0]} in the synthetic archive")


def test_new_fits_file_sensor_requests_a_run(ui: Ui) -> None:
    from jwql_dagster.demo.synthetic import write_exposure

    expect = _expect()
    page = ui.page
    target, rec = _new_exposure(ui.instance)
    key = f"{rec['instrument']}|{rec['program']}"

    ui.goto("/automation")
    sensor_link = page.get_by_role("link", name=re.compile(r"\bnew_fits_files\b")).first
    expect(sensor_link).to_be_visible()
    expect(sensor_link).to_contain_text("Standard sensor")  # the list has loaded each automation's details
    expect(page.get_by_text("Run status sensor").first).to_be_visible()
    # The row's select box and its on/off switch (a spinner until the sensor's state has loaded).
    expect(sensor_link.locator("xpath=..").get_by_role("checkbox")).to_have_count(2)
    ui.shot("automation")
    sensor_link.click()
    toggle = page.get_by_role("row").filter(has_text="Running").get_by_role("checkbox")
    expect(toggle).not_to_be_checked()
    toggle.locator("xpath=..").click()  # the switch's label; the input itself is hidden
    expect(toggle).to_be_checked()
    ui.shot("sensor-on")

    # Wait for the first tick: with the archive already inventoried it requests nothing, so
    # any request after the new file is caused by that file.
    ticks = page.get_by_role("button", name=re.compile(r"^\d+ runs? requested$"))
    expect(ticks.first).to_be_visible(timeout=SENSOR_TIMEOUT_MS)
    ui.shot("first-tick")

    started = time.monotonic()
    write_exposure(target, subarray=rec["subarray"], seed=99)
    requested = page.get_by_role("button", name=re.compile(r"^[1-9]\d* runs? requested$")).first
    expect(requested).to_be_visible(timeout=SENSOR_TIMEOUT_MS)
    elapsed = time.monotonic() - started
    ui.shot("run-requested")
    requested.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"partition: {key}")
    expect(dialog).to_contain_text("new_fits_files")
    expect(dialog).to_contain_text("preview_partition_job")
    ui.shot("requested-run-details")
    print(f"new file {target.name}: run requested for {key} {elapsed:.1f} s after it was written")


def test_run_logs_show_per_file_progress(ui: Ui, shared: dict[str, Any]) -> None:
    expect = _expect()
    page = ui.page
    program, instrument, run_id = preview_run(ui, shared)
    ui.goto(f"/runs/{run_id}")
    expect(page.get_by_text("RUN_SUCCESS", exact=True).first).to_be_visible()
    ui.shot("run-logs")
    log_filter = page.get_by_placeholder(re.compile(r"^Filter")).first
    # The event list is virtualized: filter it so the lines looked for are rendered.
    log_filter.fill(f"{program} {instrument}:")
    summary = page.get_by_text(re.compile(rf"^{program} {instrument}: \d+ files, \d+ to render")).first
    expect(summary).to_be_visible()
    to_render = int(re.search(r"(\d+) to render", summary.inner_text()).group(1))
    assert to_render >= 1
    ui.shot("run-summary-line")

    log_filter.fill("rendered")
    # One line per file (or NIRCam mosaic): "[3/6] rendered <name> -> 1 preview, 1 thumbnail (0.05 s)".
    line = re.compile(r"^\[(\d+)/(\d+)\] rendered (?:file |mosaic )?(\S+) -> \d+ previews?, \d+ thumbnails? \(")
    lines = page.get_by_text(re.compile(r"^\[\d+/\d+\] rendered "))
    expect(lines).to_have_count(to_render)
    texts = lines.all_inner_texts()
    ui.shot("per-file-progress-lines")
    cell_files = {Path(rel).name for rel in ui.instance.cells()[(program, instrument)]}
    parsed = [line.match(t) for t in texts]
    assert all(parsed), texts
    assert sorted(int(m.group(1)) for m in parsed) == list(range(1, to_render + 1)), texts
    assert {int(m.group(2)) for m in parsed} == {to_render}, texts
    names = {m.group(3) for m in parsed}
    assert {n for n in names if n.endswith(".fits")} <= cell_files, f"not files of {instrument}|{program}: {names}"
