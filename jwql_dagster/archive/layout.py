"""The JWST archive's layout as data: the one answer to each question every monitor asks of it.

``<root>/{public,proprietary}/jwPPPPP/jw*/<file>.fits``: two areas, program folders named
``jw`` + five ASCII digits, visit (and stage-3 ``jwPPPPP-oNNN``) folders starting with ``jw``,
FITS files that are not hidden. The sensor's scan, the ``archive_files`` inventory, the
previews, the schedules and the CLI all import these names, so they cannot disagree on what
a program is, which instruments exist, or which copy of a file counts.
"""

from __future__ import annotations

import re
from typing import Iterable, Protocol, TypeVar

#: Lower-case JWST instrument names, sorted (jwql's JWST_INSTRUMENT_NAMES): the partition keys.
INSTRUMENTS: tuple[str, ...] = ("fgs", "miri", "nircam", "niriss", "nirspec")

#: The archive's areas, in the order listings walk them. A file released from its exclusive
#: access period moves from ``proprietary`` to ``public`` under the same name.
AREAS: tuple[str, ...] = ("public", "proprietary")
PUBLIC = "public"

PROGRAM_KEY_RE = re.compile(r"jw[0-9]{5}")  # fullmatch: no trailing newline, ASCII digits only


def is_program_key(name: str) -> bool:
    """True for an archive folder name that is a program (and partition key): ``jw`` + 5 ASCII digits."""
    return bool(PROGRAM_KEY_RE.fullmatch(name))


def is_visit_name(name: str) -> bool:
    """A folder inside a program that holds files: visits ``jwPPPPPOOOVVV`` and stage-3 ``jwPPPPP-oNNN``."""
    return name.startswith("jw")


def is_fits_name(name: str) -> bool:
    """A FITS file of the archive: ``*.fits``, not hidden (transfer temporaries start with a dot)."""
    return name.endswith(".fits") and not name.startswith(".")


class _Copy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def area(self) -> str: ...


C = TypeVar("C", bound=_Copy)


def preferred_copies(copies: Iterable[C]) -> list[C]:
    """One copy per file name, sorted by name: the public copy wins over a proprietary one.

    A name in both areas is a file mid-move (``mv`` keeps name, size and mtime, so the mtimes
    cannot tell the copies apart) or a leftover of one: public is where it is going, the copy
    a user may see, and the one the inventory's ``files`` row records. Within one area the
    first copy listed wins (a name is unique to its visit folder, so this only happens
    through links, which the listing already reduced).
    """
    by_name: dict[str, C] = {}
    for copy in copies:
        kept = by_name.get(copy.name)
        if kept is None or (copy.area == PUBLIC and kept.area != PUBLIC):
            by_name[copy.name] = copy
    return [by_name[n] for n in sorted(by_name)]
