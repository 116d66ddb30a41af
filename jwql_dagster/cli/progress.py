"""Progress display shared by long CLI commands (a tqdm bar on a terminal, periodic lines otherwise)."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap an iterable with a progress bar on stderr; quiet output stays readable in logs."""
    return iter(tqdm(items, total=total, desc=desc, file=sys.stderr, mininterval=0.5, dynamic_ncols=True))
