"""The one factory of the resources dict tests run assets with: ``make_resources``.

Every test that materializes assets needs the same four resources the code location builds
(archive, db, mast, options); building them by hand in each test file drifted (roots named
differently, settings forgotten). ``make_resources`` builds them from the settings exactly as
the definitions do, then replaces the ones a test gives:

    make_resources(jwql_env, db=sqlite_db)                                  # real roots, test database
    make_resources(jwql_env, options=JwqlOptions(preview_workers=1))       # tuned options
    make_resources(db=jwql_db)                                             # settings from the environment
"""

from __future__ import annotations

from typing import Any


def make_resources(settings: Any = None, **replace: Any) -> dict[str, Any]:
    """Resources ``{"archive", "db", "mast", "options"}`` of ``settings`` (default: the environment's), some replaced.

    Keyword arguments replace whole resources by name; an unknown name is an error, so a typo
    cannot silently leave the real resource in place.
    """
    from jwql_dagster.config import load_settings
    from jwql_dagster.resources import build_resources

    resources = build_resources(settings if settings is not None else load_settings())
    unknown = set(replace) - set(resources)
    if unknown:
        raise KeyError(f"make_resources: no resource named {', '.join(sorted(unknown))} (have {', '.join(sorted(resources))})")
    resources.update(replace)
    return resources
