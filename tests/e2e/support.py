"""The browser tests' view of the demo instance and of a browser page (used by conftest.py and the tests)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The UI's "new user" modal; it may show on any page of a fresh instance.
COMMUNITY_MODAL = "Join the Dagster community"


@dataclass
class DemoInstance:
    """The running `dagster dev` and the archive behind it."""

    url: str
    home: Path
    archive: Path
    truth: dict[str, Any] = field(repr=False)
    env: dict[str, str] = field(repr=False)
    log_path: Path

    def cells(self) -> dict[tuple[str, str], list[str]]:
        """(program, instrument) -> archive-relative paths of the synthetic files of that cell."""
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        for rel, rec in self.truth["files"].items():
            out[(rec["program"], rec["instrument"])].append(rel)
        return dict(out)

    def programs(self, area: str) -> list[str]:
        return [p["program"] for p in self.truth["programs"] if p["area"] == area]

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "step"


class Ui:
    """One browser page on the demo instance, with numbered screenshots of the test's steps."""

    def __init__(self, page: Any, instance: DemoInstance, out_dir: Path) -> None:
        self.page = page
        self.instance = instance
        self.out_dir = out_dir
        self._n = 0
        dialog = page.get_by_role("dialog").filter(has_text=COMMUNITY_MODAL)
        self._skip = dialog.get_by_role("button", name="Skip")
        # Runs before each action or assertion whenever the modal is up.
        page.add_locator_handler(self._skip, lambda: self._skip.click(), times=5)

    def goto(self, path: str) -> None:
        self.page.goto(self.instance.url + path, wait_until="domcontentloaded")

    def dismiss_modal(self) -> None:
        if self._skip.is_visible():
            self._skip.click()
            self._skip.wait_for(state="hidden", timeout=10_000)

    def shot(self, step: str) -> Path:
        self.dismiss_modal()
        self._n += 1
        path = self.out_dir / f"{self._n:02d}-{safe_name(step)}.png"
        self.page.screenshot(path=str(path), animations="disabled")  # dialogs fully open, not mid-fade
        return path


