"""The render pool: a run's render tasks spread over worker processes, and what their outcomes say.

Pure code (no Dagster). A run renders on every core it is given through its own process
pool, so the parallelism of rendering never depends on how Dagster runs steps or runs.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterator, Sequence

from jwql_dagster.previews.plan import MOSAIC_PRODUCT, PRODUCT
from jwql_dagster.previews.worker import RenderOutcome, RenderTask, run_task

if TYPE_CHECKING:
    from jwql_dagster.previews.plan import SourceFile


#: What every render process needs (numpy, astropy, Pillow, the renderer, the mosaic maker): the fork
#: server imports them once, so each worker forked from it starts with them instead of importing them
#: again on its first file, on every core at once, beside the run's own process.
PRELOAD = ("jwql_dagster.previews.render", "jwql_dagster.previews.mosaic", "jwql_dagster.previews.frame")


def _pool_context() -> multiprocessing.context.BaseContext:
    """forkserver where available (no fork of a threaded Dagster process), else spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))  # read when the server starts; later calls change nothing
    return ctx


def warm_up(workers: int) -> None:
    """Start the fork server now, so it imports the renderer while the run plans its cells (a no-op for
    one worker, without forkserver, or when it already runs)."""
    if workers <= 1 or multiprocessing.current_process().daemon:
        return
    ctx = _pool_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def execute_tasks(
    tasks: Sequence[RenderTask], workers: int, fn: Callable[[RenderTask], RenderOutcome] = run_task
) -> Iterator[RenderOutcome]:
    """Yield outcomes as tasks finish: in this process for one worker, else in a process pool.

    A worker that dies (killed, out of memory, a crash in a C library) breaks the whole pool,
    and every unfinished task with it. Those tasks get one more pool of the same size: a kill
    from outside (the OOM killer, an operator) does not come back, so they render at full speed.
    Only tasks whose second pool broke too are then run one per fresh process, so a file that
    crashes its worker every time ends up as the only failure record and the others are rendered.
    """
    # Daemonic processes (e.g. some Celery worker pools) may not start children: render in-process there.
    if workers <= 1 or len(tasks) <= 1 or multiprocessing.current_process().daemon:
        for task in tasks:
            yield fn(task)
        return
    ctx = _pool_context()
    orphans = yield from _pooled(tasks, workers, ctx, fn)
    if orphans:
        orphans = yield from _pooled(orphans, workers, ctx, fn)
    for task in orphans:  # isolate: one process per task, so a crash takes only its own file
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as single:
            try:
                yield single.submit(fn, task).result()
            except BrokenProcessPool as exc:
                yield RenderOutcome(task.kind, task.name, error_type="WorkerDied",
                                    reason=f"the rendering process died ({exc or 'killed or out of memory'})")


def _pooled(tasks: Sequence[RenderTask], workers: int, ctx: multiprocessing.context.BaseContext,
            fn: Callable[[RenderTask], RenderOutcome]) -> Generator[RenderOutcome, None, list[RenderTask]]:
    """Yield the outcomes of one pool over ``tasks``; return the tasks a broken pool left unfinished."""
    if not tasks:
        return []
    orphans: list[RenderTask] = []
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        futures: dict[Future[RenderOutcome], RenderTask] = {pool.submit(fn, t): t for t in tasks}
        not_done = set(futures)
        try:
            while not_done:
                done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        orphans.append(futures[fut])
        except BaseException:
            # Terminated run (interrupt) or a consumer that stopped early: drop the queued files
            # instead of rendering all of them before the pool's exit returns.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return orphans


def progress_line(i: int, n: int, outcome: RenderOutcome) -> str:
    """``[3/12] rendered <file> -> 1 preview, 1 thumbnail (0.12 s)``; mosaics show their NRC_*_MOSAIC name."""
    if outcome.ok:
        np_, nt = len(outcome.previews), len(outcome.thumbnails)
        return (f"[{i}/{n}] rendered {outcome.name} -> {np_} preview{'s' if np_ != 1 else ''}, "
                f"{nt} thumbnail{'s' if nt != 1 else ''} ({outcome.seconds:.2f} s)")
    return f"[{i}/{n}] failed {outcome.name}: {outcome.error_type}: {outcome.reason} ({outcome.seconds:.2f} s)"


def progress_due(i: int, n: int, outcome: RenderOutcome) -> bool:
    """Whether outcome ``i`` of ``n`` gets a log line: every failure, every file of a small run, and for a
    large one about every tenth and the last (each line is an event the run stores, at a few ms each)."""
    return not outcome.ok or n <= 20 or i == n or i % max(1, n // 10) == 0


def product_of(outcome: RenderOutcome) -> str:
    """The file_failures.product of a task's outcome."""
    return MOSAIC_PRODUCT if outcome.kind == "mosaic" else PRODUCT


def failure_rows(failed: Sequence[tuple[RenderOutcome, Sequence[SourceFile]]]) -> list[dict[str, Any]]:
    """file_failures rows of failed tasks (a file's row keeps its path; a mosaic's has none)."""
    return [{
        "filename": outcome.name,
        "product": product_of(outcome),
        "path": members[0].path if (members and outcome.kind != "mosaic") else None,
        "reason": outcome.reason or "unknown error",
        "error_type": outcome.error_type or "Error",
    } for outcome, members in failed]
