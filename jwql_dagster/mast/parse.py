"""Reading MAST's portal answers: pages merged, counts, keyword lists, observation characteristics.

Pure code, driven in the tests by recorded answers of the live service (tests/data/mast/).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from jwql_dagster.mast.errors import MastResponseError
from jwql_dagster.mast.queries import check_instrument, program_number


def parse_answers(answers: Sequence[Mapping[str, Any]], what: str) -> dict[str, Any]:
    """Merge the pages of one portal answer into ``{"fields": [...], "data": [...], "paging": {...}}``.

    Raises MastResponseError on an ERROR status or a shape that is not MAST's.
    """
    fields: list[dict[str, Any]] | None = None
    data: list[dict[str, Any]] = []
    paging: Mapping[str, Any] = {}
    for answer in answers:
        if not isinstance(answer, Mapping):
            raise MastResponseError(f"MAST answer to {what} is not a JSON object")
        status = answer.get("status")
        if status == "ERROR":
            raise MastResponseError(f"MAST reported an error for {what}: {answer.get('msg') or 'no message'}")
        if status != "COMPLETE":
            raise MastResponseError(f"MAST answer to {what} has status {status!r}, expected COMPLETE")
        page_fields, page_data = answer.get("fields"), answer.get("data")
        if not isinstance(page_fields, list) or not isinstance(page_data, list):
            raise MastResponseError(f"MAST answer to {what} lacks the 'fields'/'data' lists")
        fields = fields if fields is not None else page_fields
        data.extend(page_data)
        paging = answer.get("paging") or paging
    return {"fields": fields or [], "data": data, "paging": dict(paging)}


def parse_count(result: Mapping[str, Any], what: str) -> int:
    """The COUNT_BIG(*) value (``data[0]["Column1"]``; the live service types it ``string``)."""
    try:
        value = result["data"][0]["Column1"]
        return int(str(value).strip())
    except (KeyError, IndexError, TypeError, ValueError):
        raise MastResponseError(f"MAST answer to {what} holds no Column1 count") from None


def parse_keywords(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(keyword, dtype) of every field of the answer, as jwql's instrument_keywords."""
    out = []
    for f in result.get("fields", []):
        if isinstance(f, Mapping) and f.get("name"):
            out.append((str(f["name"]), str(f.get("type", ""))))
    return out


def observation_characteristics(rows: Iterable[Mapping[str, Any]], instrument: str) -> list[tuple[str, int]]:
    """(FILTER/PUPIL, observations using it), counting each combination once per (program, observation).

    Rows carry ``program`` (padded or not: ``1440`` and ``01440`` are one program), ``observtn``,
    ``filter`` and ``pupil`` / ``grating`` (MIRI: filter only). Sorted by combination name.
    """
    instrument = check_instrument(instrument)
    second = {"nircam": "pupil", "niriss": "pupil", "nirspec": "grating"}.get(instrument)
    per_obs: dict[tuple[Any, Any], set[str]] = {}
    for row in rows:
        filt = _text(row.get("filter"))
        combo = filt if second is None else f"{filt}/{_text(row.get(second))}"
        per_obs.setdefault((_program(row.get("program")), row.get("observtn")), set()).add(combo)
    counts: Counter[str] = Counter()
    for combos in per_obs.values():
        counts.update(combos)
    return sorted(counts.items())


def _program(value: Any) -> Any:
    try:
        return program_number(value)
    except ValueError:
        return value


def _text(value: Any) -> str:
    return "N/A" if value in (None, "") else str(value).upper()


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced by ``***`` (for messages that might echo a request)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
