"""The jinja2 environment of the generated HTML pages (filesystem dashboard, cron status table).

Compiled on first use and cached per template text: jinja2 loads in the steps that write a page,
not in every process that imports the code location (issue 17.2).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


@functools.cache
def page_template(source: str) -> jinja2.Template:
    """``source`` as an autoescaped template; an undefined variable raises instead of rendering empty."""
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(source)
