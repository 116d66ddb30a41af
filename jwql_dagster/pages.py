"""The generated HTML pages (filesystem dashboard, cron status table): their common frame and jinja2 environment.

Compiled on first use and cached per template text: jinja2 loads in the steps that write a page,
not in every process that imports the code location (issue 17.2).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jinja2


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
{{ resources }}
<style>body { font-family: sans-serif; margin: 1.5em; } .meta { color: #555; }</style>
</head>
<body>
<h1>{{ title }}</h1>
%s
{{ div }}
{{ script }}
</body>
</html>
"""


def bokeh_page(intro: str) -> str:
    """Template text of a titled page around one bokeh layout (``resources``, ``div``, ``script`` from
    ``bokeh.embed.components``), with ``intro`` (template text itself) between the title and the plots."""
    return _PAGE % intro


@functools.cache
def page_template(source: str) -> jinja2.Template:
    """``source`` as an autoescaped template; an undefined variable raises instead of rendering empty."""
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(source)
