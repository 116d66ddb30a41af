"""The package layout of issue 16, guarded by reading the source (ast) of every module in jwql_dagster/.

Why: the one-folder-per-monitor layout only helps a maintainer while its rules hold. A single
``import dagster`` in a pure module, or a sensor importing another monitor's assets, ties the
monitors back together without any behaviour test noticing. Each test names the module, the
line and the rule it breaks.

Rules (docs/architecture.md, /work/shared/ARCHITECTURE.md):
- inside a monitor folder, only modules named assets/checks/jobs/resources/schedules/sensors
  (the wiring) import Dagster; every other module imports and loads without it;
- wiring never imports another monitor's wiring;
- sensors and schedules import jobs modules, never an assets module (not even their own);
- SQL lives in db/: no module outside db/ imports an SQL library;
- no module over 400 lines.

Imports are read at any depth (inside functions, under ``if TYPE_CHECKING:``, in try blocks) and
include ``importlib.import_module("...")``/``__import__("...")`` with a literal name; in a module
that calls ``import_module``, every string constant that is a dotted ``jwql_dagster.`` name counts
too (the definitions module keeps its module names in a tuple).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jwql_dagster"

MONITORS = ("archive", "previews", "filesystem", "mast", "monitoring", "failures", "web", "demo")
WIRING = ("assets", "checks", "jobs", "resources", "schedules", "sensors")
MAX_LINES = 400
SQL_LIBRARIES = ("sqlalchemy", "alembic", "sqlite3", "psycopg2", "psycopg")

# Monitor-folder modules outside the wiring that may import Dagster, with the reason.
# Empty today: web/ and demo/ load without Dagster (the web app reads the jwql database and
# the output roots; the demo fabricates files and a MAST server).
DAGSTER_EXCEPTIONS: dict[str, str] = {}

# Wiring modules any monitor's wiring may import, with the reason.
CROSS_WIRING_EXCEPTIONS: dict[str, str] = {
    "jwql_dagster.archive.resources": (
        "ArchiveFilesystem is the one resource holding the archive root and the output roots; every "
        "monitor's assets receive it and Dagster injects a resource by the parameter's annotated class, "
        "so the class is imported wherever an asset, check or schedule takes `archive` (shared like "
        "db.resources.JwqlDatabase, not another monitor's graph)"
    ),
}

# Modules outside db/ that may import an SQL library, with the reason.
SQL_EXCEPTIONS: dict[str, str] = {
    "jwql_dagster.config": (
        "parses and masks database URLs with SQLAlchemy's URL parser (sa.make_url, "
        "render_as_string(hide_password=True), issue 16.3); it runs no SQL"
    ),
}


@dataclass(frozen=True)
class Import:
    """One imported name: the dotted module (or module.attribute) and the line importing it."""

    target: str
    line: int


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. jwql_dagster.previews.assets
    path: Path
    root: Path
    lines: int
    imports: tuple[Import, ...]

    @property
    def rel(self) -> str:
        return self.path.relative_to(self.root.parent).as_posix()

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.name.split("."))

    @property
    def monitor(self) -> str | None:
        """The monitor folder holding this module, or None (top level, db/, cli/)."""
        p = self.parts
        return p[1] if len(p) >= 3 and p[1] in MONITORS else None

    @property
    def is_wiring(self) -> bool:
        return self.monitor is not None and self.parts[2] in WIRING

    @property
    def is_pure(self) -> bool:
        return self.monitor is not None and not self.is_wiring


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_MODULE_STRING = re.compile(r"^jwql_dagster(\.\w+)+$")  # a dotted name of ours, not a word like a logger name


def _imports(tree: ast.Module, name: str, is_package: bool) -> list[Import]:
    found: list[Import] = []
    calls_import_module = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append(Import(base, node.lineno))
            # `from pkg import mod` imports pkg.mod when mod is a module; listing pkg.name for every
            # name is harmless (an attribute only matches a rule when its prefix already does).
            found += [Import(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if called in ("import_module", "__import__"):
                calls_import_module = True
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.append(Import(node.args[0].value, node.lineno))
    if calls_import_module:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.match(node.value):
                found.append(Import(node.value, node.lineno))
    return found


@lru_cache(maxsize=None)
def modules(root: Path = PACKAGE) -> tuple[Module, ...]:
    """Every module of the package, parsed."""
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = module_name(path, root)
        tree = ast.parse(text, filename=str(path))
        out.append(Module(name, path, root, len(text.splitlines()), tuple(_imports(tree, name, path.name == "__init__.py"))))
    return tuple(out)


def _top(target: str) -> str:
    return target.split(".")[0]


def _is_dagster(target: str) -> bool:
    top = _top(target)
    return top == "dagster" or top.startswith("dagster_")


def _wiring_of(target: str) -> tuple[str, str] | None:
    """(monitor, wiring module name) when ``target`` is, or is inside, a monitor's wiring module."""
    parts = target.split(".")
    if len(parts) >= 3 and parts[0] == "jwql_dagster" and parts[1] in MONITORS and parts[2] in WIRING:
        return parts[1], ".".join(parts[:3])
    return None


def _report(violations: list[str], rule: str) -> str:
    return f"{len(violations)} module(s) break the rule: {rule}\n  " + "\n  ".join(violations)


# ---------------------------------------------------------------------------------------------
# The rules, each a function of the parsed modules, so the same check can be shown to fail on a
# scratch copy of the package (see test_rules_catch_an_offending_import).


def dagster_in_pure_modules(mods: tuple[Module, ...]) -> list[str]:
    out = []
    for m in mods:
        if not m.is_pure or m.name in DAGSTER_EXCEPTIONS:
            continue
        for imp in sorted({(i.line, _top(i.target)) for i in m.imports if _is_dagster(i.target)}):
            out.append(f"{m.rel}:{imp[0]} ({m.name}) imports {imp[1]} but is not wiring "
                       f"(only {'/'.join(WIRING)} modules of a monitor import Dagster)")
    return out


def cross_monitor_wiring(mods: tuple[Module, ...]) -> list[str]:
    out = []
    for m in mods:
        if not m.is_wiring:
            continue
        seen = set()
        for imp in m.imports:
            wiring = _wiring_of(imp.target)
            if wiring is None or wiring[0] == m.monitor or wiring[1] in CROSS_WIRING_EXCEPTIONS:
                continue
            if (imp.line, wiring[1]) not in seen:
                seen.add((imp.line, wiring[1]))
                out.append(f"{m.rel}:{imp.line} ({m.name}) imports {wiring[1]}, another monitor's wiring "
                           f"(import its pure modules, db/, partitions, config or metadata instead)")
    return out


def sensors_schedules_import_assets(mods: tuple[Module, ...]) -> list[str]:
    out = []
    for m in mods:
        if m.parts[-1] not in ("sensors", "schedules"):
            continue
        seen = set()
        for imp in m.imports:
            parts = imp.target.split(".")
            if parts[0] != "jwql_dagster" or "assets" not in parts[1:]:
                continue
            assets_module = ".".join(parts[: parts.index("assets", 1) + 1])
            if (imp.line, assets_module) not in seen:
                seen.add((imp.line, assets_module))
                out.append(f"{m.rel}:{imp.line} ({m.name}) imports {assets_module}: sensors and schedules "
                           f"import the jobs module, never an assets module")
    return out


def sql_outside_db(mods: tuple[Module, ...]) -> list[str]:
    out = []
    for m in mods:
        if m.parts[:2] == ("jwql_dagster", "db") or m.name in SQL_EXCEPTIONS:
            continue
        for line, lib in sorted({(i.line, _top(i.target)) for i in m.imports if _top(i.target) in SQL_LIBRARIES}):
            out.append(f"{m.rel}:{line} ({m.name}) imports {lib}: SQL lives in db/ "
                       f"(call a db/ function, or name the module in SQL_EXCEPTIONS with the reason)")
    return out


def long_modules(mods: tuple[Module, ...]) -> list[str]:
    return [f"{m.rel} ({m.name}) has {m.lines} lines > {MAX_LINES}: split it along its own seams"
            for m in mods if m.lines > MAX_LINES]


# ---------------------------------------------------------------------------------------------


def test_package_is_found_and_parsed() -> None:
    """The rules below read every module; an empty or partial walk would make them pass vacuously."""
    mods = modules()
    names = {m.name for m in mods}
    assert len(mods) > 50, f"only {len(mods)} modules found under {PACKAGE}"
    for monitor in ("archive", "previews", "filesystem", "mast", "monitoring"):
        assert f"jwql_dagster.{monitor}.assets" in names, f"no assets module found in {monitor}/"
    assert any(m.is_pure for m in mods) and any(m.is_wiring for m in mods)
    assert any(_is_dagster(i.target) for m in mods for i in m.imports), "no Dagster import found anywhere"


def test_pure_modules_import_no_dagster() -> None:
    violations = dagster_in_pure_modules(modules())
    assert not violations, _report(violations, "a monitor's pure module imports no Dagster")


def test_wiring_imports_no_other_monitors_wiring() -> None:
    violations = cross_monitor_wiring(modules())
    assert not violations, _report(violations, "wiring never imports another monitor's wiring")


def test_sensors_and_schedules_import_no_assets_module() -> None:
    violations = sensors_schedules_import_assets(modules())
    assert not violations, _report(violations, "sensors and schedules import no assets module")


def test_sql_libraries_only_in_db() -> None:
    violations = sql_outside_db(modules())
    assert not violations, _report(violations, "SQL lives in db/")


def test_no_module_over_400_lines() -> None:
    violations = long_modules(modules())
    assert not violations, _report(violations, f"no module over {MAX_LINES} lines")


def test_named_exceptions_still_apply() -> None:
    """An exception whose module no longer needs it is removed, so the lists only name real needs."""
    by_name = {m.name: m for m in modules()}
    stale = []
    for name in DAGSTER_EXCEPTIONS:
        m = by_name.get(name)
        if m is None or not m.is_pure or not any(_is_dagster(i.target) for i in m.imports):
            stale.append(f"DAGSTER_EXCEPTIONS names {name}, which is not a pure module importing Dagster")
    for name in CROSS_WIRING_EXCEPTIONS:
        users = [m.name for m in modules() if m.is_wiring and m.monitor != name.split(".")[1]
                 and any((_wiring_of(i.target) or ("", ""))[1] == name for i in m.imports)]
        if name not in by_name or not users:
            stale.append(f"CROSS_WIRING_EXCEPTIONS names {name}, which no other monitor's wiring imports")
    for name in SQL_EXCEPTIONS:
        m = by_name.get(name)
        if m is None or not any(_top(i.target) in SQL_LIBRARIES for i in m.imports):
            stale.append(f"SQL_EXCEPTIONS names {name}, which imports no SQL library")
    assert not stale, "\n".join(stale)


_BLOCKED_IMPORT = textwrap.dedent("""
    import importlib, importlib.abc, json, sys, traceback

    class BlockDagster(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "dagster" or name.startswith(("dagster.", "dagster_")):
                raise ImportError(f"blocked import of {name!r}")
            return None

    sys.meta_path.insert(0, BlockDagster())
    sys.modules["dagster"] = None
    package_parent, names = sys.argv[1], json.loads(sys.argv[2])
    sys.path.insert(0, package_parent)
    try:
        import dagster  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the Dagster block does not hold")
    import jwql_dagster
    failures = {"__file__": jwql_dagster.__file__}
    for name in names:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            chain = [f.filename for f in traceback.extract_tb(exc.__traceback__)]
            failures[name] = {"error": f"{type(exc).__name__}: {exc}", "files": chain}
    loaded = sorted(m for m in sys.modules if m == "dagster" or m.startswith(("dagster.", "dagster_"))
                    if sys.modules[m] is not None)
    failures["__dagster_loaded__"] = loaded
    print(json.dumps(failures))
""")


def pure_modules_needing_dagster(root: Path = PACKAGE) -> list[str]:
    """Import every pure module in a fresh interpreter where any Dagster import raises ImportError."""
    names = [m.name for m in modules(root) if m.is_pure and m.name not in DAGSTER_EXCEPTIONS]
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-c", _BLOCKED_IMPORT, str(root.parent), json.dumps(names)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=str(root.parent))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded_from = Path(result.pop("__file__")).resolve()
    assert loaded_from.is_relative_to(root.resolve()), f"imported {loaded_from}, not the package under {root}"
    assert result.pop("__dagster_loaded__") == [], "Dagster got loaded despite the block"
    out = []
    for name, failure in sorted(result.items()):
        ours = [module_name(Path(f), root) for f in failure["files"] if Path(f).resolve().is_relative_to(root.resolve())]
        via = " -> ".join(dict.fromkeys(ours)) or name
        out.append(f"{name} does not import without Dagster: {failure['error']} (import chain: {via})")
    return out


@pytest.mark.slow
def test_pure_modules_load_without_dagster() -> None:
    """The static rule checks direct imports; this proves no pure module reaches Dagster indirectly."""
    violations = pure_modules_needing_dagster()
    assert not violations, _report(violations, "a monitor's pure module loads without Dagster")


# ---------------------------------------------------------------------------------------------
# The rules can fail: a small package with one offender per rule, each found by file and line.

_OFFENDERS = {
    "__init__.py": "",
    "config.py": "import sqlalchemy as sa\n",
    "archive/__init__.py": "",
    "archive/layout.py": "INSTRUMENTS = ('nircam',)\n",
    "archive/resources.py": "import dagster as dg\n",
    "archive/assets.py": "import dagster as dg\n",
    "previews/__init__.py": "",
    "previews/render.py": "def draw():\n    import dagster as dg\n    return dg\n",
    "previews/plan.py": "from jwql_dagster.archive.resources import *\n",
    "previews/assets.py": "from jwql_dagster.archive.resources import ArchiveFilesystem\nfrom jwql_dagster.archive import layout\n",
    "previews/sensors.py": "import dagster\nfrom jwql_dagster.archive import assets\n",
    "previews/schedules.py": "from jwql_dagster.previews.assets import layout\n",
    "web/__init__.py": "",
    "web/app.py": "import importlib\n\ndef load():\n    return importlib.import_module('dagster_celery')\n",
    "mast/__init__.py": "",
    "mast/client.py": "try:\n    from sqlalchemy import exc\nexcept ImportError:\n    exc = None\n",
    "mast/long.py": "x = 1\n" * (MAX_LINES + 1),
    "definitions.py": "import importlib\nNAMES = ('jwql_dagster.archive.assets',)\nimportlib.import_module(NAMES[0])\n",
}


@pytest.fixture
def offending_package(tmp_path: Path) -> Path:
    root = tmp_path / "jwql_dagster"
    for rel, text in _OFFENDERS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_rules_catch_an_offending_import(offending_package: Path) -> None:
    mods = modules(offending_package)
    assert dagster_in_pure_modules(mods) == [
        "jwql_dagster/previews/render.py:2 (jwql_dagster.previews.render) imports dagster but is not wiring "
        "(only assets/checks/jobs/resources/schedules/sensors modules of a monitor import Dagster)",
        "jwql_dagster/web/app.py:4 (jwql_dagster.web.app) imports dagster_celery but is not wiring "
        "(only assets/checks/jobs/resources/schedules/sensors modules of a monitor import Dagster)",
    ]
    cross = cross_monitor_wiring(mods)
    assert [v.split(" (")[0] + " " + v.split(" imports ")[1].split(",")[0] for v in cross] == [
        "jwql_dagster/previews/sensors.py:2 jwql_dagster.archive.assets"]  # archive.resources is a named exception
    assert [v.split(" (")[0] for v in sensors_schedules_import_assets(mods)] == [
        "jwql_dagster/previews/schedules.py:1", "jwql_dagster/previews/sensors.py:2"]
    assert [v.split(" (")[0] for v in sql_outside_db(mods)] == ["jwql_dagster/mast/client.py:2"]  # config: exception
    assert [v.split(" (")[0] for v in long_modules(mods)] == ["jwql_dagster/mast/long.py"]
    by_name = {m.name: m for m in mods}
    assert Import("jwql_dagster.archive.assets", 2) in by_name["jwql_dagster.definitions"].imports


def test_blocked_dagster_import_catches_an_indirect_one(offending_package: Path) -> None:
    """previews.plan imports no Dagster itself, only archive.resources, which does."""
    failures = pure_modules_needing_dagster(offending_package)
    assert [f.split(" does not")[0] for f in failures] == ["jwql_dagster.previews.plan"]
    assert re.search(r"ImportError|ModuleNotFoundError", failures[0]) and "of dagster" in failures[0], failures[0]
    assert "jwql_dagster.previews.plan -> jwql_dagster.archive.resources" in failures[0]
