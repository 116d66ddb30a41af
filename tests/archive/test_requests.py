"""Which runs a tick asks for: bounded by instruments and spans of programs, keyed as the Contract says."""

from __future__ import annotations

import dagster as dg

from jwql_dagster.archive.changes import change_hash
from jwql_dagster.archive.requests import cell_key, plan_requests
from jwql_dagster.partitions import program_instrument_key, program_instrument_partitions


def test_a_cell_alone_is_a_run_of_its_partition_with_the_contract_key() -> None:
    changes = {("jw01068", "nircam"): ["a.fits,1,2"]}
    [request] = plan_requests(changes, {}, ["jw01068"], cells_per_run=200)
    assert request.single and request.key == f"nircam|jw01068|{change_hash(['a.fits,1,2'])}"
    assert cell_key("jw01068", "nircam") == str(program_instrument_key("jw01068", "nircam"))


def test_a_sparse_span_gets_one_range_of_programs_per_instrument_keyed_by_all_their_lines() -> None:
    order = [f"jw0{n}" for n in range(1000, 1010)]
    changes = {("jw01001", "miri"): ["a,1,1"], ("jw01004", "miri"): ["b,1,1"], ("jw01009", "miri"): ["c,1,1"],
               ("jw01004", "nircam"): ["d,1,1", "e,-1,-1"]}
    requests = plan_requests(changes, {}, order, cells_per_run=5)
    # jw01001..jw01004 x miri..nircam would be 8 cells for 3 changed ones: too sparse, and over 5
    assert [(r.instruments, r.first, r.last, r.cells, r.lines) for r in requests] == [
        (("miri", "miri"), "jw01001", "jw01004", (("jw01001", "miri"), ("jw01004", "miri")), 2),
        (("nircam", "nircam"), "jw01004", "jw01004", (("jw01004", "nircam"),), 2),
        (("miri", "miri"), "jw01009", "jw01009", (("jw01009", "miri"),), 1),
    ]
    assert requests[0].key == f"miri|jw01001..miri|jw01004|{change_hash(['a,1,1', 'b,1,1'])}"


def test_a_bulk_arrival_in_several_instruments_is_one_rectangle_run() -> None:
    """12 programs with NIRCam and MIRI files (the whole-archive benchmark): one run, not one per instrument."""
    order = [f"jw0{n}" for n in range(1000, 1012)]
    changes = {(p, inst): [f"{p}_{inst},1,1"] for p in order for inst in ("nircam", "miri")}
    [request] = plan_requests(changes, {}, order, cells_per_run=200)
    assert request.instruments == ("miri", "nircam") and (request.first, request.last) == ("jw01000", "jw01011")
    assert sorted(request.cells) == sorted(changes) and request.lines == 24
    assert request.key.startswith("miri|jw01000..nircam|jw01011|")
    # Dagster ranges each dimension of the rectangle on its own: exactly these 24 cells
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("program", order)
        keys = program_instrument_partitions.get_partition_keys_in_range(
            dg.PartitionKeyRange(request.start_key, request.end_key), dynamic_partitions_store=instance)
    assert sorted(str(k) for k in keys) == sorted(f"{i}|{p}" for p, i in changes)


def test_instruments_far_apart_with_nothing_between_are_not_joined() -> None:
    """FGS and NIRSpec of one program: a rectangle would add miri, nircam and niriss cells for nothing."""
    changes = {("jw01068", "fgs"): ["a,1,1"], ("jw01068", "nirspec"): ["b,1,1"]}
    requests = plan_requests(changes, {}, ["jw01068"], cells_per_run=200)
    assert [(r.instruments, r.single) for r in requests] == [(("fgs", "fgs"), True), (("nirspec", "nirspec"), True)]


def test_new_programs_come_after_the_instances_and_the_run_count_is_bounded() -> None:
    changes = {(f"jw0{n}", "nircam"): [f"f{n},1,1"] for n in range(3000, 3450)}
    changes[("jw01068", "nircam")] = ["g,1,1"]
    requests = plan_requests(changes, {}, ["jw09999", "jw01068"], cells_per_run=200)
    assert len(requests) == 3  # 451 cells of one instrument: ceil(452 positions / 200)
    assert requests[0].first == "jw01068" and requests[-1].last == "jw03449"
    assert sorted(c for r in requests for c in r.cells) == sorted(changes)


def test_a_cell_asked_for_again_gets_a_new_key() -> None:
    changes = {("jw01068", "nircam"): ["a.fits,1,2"]}
    first = plan_requests(changes, {}, [], 1)[0].key
    again = plan_requests(changes, {("jw01068", "nircam"): 2}, [], 1)[0].key
    assert again != first and again == f"nircam|jw01068|{change_hash(['a.fits,1,2', 'attempt,2'])}"
