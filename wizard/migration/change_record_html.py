"""A change record as one self-contained HTML file: no script, no external style or image, the
charts drawn as inline SVG, so it opens the same in any browser and can be attached to a ticket.

Why no template engine or chart library: the record must render offline years later, and
everything in it comes from the cluster, so every value is escaped here, in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from wizard.i18n import current_language, t
from wizard.migration.change_record import ChangeRecord, StepRecord, local_and_utc
from wizard.migration.progress import outcome_label

CHART_W, CHART_H, PAD_L, PAD_B, PAD_T, PAD_R = 520, 180, 52, 28, 14, 14
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #1d2430; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccd; }
table { border-collapse: collapse; width: 100%; } td, th { border: 1px solid #d5d9e0; padding: 3px 6px;
vertical-align: top; text-align: left; } th { background: #eef1f5; }
code, pre { font: 12px/1.4 ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; }
.ok { color: #17803d; } .warn { color: #a15c00; } .block, .failed { color: #b42318; font-weight: bold; }
.add { color: #17803d; } .del { color: #b42318; } .hunk { color: #6b4fbb; }
.meta td:first-child { width: 13em; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-weight: bold; }
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _time(moment: object) -> str:
    from datetime import datetime

    return local_and_utc(moment) if isinstance(moment, datetime) else "—"


def _clock(moment: object) -> str:
    """Local time of day only: the finished column, next to the full start time."""
    from datetime import datetime

    return f"{moment.astimezone():%H:%M:%S}" if isinstance(moment, datetime) else "—"


def _meta(record: ChangeRecord) -> str:
    rows = [
        (t("Outcome"), record.outcome),
        (t("Context"), record.context),
        (t("API server"), record.cluster_server),
        ("Kubernetes", record.k8s_version),
        (t("Namespace"), record.namespace),
        ("CoreDNS", f"{record.coredns_version} ({record.image})" if record.image else record.coredns_version),
        (t("kube-dns replicas before"),
         "?" if record.kube_dns_replicas is None else record.kube_dns_replicas),
        (t("Round order"), f"{record.order}: {record.order_reason}" if record.order else "—"),
        (t("Operator"), record.operator or "—"),
        (t("Journal"), record.journal_path),
        (t("Record written"), local_and_utc(record.generated_at)),
    ]
    body = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _findings(record: ChangeRecord) -> str:
    if not record.findings:
        return "<p>" + _e(t("No pre-flight report in this run (the switch was resumed).")) + "</p>"
    rows = []
    for f in record.findings:
        evidence = "<br>".join(_e(line) for line in f.evidence)
        rows.append(f'<tr><td class="{_e(f.status)}">{_e(f.status)}</td><td>{_e(f.title)}</td>'
                    f"<td>{evidence}</td><td>{_e(f.advice)}</td></tr>")
    head = "".join(f"<th>{_e(h)}</th>" for h in (t("status"), t("check"), t("evidence"), t("advice")))
    return "<table><tr>" + head + "</tr>" + "".join(rows) + "</table>"


def _diff(record: ChangeRecord) -> str:
    if not record.corefile_diff:
        return "<p>" + _e(t("No Corefile was deployed in this run.")) + "</p>"
    lines = []
    for line in record.corefile_diff:
        css = ("hunk" if line.startswith("@@") else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "")
        lines.append(f'<span class="{css}">{_e(line)}</span>' if css else _e(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def _steps(steps: Sequence[StepRecord]) -> str:
    rows = []
    for s in steps:
        kubectl = "<br>".join(f"<code>{_e(k)}</code>" for k in s.kubectl) or "—"
        shown = outcome_label(s.result)
        result = t("{result} (dry-run)", result=shown) if s.dry_run else shown
        css = "failed" if s.result == "failed" else "ok" if s.result == "done" else "warn"
        rows.append(
            f"<tr><td><code>{_e(s.id)}</code></td><td>{_e(s.description)}</td><td>{kubectl}</td>"
            f"<td>{_e(_time(s.started))}</td><td>{_e(_clock(s.finished))}</td>"
            f'<td class="{css}">{_e(result)}</td><td>{_e(s.detail)}</td></tr>'
        )
    names = (t("step"), t("what"), t("kubectl equivalent"), t("started"), t("finished"), t("result"),
             t("detail"))
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in names) + "</tr>"
    return "<table>" + head + "".join(rows) + "</table>"


Series = Sequence[tuple[str, str, Sequence[tuple[float, float]]]]


def line_chart(title: str, unit: str, x_max: float, series: Series,
               y_min: float | None = None, y_max: float | None = None) -> str:
    """An SVG line chart: x is seconds into the observation, each series (name, colour, points)."""
    values = [y for _, _, points in series for _, y in points]
    low = y_min if y_min is not None else min(values, default=0.0)
    high = y_max if y_max is not None else max(values, default=1.0)
    if high <= low:
        high = low + 1.0
    span_x = x_max if x_max > 0 else 1.0
    inner_w, inner_h = CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B

    def xy(x: float, y: float) -> str:
        px = PAD_L + inner_w * min(max(x / span_x, 0.0), 1.0)
        py = PAD_T + inner_h * (1 - (min(max(y, low), high) - low) / (high - low))
        return f"{px:.1f},{py:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" '
             f'viewBox="0 0 {CHART_W} {CHART_H}" role="img" aria-label="{_e(title)}">',
             f'<rect x="{PAD_L}" y="{PAD_T}" width="{inner_w}" height="{inner_h}" fill="#fbfcfe" '
             'stroke="#ccd"/>']
    for fraction in (0.0, 0.5, 1.0):
        y = low + (high - low) * fraction
        py = PAD_T + inner_h * (1 - fraction)
        parts.append(f'<text x="{PAD_L - 4}" y="{py + 4:.1f}" font-size="11" text-anchor="end">'
                     f"{_e(f'{y:.3g}')}{_e(unit)}</text>")
    parts.append(f'<text x="{PAD_L}" y="{CHART_H - 8}" font-size="11">0 s</text>')
    parts.append(f'<text x="{CHART_W - PAD_R}" y="{CHART_H - 8}" font-size="11" text-anchor="end">'
                 f"{_e(f'{span_x:.0f}')} s</text>")
    legend_x = PAD_L + 60
    for name, colour, points in series:
        if points:
            coords = " ".join(xy(x, y) for x, y in points)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
            for x, y in points:
                cx, cy = xy(x, y).split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.2" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x}" y="{CHART_H - 8}" font-size="11" fill="{colour}">'
                     f"■ {_e(name)}</text>")
        legend_x += 90
    parts.append("</svg>")
    return "".join(parts)


def _charts(record: ChangeRecord) -> str:
    rounds = record.rounds()
    if not rounds:
        return "<p>" + _e(t("No DNS observation was recorded in this run.")) + "</p>"
    figures = []
    for step_id, samples in rounds:
        x_max = max((s.elapsed_s for s in samples), default=0.0)
        rate = [(s.elapsed_s, 100.0 * r) for s in samples if (r := s.success_rate) is not None]
        p50 = [(s.elapsed_s, s.p50_ms) for s in samples if s.p50_ms is not None]
        p95 = [(s.elapsed_s, s.p95_ms) for s in samples if s.p95_ms is not None]
        last = samples[-1]
        caption = t(
            "{step}: {queries} queries, {errors} errors, from {start} to {end}",
            step=step_id, queries=last.queries, errors=last.errors, start=_time(samples[0].at),
            end=_time(last.at),
        )
        low = min((y for _, y in rate), default=100.0)
        figures.append(
            f"<figure><figcaption>{_e(caption)}</figcaption>"
            + line_chart(t("{step} DNS success rate", step=step_id), "%", x_max,
                         [(t("success %"), "#17803d", rate)], y_min=min(low, 99.0), y_max=100.0)
            + line_chart(t("{step} DNS latency", step=step_id), " ms", x_max,
                         [("p50", "#2563eb", [(x, float(y)) for x, y in p50]),
                          ("p95", "#c2410c", [(x, float(y)) for x, y in p95])], y_min=0.0)
            + "</figure>"
        )
    return '<div class="charts">' + "".join(figures) + "</div>"


def render_change_record(record: ChangeRecord) -> str:
    """The whole report as one HTML document."""
    title = t("kube-dns → CoreDNS change record: {context}", context=record.context)
    rollback = f"<code>{_e(record.rollback_command)} --context {_e(record.context)}</code>"
    cleanup = f"<code>{_e(record.cleanup_command)} --context {_e(record.context)}</code>"
    commands = (
        "<p>" + t("Roll back (kube-dns first, then CoreDNS to 0): {command}", command=rollback) + "</p>"
        + "<p>" + t("Clean up (72 h after the last kube-dns scale-down; backs up, then deletes the kube-dns "
                    "Deployment, ConfigMap and ServiceAccount): {command}", command=cleanup) + "</p>"
    )
    sections = [
        (t("Summary"), _meta(record)),
        (t("Pre-flight findings"), _findings(record)),
        ("Corefile", _diff(record)),
        (t("Steps"), _steps(record.steps)),
        (t("DNS during the rounds"), _charts(record)),
        (t("Rollback and clean-up"), commands),
    ]
    body = "".join(f"<h2>{_e(name)}</h2>{html}" for name, html in sections)
    lang = "zh-CN" if current_language() == "zh" else "en"
    zone = _e(record.generated_at.astimezone().strftime('%Z %z'))
    times = t("Times are local ({zone}) with UTC in brackets.", zone=zone)
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>"
            f"<p>{times}</p>{body}</body></html>\n")
