"""`jwql-dagster doctor`: print the resolved configuration and check that everything it names works."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable

from jwql_dagster.config import Settings, load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "doctor",
        help="print the resolved configuration (secrets masked) and check roots, database and MAST",
        description="Print every setting with where it came from, then check the archive root, output roots, database and MAST.",
    )
    p.add_argument("--no-network", action="store_true", help="skip the MAST reachability check")
    p.set_defaults(func=run)


def check_roots(settings: Settings) -> list[tuple[bool, str]]:
    """The archive must be readable; output roots must be writable (or creatable)."""
    results: list[tuple[bool, str]] = []
    fs = settings.filesystem
    if not fs.is_dir():
        results.append((False, f"archive root {fs} does not exist (set JWQL_FILESYSTEM or run `jwql-dagster make-archive {fs}`)"))
    elif not os.access(fs, os.R_OK | os.X_OK):
        results.append((False, f"archive root {fs} is not readable"))
    else:
        areas = [a for a in ("public", "proprietary") if (fs / a).is_dir()]
        ok = bool(areas)
        msg = f"archive root {fs} readable; areas: {', '.join(areas) or 'none (expected public/ and proprietary/)'}"
        results.append((ok, msg))
    for name, root in {**settings.output_roots, "log_root": settings.log_root, "dagster_home": settings.dagster_home}.items():
        results.append(_writable(name, root, must_write=name != "log_root"))
    return results


def _writable(name: str, root: Path, must_write: bool) -> tuple[bool, str]:
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if root.exists() and not root.is_dir():
        return False, f"{name} {root} exists but is not a folder"
    if not must_write:
        if root.is_dir():
            return os.access(root, os.R_OK | os.X_OK), f"{name} {root} (read)"
        return True, f"{name} {root} does not exist yet (legacy logs are optional)"
    ok = os.access(probe, os.W_OK | os.X_OK)
    state = "writable" if root.exists() else f"will be created under {probe}"
    return ok, f"{name} {root} {state if ok else 'is not writable'}"


def check_program_partitions(settings: Settings) -> tuple[bool, str]:
    """Program partitions of the instance that are not ``jw`` + five digits, with the command that deletes them."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    if not (home / "dagster.yaml").is_file() and not (home / "history").is_dir():
        return True, f"program partitions: no Dagster instance at {home} yet"
    import dagster as dg

    from jwql_dagster.cli.register_programs import invalid_program_keys

    with dg.DagsterInstance.from_config(str(home)) as instance:
        invalid = invalid_program_keys(instance)
    if not invalid:
        return True, f"program partitions of {home}: every key is jw + five digits"
    return False, (f"program partitions of {home}: {len(invalid)} key(s) are not jw + five digits: "
                   f"{', '.join(map(repr, invalid))}; their runs fail. Delete them with "
                   f"`DAGSTER_HOME={home} jwql-dagster register-programs --remove-invalid`")


def run(args: argparse.Namespace) -> int:
    settings = load_settings()
    print("jwql-dagster configuration" + (f" (config file {settings.config_file})" if settings.config_file else ""))
    shown = settings.masked()
    width = max(len(k) for k in shown)
    for key, value in shown.items():
        print(f"  {key:<{width}}  {value}  [{settings.sources.get(key, '-')}]")
    print("checks")
    results = check_roots(settings)
    from jwql_dagster.db.health import check_database  # imported here: --help stays instant
    from jwql_dagster.mast.resources import check_mast

    checks: list[tuple[str, Callable[[Settings], tuple[bool, str]]]] = [
        ("database", check_database), ("program partitions", check_program_partitions),
    ]
    if not args.no_network:
        checks.append(("MAST", check_mast))
    for label, check in checks:
        try:
            results.append(check(settings))
        except Exception as exc:  # a check must report, never crash the doctor
            results.append((False, f"{label} check failed: {type(exc).__name__}: {exc}"))
    if args.no_network:
        results.append((True, "MAST check skipped (--no-network)"))
    failed = 0
    for ok, message in results:
        failed += not ok
        print(f"  [{'ok' if ok else 'FAIL'}] {message}")
    print("all checks passed" if not failed else f"{failed} check(s) failed")
    return 0 if not failed else 1
