"""Browser tests of the Dagster UI: one `dagster dev` on a small demo archive for the package, driven by Chromium.

The package fixture ``dagster_ui`` builds a synthetic archive (2 programs, small), registers
its programs, records the file inventory (``archive_files``) of every cell, starts
``dagster dev`` on a free port with its own DAGSTER_HOME/JWQL_HOME under a temporary folder,
waits until the code location is loaded and always stops the whole process group at the end.
The ``ui`` fixture gives each test a fresh browser page that dismisses the "Join the Dagster
community" modal whenever it shows, and saves numbered screenshots under
``test-output/e2e/<test>/``.

Without Chromium (``/usr/bin/chromium``) or Playwright the tests are skipped, except with
``CI=true``, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e.support import COMMUNITY_MODAL, DemoInstance, Ui, safe_name

REPO = Path(__file__).resolve().parents[2]
OUTPUT_ROOT = REPO / "test-output" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 240  # dagster dev: webserver, daemon and code server on a busy 2-core machine
SENSOR_SETTINGS = {"JWQL_SENSOR_SETTLE_SECONDS": "1", "JWQL_SENSOR_INTERVAL_SECONDS": "2"}


def _missing_prerequisite() -> str | None:
    chromium = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return f"Chromium not found at {chromium} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "python playwright is not installed (pip install -e '.[test]')"
    return None


def _require_browser() -> str:
    """The Chromium path; skips the test (fails it on CI) when Chromium or Playwright is missing."""
    problem = _missing_prerequisite()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run on CI: {problem}")
        pytest.skip(problem)
    return os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str) -> list[str]:
    """The `jwql-dagster` command line run by this interpreter (works without the venv's bin on PATH)."""
    return [sys.executable, "-c", "import sys; from jwql_dagster.cli import main; sys.exit(main())", *args]


def _run(cmd: list[str], env: dict[str, str], what: str, timeout: float = 180) -> str:
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


def _graphql(url: str, query: str, timeout: float = 10) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _wait_until_loaded(url: str, proc: subprocess.Popen, log_path: Path) -> None:
    """Until the webserver answers and the `jwql` code location is loaded (or fail with the log)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode}:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as resp:
                resp.read()
            entries = _graphql(url, LOCATIONS_QUERY)["data"]["workspaceOrError"].get("locationEntries", [])
            states = {e["name"]: e for e in entries}
            entry = states.get("jwql")
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"] or {}
                if loaded.get("__typename") == "PythonError":
                    raise RuntimeError(f"code location jwql failed to load: {loaded.get('message')}")
                if loaded.get("__typename") == "RepositoryLocation":
                    return
            last = f"locations: {[(n, e['loadStatus']) for n, e in states.items()]}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, json.JSONDecodeError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(1)
    raise RuntimeError(f"dagster dev not ready after {STARTUP_TIMEOUT_S} s ({last}):\n"
                       f"{log_path.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C for dagster dev (it stops its webserver, daemon and code server), then SIGKILL whatever of
    its process group is left (runs, stuck children), so nothing outlives the session."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture(scope="package")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoInstance]:
    """A `dagster dev` on a fresh demo archive; stopped (whole process group) after the package's last test,
    so its webserver, daemon and code server do not poll on through the later (timed) production tests."""
    _require_browser()
    home = tmp_path_factory.mktemp("e2e-home")
    archive = home / "archive"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    # Telemetry off (no internet here). Two runs at a time keep the 2-core machine responsive.
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 2\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JWQL_", "DAGSTER_")) and k not in ("MAST_API_URL", "MAST_API_TOKEN")}
    env.update(
        JWQL_HOME=str(home),
        DAGSTER_HOME=str(dagster_home),
        JWQL_PREVIEW_WORKERS="1",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        **SENSOR_SETTINGS,
    )
    _run(_cli("make-archive", str(archive), "--programs", "2", "--size", "small", "--seed", "1"), env, "make-archive")
    _run(_cli("register-programs"), env, "register-programs")
    _run([sys.executable, "-m", "tests.e2e.seed"], env, "recording archive_files of every cell")
    truth = json.loads((archive / "synthetic_truth.json").read_text())

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = home / "dagster-dev.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        _wait_until_loaded(url, proc, log_path)
        yield DemoInstance(url=url, home=home, archive=archive, truth=truth, env=env, log_path=log_path)
    finally:
        _stop(proc)


def _skip_community_modal(browser: Any, instance: DemoInstance) -> None:
    """Dismiss the "Join the Dagster community" modal once, as a user of a fresh instance would.

    Skip is recorded by the instance (``$DAGSTER_HOME/.nux``), so the tests' pages do not get the
    modal popping up over a dialog mid-test; each page still has a handler for it, just in case.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    out_dir = OUTPUT_ROOT / "session"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{instance.url}/asset-groups", wait_until="domcontentloaded")
        skip = page.get_by_role("dialog").filter(has_text=COMMUNITY_MODAL).get_by_role("button", name="Skip")
        try:
            skip.wait_for(timeout=20_000)
        except PlaywrightTimeout:  # not shown (nux disabled or already seen): nothing to do
            return
        page.screenshot(path=str(out_dir / "01-community-modal.png"), animations="disabled")
        skip.click()
        skip.wait_for(state="hidden")
        page.screenshot(path=str(out_dir / "02-community-modal-skipped.png"), animations="disabled")
    finally:
        context.close()


@pytest.fixture(scope="package")
def chromium_browser() -> Iterator[Any]:
    """One Chromium for every browser test of this package, stopped when the package's last test ends.

    Playwright's sync API runs an event loop in this thread while it is started: a second
    ``sync_playwright()`` would refuse to start, and ``asyncio.run`` in later test packages
    (the quicklook page tests) would fail, so it lives exactly as long as tests/e2e.
    """
    chromium = _require_browser()
    from playwright.sync_api import expect, sync_playwright

    # Assertions retry for up to 20 s (Playwright's default is 5 s): pages of a busy 2-core machine load slowly.
    expect.set_options(timeout=20_000)

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="package")
def browser(chromium_browser: Any, dagster_ui: DemoInstance) -> Iterator[Any]:
    """The shared Chromium, after the Dagster UI's first-visit dialog was dealt with."""
    _skip_community_modal(chromium_browser, dagster_ui)
    yield chromium_browser


@pytest.fixture(scope="session")
def shared() -> dict[str, Any]:
    """State handed from one test to the next (e.g. the run a test launched), when both run."""
    return {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def ui(browser: Any, dagster_ui: DemoInstance, request: pytest.FixtureRequest) -> Iterator[Ui]:
    """A fresh page (new browser context) for one test; screenshots go to test-output/e2e/<test>/."""
    out_dir = OUTPUT_ROOT / safe_name(request.node.name)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    helper = Ui(page, dagster_ui, out_dir)
    try:
        yield helper
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            try:
                page.screenshot(path=str(out_dir / "failure.png"))
            except Exception:  # the page may be gone; the report has the error anyway
                pass
            sys.stderr.write(f"\n--- dagster dev log (tail) ---\n{dagster_ui.log_tail()}\n")
        context.close()
