"""The asset page of preview_images shows the coverage check failing while a partition fails (issue 19).

Two cells of the proprietary program (the other browser tests use the public one) get their
previews made by a child process in the UI's instance: the first then loses a preview (a file
with neither preview nor failure row, so its partition fails), the second is clean and made
last. Dagster shows a check's latest evaluation as its status: the page must still say failed
and name the failing partition, not "passed" from the clean run.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO
from tests.e2e.support import DemoInstance, Ui

# A browser test on the package's one `dagster dev` (tests/e2e/conftest.py): it runs with the other
# browser tests, after the fast ones, instead of starting a `dagster dev` of its own in an xdist worker.
pytestmark = pytest.mark.e2e

SCRIPT = r"""
import sys
import dagster as dg
from jwql_dagster.config import load_settings
from jwql_dagster.partitions import program_instrument_key
from jwql_dagster.previews.assets import preview_assets, preview_coverage
from tests.plugins.resources import make_resources

program, bad, good = sys.argv[1:4]
settings = load_settings()
resources = make_resources(settings)
instance = dg.DagsterInstance.get()
bad_key, good_key = program_instrument_key(program, bad), program_instrument_key(program, good)
assert dg.materialize([preview_assets, preview_coverage], partition_key=bad_key, instance=instance,
                      resources=resources).success
victims = [line for line in sys.stdin.read().split() if (settings.preview_root / program / line).exists()]
(settings.preview_root / program / victims[0]).unlink()  # a file without preview or failure row
# the check alone on that partition, as from the UI: it fails
result = dg.materialize([preview_assets, preview_coverage], tags={"dagster/partition": str(bad_key)},
                        instance=instance, resources=resources, selection=dg.AssetSelection.checks(preview_coverage))
print("check alone:", [(e.partition, e.passed) for e in result.get_asset_check_evaluations()])
assert not result.get_asset_check_evaluations()[0].passed
# a clean partition made last
result = dg.materialize([preview_assets, preview_coverage], partition_key=good_key, instance=instance,
                        resources=resources)
print([(e.partition, e.passed) for e in result.get_asset_check_evaluations()])
"""


def _cells(instance: DemoInstance) -> tuple[str, str, str, list[str]]:
    """(program, failing instrument, clean instrument, preview names of the failing cell's files)."""
    program = instance.programs("proprietary")[0]
    cells = {i: files for (p, i), files in instance.cells().items() if p == program}
    bad, good = sorted(cells, key=lambda i: (len(cells[i]), i))[:2]
    stems = [f.rsplit("/", 1)[-1].removesuffix(".fits") for f in cells[bad]]
    return program, bad, good, [f"{s}_integ0.jpg" for s in stems]


def test_failing_partition_shows_on_the_asset_page(ui: Ui) -> None:
    from playwright.sync_api import expect

    program, bad, good, names = _cells(ui.instance)
    done = subprocess.run([sys.executable, "-c", SCRIPT, program, bad, good], input="\n".join(names), cwd=REPO,
                          env=ui.instance.env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"('{good}|{program}', True)" in done.stdout and f"('{bad}|{program}', False)" in done.stdout
    failing = f"{bad}|{program}"

    page = ui.page
    ui.goto("/assets/preview_images?view=checks")
    expect(page.get_by_text("Checks (1)", exact=True)).to_be_visible()
    # the check's status in the list and in its latest execution: failed, never passed
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    expect(page.get_by_text("Passed", exact=True)).to_have_count(0)
    # the latest execution names the failing partition (the clean one ran after it)
    latest = page.get_by_text(re.compile(rf"^{re.escape(failing)}: 1 file\(s\) without preview or failure record"))
    expect(latest.first).to_be_visible()
    expect(page.get_by_text(f"{good}|{program}", exact=True)).to_have_count(0)
    ui.shot("checks-tab-failing-partition-named")
