# ruff: noqa: E501 - HTML markup reads better unwrapped than split at 110 columns
"""The viewer's HTML templates (Jinja2, autoescaped: every candidate, prompt and feedback is hostile text).

One base layout serves the live web app and the self-contained report; `live` adds only the polling that
reloads a page while its run is in progress. The page's script records any error of its own on the root
element (`data-js-errors`) and marks itself finished (`data-js-ready`), so a headless browser test can tell
that the page ran cleanly without a browser driver.
"""

BASE = """<!doctype html>
<html lang="en" data-live="{{ 1 if live else 0 }}"
{%- if poll %} data-poll="{{ poll }}" data-fingerprint="{{ fingerprint }}"{% endif %}>
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<title>{{ title }}</title>
<script nonce="{{ nonce }}">
window.addEventListener("error", function (e) {
  var root = document.documentElement;
  root.setAttribute("data-js-errors", (root.getAttribute("data-js-errors") || "") + String(e.message) + "\\n");
});
</script>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1em; }
th, td { border-bottom: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; white-space: pre-wrap; margin: .3em 0; }
pre.diff span { display: block; }
.add { background: #e6ffec; } .del { background: #ffebe9; } .hunk { color: #6a737d; }
.st-ok { color: #2e7d32; } .st-fail { color: #ef6c00; } .st-invalid { color: #6a1b9a; }
.st-timeout { color: #1565c0; } .st-error { color: #c62828; }
.heldout { border: 2px solid #1565c0; padding: .5em 1em; margin: .5em 0; }
.muted { color: #777; } .badge { padding: 0 .4em; border-radius: 3px; background: #eee; }
.running { background: #fff3cd; }
details > summary { cursor: pointer; }
section.problem { border-top: 3px solid #444; margin-top: 2em; }
</style>
</head>
<body>
{% block body %}{% endblock %}
<p class="muted">assay {{ generated }}{% if live %} · refreshes while a run is in progress{% endif %}</p>
<script nonce="{{ nonce }}">
(function () {
  var filter = document.getElementById("status-filter");
  if (filter) {
    filter.addEventListener("change", function () {
      var want = filter.value;
      document.querySelectorAll("tr.cand").forEach(function (row) {
        row.hidden = want !== "" && row.getAttribute("data-status") !== want;
      });
    });
  }
  var root = document.documentElement;
  var poll = root.getAttribute("data-poll");
  if (root.getAttribute("data-live") === "1" && poll) {
    var seen = root.getAttribute("data-fingerprint");
    setInterval(function () {
      fetch(poll).then(function (r) { return r.json(); }).then(function (d) {
        if (d.fingerprint !== seen) { location.reload(); }
      }).catch(function () {});
    }, 2000);
  }
  root.setAttribute("data-js-ready", "1");
})();
</script>
</body>
</html>
"""

RUNS = """{% extends "base" %}{% block body %}
<h1>assay runs</h1>
<p class="muted">{{ db }} · {{ total }} run(s){% if total > runs|length %}, showing {{ offset + 1 }}-{{ offset + runs|length }}{% endif %}</p>
<table id="runs">
<tr><th>run</th><th>status</th><th>task</th><th>model</th><th>strategy</th><th>date</th><th>duration</th>
<th>calls</th><th>tokens</th><th>cost $</th><th>best</th><th>held-out</th></tr>
{% for r in runs %}
<tr class="run{% if r.run.status == 'running' %} running{% endif %}">
<td><a href="run/{{ r.run.id }}">{{ r.run.id }}</a></td><td>{{ r.run.status }}</td><td>{{ r.run.task }}</td>
<td>{{ r.run.config.get('model') }}</td><td>{{ r.run.config.get('strategy') }}</td>
<td>{{ r.run.created|date }}</td><td class="num">{{ r.totals.duration_s|duration }}</td>
<td class="num">{{ r.totals.calls }}</td><td class="num">{{ r.totals.tokens }}</td>
<td class="num">{{ '%.4f'|format(r.totals.cost_usd) }}</td><td class="num">{{ r.totals.best_score|score }}</td>
<td>{% if r.totals.held_out_total %}{{ r.totals.held_out_passed }}/{{ r.totals.held_out_total }}{% else %}-{% endif %}</td>
</tr>
{% endfor %}
</table>
{% if offset > 0 %}<a href="?offset={{ [offset - limit, 0]|max }}&limit={{ limit }}">newer</a>{% endif %}
{% if offset + runs|length < total %}<a href="?offset={{ offset + limit }}&limit={{ limit }}">older</a>{% endif %}
{% if benches %}<h2>Benches</h2>
<table id="benches"><tr><th>bench</th><th>started</th><th>cells</th></tr>
{% for b in benches %}<tr class="bench"><td><a href="bench/{{ b[0] }}">{{ b[0] }}</a></td><td>{{ b[1]|date }}</td>
<td class="num">{{ b[2] }}</td></tr>{% endfor %}</table>{% endif %}
{% endblock %}"""

BENCH = """{% extends "base" %}{% block body %}
{% if live %}<p><a href="../">all runs</a> · <a href="{{ s.bench_id }}/report.html">download report</a></p>{% endif %}
<h1>bench {{ s.bench_id }} <span class="badge">{{ 'complete' if s.complete else 'incomplete' }}</span></h1>
<p class="muted">Each cell is one run of a task with a strategy and a seed, all at the same budget. The score is
the held-out result (the search's best where a task has none); ± is the half-width of a 95% Student-t interval
over the seeds.</p>
<table id="bench-rows"><tr><th>task</th><th>strategy</th><th>runs</th><th>score mean</th><th>± 95% CI</th>
<th>std</th><th>source</th><th>reached threshold</th><th>calls to threshold</th><th>seconds to threshold</th>
<th>calls</th><th>cost $</th><th>seconds / run</th></tr>
{% for r in s.rows %}<tr class="bench-row"><td>{{ r.task }}</td><td>{{ r.strategy }}</td>
<td class="num">{{ r.finished }}/{{ r.seeds }}</td><td class="num">{{ r.score.mean|score }}</td>
<td class="num">{{ r.score.ci95|score }}</td><td class="num">{{ r.score.std|score }}</td><td>{{ r.score_source }}</td>
<td class="num">{% if r.threshold is not none %}{{ r.reached }}/{{ r.searches }} ≥ {{ r.threshold|score }}{% else %}-{% endif %}</td>
<td class="num">{{ r.calls_to_threshold.mean|score }}</td><td class="num">{{ r.seconds_to_threshold.mean|score }}</td>
<td class="num">{{ r.calls.mean|score }}</td>
<td class="num">{% if not r.cost_known %}unknown{% elif r.cost_usd.mean is not none %}{{ '%.4f'|format(r.cost_usd.mean) }}{% else %}-{% endif %}</td>
<td class="num">{{ r.seconds.mean|score }}</td></tr>{% endfor %}</table>
{% for plot in plots %}<div class="plot">{{ plot|safe }}</div>{% endfor %}
<h2>Cells</h2>
<table id="bench-cells"><tr><th>task</th><th>strategy</th><th>seed</th><th>run</th><th>status</th><th>score</th>
<th>calls</th><th>tokens</th><th>cost $</th><th>seconds</th><th>error</th></tr>
{% for c in s.cells %}<tr class="cell"><td>{{ c.task }}</td><td>{{ c.strategy }}</td><td class="num">{{ c.seed }}</td>
<td>{% if c.run_id and live %}<a href="../run/{{ c.run_id }}">{{ c.run_id }}</a>{% else %}{{ c.run_id or '-' }}{% endif %}</td>
<td>{{ c.status }}</td><td class="num">{{ c.score|score }}</td><td class="num">{{ c.calls }}</td>
<td class="num">{{ c.tokens }}</td><td class="num">{{ '%.4f'|format(c.cost_usd) if c.cost_known else 'unknown' }}</td>
<td class="num">{{ c.seconds|duration }}</td><td>{{ c.error or '' }}</td></tr>{% endfor %}</table>
{% endblock %}"""

RUN = """{% extends "base" %}{% block body %}
{% if live %}<p><a href="../">all runs</a> · <a href="{{ v.run.id }}/report.html">download report</a></p>{% endif %}
<h1>run {{ v.run.id }} <span class="badge">{{ v.run.status }}</span></h1>
<table id="summary">
<tr><th>task</th><td>{{ v.run.task }}</td><th>model</th><td>{{ v.model }}</td><th>strategy</th><td>{{ v.strategy }}</td></tr>
<tr><th>date</th><td>{{ v.run.created|date }}</td><th>duration</th><td>{{ v.totals.duration_s|duration }}</td>
<th>calls</th><td>{{ v.totals.calls }}</td></tr>
<tr><th>tokens</th><td>{{ v.totals.tokens }}</td><th>cost $</th><td>{{ '%.4f'|format(v.totals.cost_usd) }}</td>
<th>best (search)</th><td>{{ v.totals.best_score|score }}</td></tr>
</table>
<h2>Held-out result</h2>
<div class="heldout" id="heldout">
<p class="muted">The held-out check is never shown to the model; it is reported apart from the search's scores.</p>
<table><tr><th>problem</th><th>search best</th><th>held-out status</th><th>held-out score</th><th>held-out feedback</th></tr>
{% for p in v.problems %}<tr><td>{{ p.key }}</td><td>{{ p.best_score|score }}</td>
{% if p.held_out %}<td class="st-{{ p.held_out.status.value }}">{{ p.held_out.status.value }}</td>
<td>{{ p.held_out.score|score }}</td><td>{{ p.held_out.feedback }}</td>
{% else %}<td colspan="3" class="muted">{{ 'pending' if p.status == 'running' else 'none' }}</td>{% endif %}</tr>
{% endfor %}</table></div>
<h2>Cost per model</h2>
<table id="costs"><tr><th>model</th><th>calls</th><th>tokens</th><th>cost $</th></tr>
{% for c in v.costs %}<tr><td>{{ c.model }}</td><td class="num">{{ c.calls }}</td><td class="num">{{ c.tokens }}</td>
<td class="num">{{ '%.4f'|format(c.cost_usd) }}</td></tr>{% endfor %}</table>
<details><summary>configuration</summary><pre>{{ v.config|tojson(indent=2) }}</pre></details>
{% if v.notes %}<details><summary>{{ v.notes|length }} store note(s)</summary><pre>{{ v.notes|join('\\n') }}</pre></details>{% endif %}
{% if v.problems %}<p>Show candidates with status <select id="status-filter"><option value="">any</option>
{% for s in ['ok', 'fail', 'invalid', 'timeout', 'error'] %}<option>{{ s }}</option>{% endfor %}</select></p>{% endif %}
{% for p in v.problems %}{% set pi = loop.index %}
<section class="problem" id="problem-{{ pi }}">
<h2>{{ p.key }} <span class="badge">{{ p.status }}</span></h2>
<p>best {{ p.best_score|score }} ({{ p.best_status or '-' }}) · stopped: {{ p.stop_reason or '-' }}
{% if p.stop_detail %}— {{ p.stop_detail }}{% endif %} · {{ p.elapsed_s|duration }} · {{ p.calls }} calls ·
{{ p.tokens }} tokens · ${{ '%.4f'|format(p.cost_usd) }}</p>
{% if p.statement %}<details><summary>problem statement</summary><pre>{{ p.statement }}</pre></details>{% endif %}
{% if plots[pi - 1].score %}<div class="plot">{{ plots[pi - 1].score|safe }}</div>{% endif %}
{% if plots[pi - 1].status %}<h3>Verdict statuses</h3><div class="plot">{{ plots[pi - 1].status|safe }}</div>{% endif %}
<table class="mix"><tr>{% for s, n in p.status_mix|dictsort %}<td class="st-{{ s }}">{{ s }}: {{ n }}</td>{% endfor %}</tr></table>
<h3>Lineage of the best candidate</h3>
{% if not p.lineage %}<p class="muted">no scored candidate yet</p>{% endif %}
<ol class="lineage">{% for step in p.lineage %}<li>
<b>{{ step.candidate.label }}</b> score {{ step.candidate.verdict.score|score }}
<span class="st-{{ step.candidate.verdict.status.value }}">{{ step.candidate.verdict.status.value }}</span>
{% if step.parent %}
<div>feedback on {{ step.parent.label }} that led to it:</div><pre>{{ step.feedback_seen }}</pre>
<pre class="diff">{% for line in step.diff %}<span class="{{ line|diffclass }}">{{ line }}</span>{% endfor %}</pre>
{% else %}<pre>{{ step.candidate.content }}</pre>{% endif %}
</li>{% endfor %}</ol>
<h3>Candidates ({{ p.candidates|length }})</h3>
<table class="candidates"><tr><th>candidate</th><th>status</th><th>score</th><th>feedback</th><th>content and prompt</th></tr>
{% for c in p.candidates %}<tr class="cand" data-status="{{ c.verdict.status.value }}">
<td>{{ c.label }}<br><span class="muted">{{ c.id[:10] }}</span></td>
<td class="st-{{ c.verdict.status.value }}">{{ c.verdict.status.value }}</td>
<td class="num">{{ c.verdict.score|score }}</td><td><pre>{{ c.verdict.feedback }}</pre>
{% if c.verdict.metrics %}<span class="muted">{% for k, m in c.verdict.metrics|dictsort %}{{ k }}={{ m|score }} {% endfor %}</span>{% endif %}</td>
<td><details><summary>candidate</summary><pre>{{ c.content }}</pre></details>
{% if c.prompt_shown_at %}<span class="muted">answered the same prompt as {{ c.prompt_shown_at }}</span>
{% elif c.prompt_key %}<details><summary>prompt it answered</summary>
{% for m in p.prompts[c.prompt_key] %}<div class="muted">{{ m.role }}</div><pre>{{ m.content }}</pre>{% endfor %}
</details>{% else %}<span class="muted">seed (no prompt)</span>{% endif %}</td></tr>
{% endfor %}</table>
</section>
{% endfor %}
{% endblock %}"""
