"""A rendering process killed with SIGKILL leaves complete JPEGs or hidden temp files, never a truncated product."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from PIL import Image

from tests.plugins.fits import write_fits

SCRIPT = textwrap.dedent("""
    import sys
    from jwql_dagster.previews.worker import RenderTask, run_task
    src, prev, thumb = sys.argv[1:4]
    import glob
    files = sorted(glob.glob(src + "/*.fits"))
    n = 0
    while True:  # render again and again (overwriting) until killed
        for f in files:
            out = run_task(RenderTask("file", f.rsplit("/", 1)[-1], [f], prev, thumb))
            assert out.ok, out.reason
            n += 1
            if n == 3:
                print("ready", flush=True)
""")


def _complete_jpeg(path: Path) -> bool:
    data = path.read_bytes()
    if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\x00").endswith(b"\xff\xd9")):
        return False
    with Image.open(path) as im:
        im.load()
    return True


def test_kill_minus_9_leaves_no_partial_jpeg(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(4):
        # 512x512 keeps each write long enough to be interrupted now and then
        write_fits(src / f"jw01068001001_02102_0000{i + 1}_nrca1_rate.fits", "nrca1", "rate", size=512, seed=i)
    prev, thumb = tmp_path / "prev", tmp_path / "thumb"
    prev.mkdir()
    thumb.mkdir()
    script = tmp_path / "render_forever.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, MPLBACKEND="Agg")
    for delay in (0.05, 0.17, 0.33):
        proc = subprocess.Popen([sys.executable, str(script), str(src), str(prev), str(thumb)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=Path(__file__).parents[2])
        try:
            line = proc.stdout.readline()
            assert line.strip() == b"ready", proc.stderr.read().decode()[-2000:]
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        for folder, ext in ((prev, ".jpg"), (thumb, ".thumb")):
            for path in folder.iterdir():
                if path.name.startswith(".tmp-"):
                    continue  # an interrupted write stays a hidden temp file
                assert path.name.endswith(ext), path.name
                assert _complete_jpeg(path), f"truncated product {path.name}"
    assert len([p for p in prev.glob("*.jpg") if not p.name.startswith(".tmp-")]) == 4


RUN_SCRIPT = textwrap.dedent("""
    import sys
    import dagster as dg
    from jwql_dagster.config import load_settings
    from jwql_dagster.resources import build_resources
    from jwql_dagster.options import JwqlOptions
    from jwql_dagster.previews.assets import preview_assets
    from jwql_dagster.partitions import program_instrument_key

    def main():
        resources = build_resources(load_settings())
        resources["options"] = JwqlOptions(preview_workers=1)
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("program", ["jw01068"])
            while True:  # overwrite again and again until killed
                dg.materialize([preview_assets], partition_key=program_instrument_key("jw01068", "nircam"),
                               resources=resources, instance=instance,
                               run_config={"ops": {"preview_assets": {"config": {"overwrite": True}}}})
                print("ready", flush=True)

    if __name__ == "__main__":
        main()
""")


def test_killed_dagster_run_leaves_no_partial_jpeg(tmp_path: Path) -> None:
    home = tmp_path / "home"
    visit = home / "archive" / "public" / "jw01068" / "jw01068001001"
    for i in range(3):
        write_fits(visit / f"jw01068001001_02102_0000{i + 1}_nrca1_rate.fits", "nrca1", "rate", size=512, seed=i)
    script = tmp_path / "run_forever.py"
    script.write_text(RUN_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWQL_")}
    env.update(JWQL_HOME=str(home), DAGSTER_HOME=str(tmp_path / "dh"), MPLBACKEND="Agg")
    (tmp_path / "dh").mkdir()
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=Path(__file__).parents[2])
    seen: list[str] = []
    try:
        # Dagster logs to stderr: kill right after the second run's first file, i.e. while it renders the next one.
        for raw in proc.stderr:
            line = raw.decode(errors="replace")
            seen.append(line)
            if sum("] rendered " in x for x in seen) >= 4:
                break
        else:
            raise AssertionError("".join(seen)[-3000:])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    prev = home / "preview_images" / "jw01068"
    thumb = home / "thumbnails" / "jw01068"
    products = [p for folder in (prev, thumb) for p in folder.iterdir() if not p.name.startswith(".tmp-")]
    assert len(products) == 7  # 3 previews, 3 thumbnails and the proposal thumbnail of the first run
    for path in products:
        assert _complete_jpeg(path), f"truncated product {path.name}"


def test_a_dying_worker_fails_only_its_own_file() -> None:
    from jwql_dagster.previews.worker import RenderTask
    from jwql_dagster.previews.pool import execute_tasks
    from tests.plugins.render_fns import crash_or_succeed

    names = ["a", "b", "crash", "c", "d"]
    tasks = [RenderTask("file", n, [f"/x/{n}.fits"], "/tmp/p", None) for n in names]
    outcomes = {o.name: o for o in execute_tasks(tasks, 2, fn=crash_or_succeed)}
    assert set(outcomes) == set(names)
    assert [n for n, o in outcomes.items() if not o.ok] == ["crash"]
    assert outcomes["crash"].error_type == "WorkerDied"


def test_files_of_a_pool_broken_by_one_kill_render_again_in_parallel(tmp_path: Path) -> None:
    """A worker killed from outside (not by its file) costs no file, and the unfinished files render in a
    new pool of the same size, not one process each (issue 20's recovery on a slow machine)."""
    from jwql_dagster.previews.worker import RenderTask
    from jwql_dagster.previews.pool import execute_tasks
    from tests.plugins.render_fns import killed_once

    tasks = [RenderTask("file", f"f{i:02d}", [f"/x/f{i:02d}.fits"], str(tmp_path), None) for i in range(8)]
    outcomes = list(execute_tasks(tasks, 2, fn=killed_once))
    assert sorted(o.name for o in outcomes) == [t.name for t in tasks]
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    pids = {p.read_text() for p in tmp_path.glob("*.pid")}
    assert len(pids) <= 2, f"{len(pids)} processes rendered 8 files: the orphans were isolated one per process"


def test_closing_the_pool_early_does_not_render_every_queued_file(tmp_path: Path) -> None:
    """A terminated run (interrupt inside the generator) must not wait for all queued files to render."""
    from jwql_dagster.previews.worker import RenderTask
    from jwql_dagster.previews.pool import execute_tasks
    from tests.plugins.render_fns import slow_marker

    tasks = [RenderTask("file", f"f{i:02d}", [f"/x/f{i:02d}.fits"], str(tmp_path), None) for i in range(16)]
    gen = execute_tasks(tasks, 2, fn=slow_marker)
    next(gen)
    start = time.perf_counter()
    gen.close()
    elapsed = time.perf_counter() - start
    ran = len(list(tmp_path.glob("*.ran")))
    assert ran < 10, f"{ran} of 16 tasks ran after the generator was closed"
    assert elapsed < 3.0


PRELOAD_PROBE = textwrap.dedent("""
    import sys
    from jwql_dagster.previews.pool import PRELOAD, execute_tasks, warm_up
    from jwql_dagster.previews.worker import RenderOutcome

    def probe(task):
        # what the render process holds before its first file: the fork server's imports
        loaded = all(name in sys.modules for name in PRELOAD)
        return RenderOutcome("file", task, error_type=None if loaded else "NotPreloaded")

    if __name__ == "__main__":
        warm_up(2)
        outcomes = list(execute_tasks(["a.fits", "b.fits"], 2, fn=probe))
        print(sorted((o.name, o.error_type) for o in outcomes))
""")


def test_render_processes_start_with_the_renderer_already_imported(tmp_path: Path) -> None:
    """The fork server imports the renderer once; workers forked from it do not import it again on their first file."""
    script = tmp_path / "probe.py"
    script.write_text(PRELOAD_PROBE)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[('a.fits', None), ('b.fits', None)]"


FORKSERVER_PROBE = textwrap.dedent("""
    import os
    import time
    import dagster as dg
    from jwql_dagster.previews.resources import RenderPool

    def forkservers(wait=0.0):
        # a child just forked may not have exec'd its own command line yet: look again for up to ``wait`` s
        deadline = time.monotonic() + wait
        while True:
            pids = [p for t in os.listdir("/proc/self/task") for p in open(f"/proc/self/task/{t}/children").read().split()]
            found = sum("forkserver" in open(f"/proc/{p}/cmdline").read() for p in pids)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    before = forkservers()
    with dg.build_resources({"render_pool": RenderPool(workers=1)}):
        one = forkservers()
    with dg.build_resources({"render_pool": RenderPool(workers=2)}):
        two = forkservers(wait=10)
    print(before, one, two)
""")


def test_a_run_that_renders_starts_the_fork_server_with_its_resources(tmp_path: Path) -> None:
    """Initializing render_pool (Dagster does it before a run's first step) starts the fork server, so the
    renderer imports while archive_files runs; with one worker nothing is started."""
    script = tmp_path / "forkserver_probe.py"
    script.write_text(FORKSERVER_PROBE)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0", "1"]
