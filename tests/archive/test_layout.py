"""The archive layout's single answers: instruments, program keys, and which copy of a file wins."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jwql_dagster.archive.layout import INSTRUMENTS, is_fits_name, is_program_key, preferred_copies
from jwql_dagster.partitions import instrument_partitions


@dataclass(frozen=True)
class Copy:
    name: str
    area: str
    mtime_ns: int = 0


def test_the_instrument_list_is_the_instrument_partition() -> None:
    assert list(INSTRUMENTS) == instrument_partitions.get_partition_keys()
    assert list(INSTRUMENTS) == sorted(set(INSTRUMENTS))


@pytest.mark.parametrize("name,ok", [("jw01068", True), ("jw0106\u0668", False), ("jw01068\n", False),
                                     ("JW01068", False), ("jw010680", False), ("jw1068", False)])
def test_program_key_is_jw_and_five_ascii_digits(name: str, ok: bool) -> None:
    assert is_program_key(name) is ok


def test_hidden_transfer_temporaries_are_not_fits_files() -> None:
    assert is_fits_name("jw01068001001_02101_00001_nrcb1_rate.fits")
    assert not is_fits_name(".jw01068001001_02101_00001_nrcb1_rate.fits")
    assert not is_fits_name("jw01068001001_02101_00001_nrcb1_rate.fits.part")


@pytest.mark.parametrize("order", ["proprietary_first", "public_first"])
def test_the_public_copy_wins_whatever_the_order_or_mtime(order: str) -> None:
    """Mid-move a name sits in both areas with the same mtime (mv keeps it); a stale proprietary leftover may
    even be newer. Either way the public copy is the one the inventory records and the previews render."""
    public = Copy("a_rate.fits", "public", mtime_ns=1)
    proprietary = Copy("a_rate.fits", "proprietary", mtime_ns=2)
    copies = [proprietary, public] if order == "proprietary_first" else [public, proprietary]
    assert preferred_copies(copies + [Copy("b_rate.fits", "proprietary")]) == [public, Copy("b_rate.fits", "proprietary")]
