"""Every module of the package imports on this Python (syntax, stdlib and the pinned wheels).

Part of the ``compat`` set that ``make test`` runs on each other supported Python (see the Makefile):
the rest of the suite may touch only some modules, this one loads all of them. It runs in a fresh
interpreter, so what the modules import at load time (Celery, the web app, Dagster) stays out of
the test process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jwql_dagster"
# Scripts run by another program's loader, not importable on their own: Alembic runs env.py inside a
# migration context (tests/db/test_migrate.py, also in the compat set, runs it that way).
RUN_BY_LOADER = {"jwql_dagster.db.migrations.env"}

_IMPORT_ALL = textwrap.dedent("""
    import importlib, json, sys, traceback

    failures = {}
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - every failure is the finding
            failures[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    print(json.dumps({"file": sys.modules["jwql_dagster"].__file__, "failures": failures}))
""")


def package_modules(root: Path = PACKAGE) -> list[str]:
    """Dotted names of every module of the package, read from the files (not from what imports)."""
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return [n for n in names if n not in RUN_BY_LOADER]


def test_package_modules_are_found() -> None:
    names = package_modules()
    assert "jwql_dagster" in names and "jwql_dagster.definitions" in names and "jwql_dagster.cli" in names
    assert len(names) > 50, names
    for name in RUN_BY_LOADER:  # an exception that names no file any more is stale
        assert (PACKAGE.parent / (name.replace(".", "/") + ".py")).is_file(), name


def test_every_module_of_the_package_imports(tmp_path: Path) -> None:
    names = package_modules()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWQL_", "DAGSTER_"))}
    env.update(JWQL_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(tmp_path / "home" / "dagster_home"),
               MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", _IMPORT_ALL, json.dumps(names)], capture_output=True, text=True,
                          env=env, cwd=str(PACKAGE.parent), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(PACKAGE.resolve()), result["file"]
    assert not result["failures"], "\n".join(f"{n}: {e}" for n, e in result["failures"].items())
