"""The pages' Jinja2 templates, kept in Python so an installed package always has them.

Autoescaping is on for every template: file names, reasons and header values come from the
archive and may hold anything.
"""

from __future__ import annotations

import jinja2

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{% block title %}JWQL quicklook{% endblock %}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header { background: #1f2a44; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1.5rem; align-items: baseline; }
header a { color: #cfe0ff; text-decoration: none; } header a:hover { text-decoration: underline; }
header .brand { font-weight: 600; color: #fff; }
main { padding: 1rem 1.2rem; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: .8rem; }
.tile { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: .5rem; font-size: .8rem; }
.tile a { color: inherit; text-decoration: none; }
.square { width: 100%; aspect-ratio: 1 / 1; background: #0e1116; display: flex; align-items: center;
          justify-content: center; border-radius: 4px; overflow: hidden; color: #9aa4b2; }
.square img { width: 100%; height: 100%; object-fit: contain; }
.name { font-family: ui-monospace, monospace; word-break: break-all; margin-top: .35rem; }
.meta { color: #5b6573; }
.badge { display: inline-block; background: #c62828; color: #fff; border-radius: 3px; padding: 0 .35rem;
         font-size: .75rem; margin-top: .25rem; }
.badge.ok { background: #2e7d32; }
table { border-collapse: collapse; background: #fff; width: 100%; font-size: .85rem; }
th, td { border: 1px solid #d8dce3; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #eef1f5; }
td.mono { font-family: ui-monospace, monospace; word-break: break-all; }
form.pickers { display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; margin-bottom: .5rem; }
form.pickers label { display: flex; flex-direction: column; font-size: .8rem; color: #5b6573; }
.preview img { max-width: 100%; border: 1px solid #d8dce3; background: #fff; }
.row { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: flex-start; }
.muted { color: #5b6573; }
</style>
{% block head %}{% endblock %}
</head><body>
<header><a class="brand" href="/">JWQL quicklook</a><a href="/">Programs</a><a href="/failures">Failures</a>
<a href="/dashboards">Dashboards</a></header>
<main>{% block main %}{% endblock %}</main>
</body></html>
"""

PROGRAMS = """{% extends "base.html" %}
{% block main %}
<h1>Programs</h1>
{% if not programs %}<p class="muted">No program in the database yet: run <code>jwql-dagster materialize-all</code>
or let the file-arrival sensor find the archive.</p>{% endif %}
<div class="grid">
{% for p in programs %}
<div class="tile program"><a href="/programs/{{ p.program }}">
<div class="square">{% if p.program in with_thumbnail %}<img alt="{{ p.program }}" loading="lazy"
 src="/squares/{{ p.program }}/{{ p.program }}.jpg">{% else %}no thumbnail{% endif %}</div>
<div class="name">{{ p.program }}</div>
<div class="meta">{{ p.files }} files · {{ p.instruments|join(", ") or "no instrument" }}</div>
{% if p.failures %}<span class="badge">{{ p.failures }} failed</span>{% endif %}
</a></div>
{% endfor %}
</div>
{% endblock %}
"""

PROGRAM = """{% extends "base.html" %}
{% block title %}{{ g.program }} · JWQL quicklook{% endblock %}
{% block main %}
<h1>{{ g.program }} <span class="muted">· {{ g.shown }} of {{ g.total }} products</span></h1>
<form class="pickers" method="get">
{% for key, label in pickers %}
<label>{{ label }}<select name="{{ key }}" onchange="this.form.submit()">
<option value="">all</option>
{% for v in g.choices[key] %}<option value="{{ v }}"{% if selected.get(key) == v %} selected{% endif %}>{{ v }}</option>{% endfor %}
</select></label>
{% endfor %}
<noscript><button type="submit">filter</button></noscript>
</form>
{% for exposure, tiles in g.exposures %}
<section class="exposure"><h2>{{ exposure }}</h2>
<div class="grid">
{% for t in tiles %}
<div class="tile{% if t.failures %} failed{% endif %}" data-stem="{{ t.stem }}">
<a class="open"{% if t.linkable %} href="/files/{{ t.stem }}"{% endif %}>
<div class="square">{% if t.thumbnail or t.integrations %}<img alt="{{ t.stem }}" loading="lazy"
 src="/squares/{{ g.program }}/{{ t.stem }}_integ{{ 0 if t.thumbnail else t.integrations[0] }}.jpg">{% else %}no preview{% endif %}</div>
<div class="name">{{ t.stem }}</div></a>
<div class="meta">{{ t.suffix }} · {{ t.detector }}{% if t.filter %} · {{ t.filter }}{% endif %}{% if t.exp_type %} · {{ t.exp_type }}{% endif %}{% if t.date %} · {{ t.date }}{% endif %}</div>
{% if t.integrations|length > 1 %}<label class="meta">integration
<select class="integ" data-program="{{ g.program }}" data-stem="{{ t.stem }}">
{% for i in t.integrations %}<option value="{{ i }}">{{ i }}</option>{% endfor %}</select></label>{% endif %}
{% for reason in t.failures %}<div><span class="badge" title="{{ reason }}">failed</span> <span class="meta">{{ reason }}</span></div>{% endfor %}
</div>
{% endfor %}
</div></section>
{% else %}<p class="muted">Nothing matches these choices.</p>
{% endfor %}
<script>
document.querySelectorAll("select.integ").forEach(function (sel) {
  sel.addEventListener("change", function () {
    var tile = sel.closest(".tile"), img = tile.querySelector("img"), link = tile.querySelector("a.open");
    var i = sel.value, d = sel.dataset;
    if (img) { img.src = "/squares/" + d.program + "/" + d.stem + "_integ" + i + ".jpg"; }
    link.href = "/files/" + d.stem + "?integ=" + i;
  });
});
</script>
{% endblock %}
"""

FILE = """{% extends "base.html" %}
{% block title %}{{ stem }} · JWQL quicklook{% endblock %}
{% block head %}{{ bokeh_js|safe }}{% endblock %}
{% block main %}
<p><a href="/programs/{{ program }}">{{ program }}</a></p>
<h1 class="name">{{ stem }}</h1>
<form class="pickers" method="get">
{% if siblings|length > 1 %}<label>suffix<select onchange="location.href='/files/' + this.value">
{% for s in siblings %}<option value="{{ s.stem }}"{% if s.stem == stem %} selected{% endif %}>{{ s.suffix }}</option>{% endfor %}
</select></label>{% endif %}
{% if integrations|length > 1 %}<label>integration<select name="integ" onchange="this.form.submit()">
{% for i in integrations %}<option value="{{ i }}"{% if i == integration %} selected{% endif %}>{{ i }}</option>{% endfor %}
</select></label><noscript><button type="submit">show</button></noscript>{% endif %}
</form>
{% for line in failures %}<p><span class="badge">failed</span> {{ line.reason }}
<span class="muted">({{ line.products|join(", ") }}; last seen {{ line.last_seen.strftime("%Y-%m-%d %H:%M UTC") if line.last_seen else "" }})</span></p>{% endfor %}
<div class="row">
<div class="preview">{% if preview %}<img id="preview" alt="preview of {{ stem }}" src="/previews/{{ program }}/{{ preview }}">
{% else %}<p class="muted">No preview of integration {{ integration }}.</p>{% endif %}</div>
{% if header %}<table class="header"><tr><th colspan="2">header values</th></tr>
{% for k, v in header %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
</div>
<h2>Science frame</h2>
{% if bokeh_div %}<p class="muted">{{ facts.shape }} pixels{% if facts.step > 1 %}, every {{ facts.step }}th pixel shown
({{ facts.shown }}){% endif %}; hover for the value, drag the slider to change the colour range.</p>
{{ bokeh_div|safe }}{{ bokeh_script|safe }}
{% else %}<p class="muted" id="no-science">{{ science_problem }}</p>{% endif %}
{% endblock %}
"""

FAILURES = """{% extends "base.html" %}
{% block title %}Failures · JWQL quicklook{% endblock %}
{% block main %}
<h1>Failures <span class="muted">· {{ lines|length }}{% if q %} matching “{{ q }}”{% endif %}</span></h1>
<form method="get" class="pickers"><label>search file, program, instrument or reason
<input type="search" name="q" value="{{ q }}" size="40" autofocus></label><button type="submit">search</button></form>
{% if lines %}
<table class="failures"><tr><th>file</th><th>program</th><th>instrument</th><th>reason</th><th>products</th>
<th>first seen (UTC)</th><th>last seen (UTC)</th><th>run</th></tr>
{% for l in lines %}<tr>
<td class="mono">{% if l.stem in linkable %}<a href="/files/{{ l.stem }}">{{ l.filename }}</a>{% else %}{{ l.filename }}{% endif %}</td>
<td>{% if l.program %}<a href="/programs/{{ l.program }}">{{ l.program }}</a>{% endif %}</td>
<td>{{ l.instrument or "" }}</td><td>{{ l.reason }}</td><td>{{ l.products|join(", ") }}</td>
<td>{{ l.first_seen.strftime("%Y-%m-%d %H:%M:%S") if l.first_seen else "" }}</td>
<td>{{ l.last_seen.strftime("%Y-%m-%d %H:%M:%S") if l.last_seen else "" }}</td>
<td class="mono">{% if l.run_id and ui_url %}<a href="{{ ui_url }}/runs/{{ l.run_id }}">{{ l.run_id[:8] }}</a>{% else %}{{ (l.run_id or "")[:8] }}{% endif %}</td>
</tr>{% endfor %}</table>
{% else %}<p class="muted">No current failure{% if q %} matches “{{ q }}”{% endif %}.</p>{% endif %}
{% endblock %}
"""

DASHBOARDS = """{% extends "base.html" %}
{% block title %}Dashboards · JWQL quicklook{% endblock %}
{% block main %}
<h1>Dashboards</h1>
<table class="dashboards"><tr><th>dashboard</th><th>file</th><th>updated (UTC)</th></tr>
{% for d in dashboards %}<tr><td>{% if d.updated %}<a href="/outputs/{{ d.path }}">{{ d.title }}</a>{% else %}{{ d.title }}{% endif %}</td>
<td class="mono">{{ d.path }}</td><td>{{ d.updated or "not made yet" }}</td></tr>{% endfor %}</table>
{% endblock %}
"""

NOT_FOUND = """{% extends "base.html" %}
{% block title %}Not found · JWQL quicklook{% endblock %}
{% block main %}<h1>Not found</h1><p class="muted">{{ message }}</p>{% endblock %}
"""

TEMPLATES = {"base.html": BASE, "programs.html": PROGRAMS, "program.html": PROGRAM, "file.html": FILE,
             "failures.html": FAILURES, "dashboards.html": DASHBOARDS, "404.html": NOT_FOUND}


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
