"""Loading the code location stays cheap: heavy libraries load only in the code that uses them.

Every run worker, step process and code server imports ``jwql_dagster.definitions`` before it does
anything (issue 17.2). Plotting, tables, the HTTP and Celery stacks, FITS I/O and migrations are each
needed by a few steps only, so none of them may be loaded by the import itself. The probe runs in a
fresh interpreter and names, for each offender, the chain of our modules (file:line) that pulled it
in. Wall time is not asserted here (it belongs in benchmarks); which modules load is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jwql_dagster"

# Top-level packages the code location must not load at import time (each is imported inside the
# function, resource method or step that needs it).
HEAVY = (
    "matplotlib", "pandas", "bokeh", "astroquery", "numpy", "astropy", "PIL",
    "alembic", "mako", "celery", "kombu", "dagster_celery", "jinja2", "requests",
    # SQLAlchemy (about 0.2 s), its ORM and our table models load with the first session or query; the
    # sensors catch database errors through db.errors.database_errors(), which imports it only then.
    "sqlalchemy", "jwql_dagster.db.models", "jwql_dagster.db.migrate", "jwql_dagster.db.engine",
)

_PROBE = textwrap.dedent("""
    import importlib, importlib.abc, json, sys

    target, heavy, ours = sys.argv[1], set(json.loads(sys.argv[2])), sys.argv[3]
    first = {}

    class RecordImporter(importlib.abc.MetaPathFinder):
        # Finds nothing itself; notes who asked for each heavy package the first time it is imported.
        def find_spec(self, name, path=None, target=None):
            top = name if name in heavy else name.partition(".")[0]
            if top in heavy and top not in first:
                chain, frame = [], sys._getframe(1)
                while frame is not None:
                    mod = frame.f_globals.get("__name__", "")
                    if mod == ours or mod.startswith(ours + "."):
                        where = f"{mod} ({frame.f_code.co_filename}:{frame.f_lineno})"
                        if not chain or not chain[-1].startswith(mod + " "):
                            chain.append(where)
                    frame = frame.f_back
                first[top] = {"module": name, "chain": chain[::-1]}
            return None

    sys.meta_path.insert(0, RecordImporter())
    importlib.import_module(target)
    pkg = sys.modules[ours]
    loaded = {top: first.get(top, {"module": top, "chain": []}) for top in sorted(heavy) if top in sys.modules}
    print(json.dumps({"file": pkg.__file__, "loaded": loaded}))
""")


def _python(args: list[str], package: Path) -> subprocess.CompletedProcess[str]:
    """``python *args`` in a fresh interpreter that finds ``package`` first (cwd is its parent)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=str(package.parent))


def heavy_imports(target: str, heavy: tuple[str, ...] = HEAVY, package: Path = PACKAGE) -> dict[str, dict]:
    """Import ``target`` (a module of ``package``) in a fresh interpreter; the heavy packages it loaded, each with its import chain."""
    proc = _python(["-W", "ignore", "-c", _PROBE, target, json.dumps(list(heavy)), package.name], package)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    loaded_from = Path(result["file"]).resolve()
    assert loaded_from.is_relative_to(package.resolve()), f"imported {loaded_from}, not the package under {package}"
    return result["loaded"]


def _report(loaded: dict[str, dict]) -> str:
    lines = []
    for top, info in sorted(loaded.items()):
        via = " -> ".join(info["chain"]) or "no jwql_dagster frame (Dagster itself, or a .pth hook)"
        lines.append(f"{top} (first as {info['module']}) loaded via: {via}")
    return ("importing the code location loads libraries only some steps use; import them inside the "
            "function that needs them:\n  " + "\n  ".join(lines))


def test_definitions_import_loads_no_heavy_library() -> None:
    loaded = heavy_imports("jwql_dagster.definitions")
    assert not loaded, _report(loaded)


def test_definitions_import_prints_no_warning() -> None:
    """With Python's default warning filters, as a person starting ``dagster dev`` sees them: each warning
    would greet every code server and run worker (Dagster's BetaWarning for backfill_policy, say)."""
    proc = _python(["-c", "import jwql_dagster.definitions"], PACKAGE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr


def test_probe_names_the_offender_and_its_import_chain(tmp_path: Path) -> None:
    """The probe can fail: a heavy import two modules deep is found, with each module and line on the way."""
    pkg = tmp_path / "fake_location"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "definitions.py").write_text("import json\nfrom fake_location import helper\n")
    (pkg / "helper.py").write_text("import os\n\nimport jinja2\n")
    loaded = heavy_imports("fake_location.definitions", heavy=("jinja2", "bokeh"), package=pkg)
    assert set(loaded) == {"jinja2"}
    chain = loaded["jinja2"]["chain"]
    assert [c.split(" ", 1)[0] for c in chain] == ["fake_location.definitions", "fake_location.helper"], chain
    assert chain[0].endswith("definitions.py:2)") and chain[1].endswith("helper.py:3)"), chain
    report = _report(loaded)
    assert "jinja2" in report and "fake_location.helper" in report
