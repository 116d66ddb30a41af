"""`jwql-dagster materialize-all`: its plan (the asset graph's own order, partitioned work first, run-history
summaries last and alone), and the command as a user runs it after register-programs, as subprocesses with
JWQL_HOME/DAGSTER_HOME in tmp."""

import sqlite3
from pathlib import Path

import dagster as dg

from jwql_dagster.archive.layout import INSTRUMENTS

from jwql_dagster.cli.materialize_all import plan_batches, ranges
from tests.cli.support import cli, user_env

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


@dg.asset(group_name="work", partitions_def=PARTS)
def raw() -> None: ...


@dg.asset(group_name="work", partitions_def=PARTS, deps=[raw])
def derived() -> None: ...


@dg.asset(group_name="work", deps=[derived])
def summary() -> None: ...


@dg.asset(group_name="monitoring")
def monitor_status() -> None: ...


@dg.asset(group_name="monitoring", deps=[monitor_status])
def monitor_status_table() -> None: ...


@dg.asset(group_name="work")
def inventory() -> None: ...


def test_batches_follow_the_graph_and_put_history_summaries_last():
    graph = dg.Definitions(assets=[raw, derived, summary, monitor_status, monitor_status_table, inventory]).resolve_asset_graph()
    batches = plan_batches(graph, set(graph.materializable_asset_keys))
    labels = [b.label for b in batches]
    # parents before children within a batch; the unpartitioned summary after the partitions it reads;
    # the monitoring group after every other run, never in a run with them (it reads their finished runs)
    assert labels == ["raw, derived", "inventory, summary", "monitor_status, monitor_status_table"]
    assert batches[0].partitions_def == PARTS and batches[1].partitions_def is None


def test_a_selection_plans_only_its_assets():
    graph = dg.Definitions(assets=[raw, derived, summary, monitor_status, monitor_status_table, inventory]).resolve_asset_graph()
    batches = plan_batches(graph, {derived.key, monitor_status.key})
    assert [b.label for b in batches] == ["derived", "monitor_status"]


def test_ranges_cover_the_cells_with_files_in_dagsters_order_and_skip_bad_keys():
    order = ["jw00005", "jw00001", "jw00002", "jw1068", "jw00003", "jw00004", "jw00006"]  # Dagster's (insertion) order
    # From the first to the last wanted key, in that order; never across a hand-typed key.
    assert ranges(order, {"jw00001", "jw00004"}, None) == [("jw00001", "jw00001", 1), ("jw00004", "jw00004", 1)]
    assert ranges(order, {"jw00005", "jw00002", "jw00006"}, None) == [("jw00005", "jw00002", 2), ("jw00006", "jw00006", 1)]
    # At most per_run keys of the order per run.
    assert ranges(order, set(order), 2) == [("jw00005", "jw00001", 2), ("jw00002", "jw00002", 1),
                                           ("jw00003", "jw00004", 2), ("jw00006", "jw00006", 1)]
    assert ranges(order, set(), 200) == []


def test_register_programs_then_materialize_all_archive_files(small_archive, tmp_path: Path) -> None:
    env = user_env(tmp_path, small_archive.root)
    first = cli(env, "register-programs")
    assert first.returncode == 0, first.stderr
    assert f"added {len(small_archive.programs)} program partition(s): {', '.join(small_archive.programs)}" in first.stdout
    again = cli(env, "register-programs")
    assert "added 0 program partition(s)" in again.stdout

    done = cli(env, "materialize-all", "--select", "archive_files")
    assert done.returncode == 0, done.stdout + done.stderr
    combos = {(r["program"], r["instrument"]) for r in small_archive.truth["files"].values()}
    # Runs over ranges of cells as the file-arrival sensor groups them, not one per cell: here one dense
    # rectangle of instruments x programs (at most one run per instrument in any case).
    instruments = {i for _, i in combos}
    assert "summary: 1 succeeded, 0 failed" in done.stdout
    with sqlite3.connect(tmp_path / "home" / "jwql.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM files").fetchone()
        cells = set(conn.execute("SELECT DISTINCT program, instrument FROM files").fetchall())
    assert count >= len(small_archive.truth["files"])
    assert cells == combos  # every cell with files inventoried, none invented
    # The runs are in the instance the UI reads, each over a range of program x instrument cells.
    with dg.DagsterInstance.from_config(str(tmp_path / "home" / "dagster_home")) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"jwql/launched_by": "materialize-all"}))
    assert len(runs) == 1
    [run] = runs
    (first_instrument, first), (last_instrument, last) = (
        run.tags[f"dagster/asset_partition_range_{end}"].split("|") for end in ("start", "end"))
    order = INSTRUMENTS[INSTRUMENTS.index(first_instrument):INSTRUMENTS.index(last_instrument) + 1]
    assert instruments <= set(order) and first == min(small_archive.programs) and last == max(small_archive.programs)
    # A fresh instance got its default dagster.yaml: no "no dagster.yaml" warning.
    assert (tmp_path / "home" / "dagster_home" / "dagster.yaml").is_file()
    assert "dagster.yaml" not in done.stderr


def test_materialize_all_reports_failures_and_exits_1(small_archive, tmp_path: Path) -> None:
    env = user_env(tmp_path, small_archive.root)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    env["JWQL_DATABASE_URL"] = f"sqlite:///{blocker}/jwql.db"  # its folder cannot be created
    assert cli(env, "register-programs").returncode == 0
    out = cli(env, "materialize-all", "--select", "archive_files")
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "0 succeeded" in out.stdout
    assert "cannot use database" in out.stdout


def test_materialize_all_rejects_unknown_selection(tmp_path: Path) -> None:
    env = user_env(tmp_path, tmp_path)
    out = cli(env, "materialize-all", "--select", "no_such_thing", "--dry-run")
    assert out.returncode != 0 and "unknown group or asset no_such_thing" in (out.stdout + out.stderr)


def test_previews_make_program_products_and_their_runs_are_not_repeated(tmp_path: Path) -> None:
    """One run renders both instruments of both programs and makes each program's proposal thumbnail and gallery;
    the products batch then finds them made by this command and starts no run (issue 17: few runs)."""
    from tests.plugins.fits import write_fits

    root = tmp_path / "archive"
    for program, det in (("jw04000", "nrca1"), ("jw04000", "nis"), ("jw04001", "nrca1"), ("jw04001", "nis")):
        kind = "02101_00001" if det == "nis" else "02102_00001"
        write_fits(root / "public" / program / f"{program}001001" / f"{program}001001_{kind}_{det}_rate.fits", det, "rate")
    env = user_env(tmp_path, root)
    assert cli(env, "register-programs").returncode == 0
    done = cli(env, "materialize-all", "--select", "previews")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[nircam|jw04000..niriss|jw04001] (4 with files) ok" in done.stdout  # one run for all four cells
    assert "preview_gallery, proposal_thumbnail[jw04000..jw04001] (2 with files) already made" in done.stdout
    home = tmp_path / "home"
    for program in ("jw04000", "jw04001"):
        assert (home / "thumbnails" / program / f"{program}.thumb").is_file()
        assert (home / "outputs" / "previews" / program / "index.html").is_file()
    # asked for on their own, the products are made again: "already made" only counts this command's runs
    again = cli(env, "materialize-all", "--select", "proposal_thumbnail")
    assert again.returncode == 0 and "summary: 1 succeeded" in again.stdout and "already made" not in again.stdout
