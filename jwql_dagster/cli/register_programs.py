"""`jwql-dagster register-programs`: add the archive's program folders as `program` partitions of the instance."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "register-programs",
        help="add program partitions (jw01068 ...) found in the archive to the Dagster instance",
        description="List the program folders of public/ and proprietary/ under JWQL_FILESYSTEM and add the ones the "
        "instance at DAGSTER_HOME does not know yet as `program` partitions. Existing keys are never removed.",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would be added, change nothing")
    p.add_argument("--remove-invalid", action="store_true",
                   help="also delete program partitions that are not jw + five digits (typed by hand in the UI's "
                        "\"Add a partition\"; `jwql-dagster doctor` lists them)")
    p.set_defaults(func=run)


def invalid_program_keys(instance: object) -> list[str]:
    """Program partition keys of the instance that no archive folder can have (not ``jw`` + five digits).

    The UI's "Add a partition" accepts any text; such a key makes a partition whose runs fail
    (archive_files refuses it) and that every program x instrument view shows as missing.
    """
    from jwql_dagster.archive.layout import is_program_key
    from jwql_dagster.partitions import program_partitions

    return sorted(k for k in instance.get_dynamic_partitions(program_partitions.name) if not is_program_key(k))


def run(args: argparse.Namespace) -> int:
    import dagster as dg

    from jwql_dagster.config import ensure_dagster_home, load_settings
    from jwql_dagster.partitions import program_partitions
    from jwql_dagster.resources import build_resources

    settings = load_settings()
    if not settings.filesystem.is_dir():
        print(f"register-programs: archive root {settings.filesystem} does not exist (set JWQL_FILESYSTEM)", file=sys.stderr)
        return 1
    home = ensure_dagster_home(settings)
    programs = build_resources(settings)["archive"].programs()
    with dg.DagsterInstance.get() as instance:
        name = program_partitions.name
        known = set(instance.get_dynamic_partitions(name))
        new = [p for p in programs if p not in known]
        if new and not args.dry_run:
            instance.add_dynamic_partitions(name, new)
        invalid = invalid_program_keys(instance) if args.remove_invalid else []
        if not args.dry_run:
            for key in invalid:
                instance.delete_dynamic_partition(name, key)
    verb = "would add" if args.dry_run else "added"
    print(f"archive {settings.filesystem}: {len(programs)} program(s); instance {home}: {len(known)} already registered")
    print(f"{verb} {len(new)} program partition(s)" + (": " + ", ".join(new) if new else ""))
    if args.remove_invalid:
        verb = "would remove" if args.dry_run else "removed"
        print(f"{verb} {len(invalid)} invalid program partition(s) (not jw + five digits)"
              + (": " + ", ".join(map(repr, invalid)) if invalid else ""))
    return 0
