"""Reports of a gate run, all rendered from the same checks: summary.json, report.md, report.html,
junit.xml and the console table. ``reports/latest/`` is replaced whole at the end of every gate run.

Every output is deterministic: the same runs give the same bytes (wall times live
apart, in ``timings.json``).
"""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Mapping
from xml.sax.saxutils import quoteattr

from harness.compare import STATUSES, Comparison, first_divergence, gate_passed
from harness.contract import KNOBS, TOLERANCES, toml_value
from harness.results import json_text, write_folder_atomically

__all__ = ["record", "summary_doc", "markdown", "html_report", "junit_xml", "table", "write_reports", "timings_markdown",
           "witness_matrix", "error_reports"]

MAX_LISTED = 50  # differences listed per check; the counts are always complete
WITNESS_OK = ("native", "configured")


# ----------------------------------------------------------------- data rows


def record(c: Comparison) -> dict[str, Any]:
    return {
        "scenario": c.scenario,
        "engine": c.engine,
        "mode": c.mode,
        "framework_version": c.framework_version,
        "status": c.status,
        "basis": c.basis,
        "knob": c.knob,
        "matched": c.matched,
        "missing": len(c.missing),
        "extra": len(c.extra),
        "moved": len(c.moved),
        "rejections_matched": c.rejections_matched,
        "rejections_missing": len(c.rejections_missing),
        "rejections_extra": len(c.rejections_extra),
        "rejections_moved": len(c.rejections_moved),
        "field_diffs": len(c.field_diffs),
        "equity_diffs": len(c.equity_diffs),
        "max_price_rel": c.max_rel.get("price"),
        "max_size_rel": c.max_rel.get("size"),
        "max_fee_rel": c.max_rel.get("fee"),
        "max_equity_rel": c.max_rel.get("equity"),
        "final_value_rel": c.max_rel.get("final_value"),
        "final_value_expected": c.final_value_expected,
        "final_value_obtained": c.final_value_obtained,
        "explanation": [dict(e) for e in c.explanation],
        "first_divergence": first_divergence(c) if c.status == "fail" else None,
        "root_cause": c.root_cause,
        "problems": list(c.problems),
    }


def witness_matrix(engines: dict[str, dict[str, Any]]) -> tuple[list[str], list[tuple[str, list[str], bool]]]:
    """Columns (engine/mode) and rows (knob key, cells, witnessed) from the engines' declarations.

    ``witnessed`` is False for a rule with no native or configured witness in any engine and mode.
    """
    columns = [(name, mode) for name, meta in engines.items() for mode in meta.get("modes", [])
               if meta.get("witness", {}).get(mode)]
    rows = []
    for knob in KNOBS:
        cells, witnessed = [], False
        for name, mode in columns:
            entry = engines[name]["witness"][mode].get(knob.field)
            cells.append(entry[0] if entry else "-")
            witnessed |= bool(entry) and entry[0] in WITNESS_OK
        rows.append((knob.key, cells, witnessed))
    return [f"{n}/{m}" for n, m in columns], rows


def _profile_totals(checks: list[Comparison]) -> dict[str, dict[str, dict[str, int]]]:
    """engine -> knob -> {scenarios where it moved fills, fills moved}."""
    totals: dict[str, dict[str, dict[str, int]]] = {}
    for c in checks:
        for e in c.explanation:
            slot = totals.setdefault(c.engine, {}).setdefault(e["knob"], {"scenarios": 0, "fills_moved": 0})
            if e["fills_moved"]:
                slot["scenarios"] += 1
                slot["fills_moved"] += e["fills_moved"]
    return totals


def summary_doc(checks: list[Comparison], engines: dict[str, dict[str, Any]] | None = None,
                pair_views: list[dict[str, Any]] | None = None, notices: Iterable[str] = ()) -> dict[str, Any]:
    counts = {s: sum(c.status == s for c in checks) for s in STATUSES}
    return {
        "passed": gate_passed(checks),
        "counts": counts,
        "notices": list(notices),
        "tolerances": asdict(TOLERANCES),
        "engines": engines or {},
        "profile_totals": _profile_totals(checks),
        "records": [record(c) for c in checks],
        "engine_pairs": pair_views or [],
    }


def _fmt_rel(value: float | None) -> str:
    return "-" if value is None else ("0" if value == 0 else f"{value:.1e}")


def _verdict_line(doc: dict[str, Any]) -> str:
    n = doc["counts"]
    return (f"{'PASS' if doc['passed'] else 'FAIL'}: {n['pass']} passed, {n['explained']} explained, "
            f"{n['unsupported']} unsupported, {n['fail']} failed, {n['error']} errors "
            f"({sum(n.values())} checks)")


# ------------------------------------------------------------------- console


def table(checks: list[Comparison], notices: Iterable[str] = ()) -> str:
    head = (f"{'scenario':38s} {'engine':11s} {'mode':8s} {'status':11s} {'match':>6s} {'miss':>4s} {'extra':>5s} "
            f"{'moved':>5s} {'price rel':>9s} {'final rel':>9s}  note")
    lines = [head, "-" * len(head)]
    for c in checks:
        note = ""
        if c.status == "unsupported":
            note = c.knob or ""
        elif c.status == "explained":
            moving = [f"{e['knob']}: {e['fills_moved']}" for e in c.explanation if e["fills_moved"]]
            note = "; ".join(moving)
        elif c.root_cause:
            note = _root_cause_line(c.root_cause)
        elif c.status == "error":
            note = c.problems[0][:120] if c.problems else ""
        lines.append(
            f"{c.scenario:38s} {c.engine:11s} {c.mode:8s} {c.status.upper():11s} {c.matched:6d} {len(c.missing):4d} "
            f"{len(c.extra):5d} {len(c.moved):5d} {_fmt_rel(c.max_rel.get('price')):>9s} "
            f"{_fmt_rel(c.max_rel.get('final_value')):>9s}  {note}")
    for n in notices:
        lines.append(f"NOTICE {n}")
    lines.append(_verdict_line(summary_doc(checks)))
    return "\n".join(lines)


def _root_cause_line(rc: dict[str, Any]) -> str:
    if rc.get("verdict") == "golden":
        return "the golden differs: " + rc["note"]
    if rc.get("verdict") == "explained":
        return "explained by " + " | ".join(" and ".join(cfg) for cfg in rc["explained_by"])
    if rc.get("verdict") == "unexplained":
        first = rc.get("first_divergence") or {}
        return (f"unexplained ({rc['configurations_tried']} configurations tried); first divergence: "
                f"{first.get('kind', '?')} {first.get('asset', '?')} bar {first.get('bar', '?')}")
    return rc.get("note", "")


# ------------------------------------------------------------------ markdown


def _difference_rows(c: Comparison) -> list[list[str]]:
    rows = []
    for m in c.moved:
        rows.append(["moved", m.asset, f"{m.expected_bar} -> {m.obtained_bar}", m.side, m.reason, "bar",
                     str(m.expected_bar), str(m.obtained_bar), ""])
    for f in c.missing:
        rows.append(["missing", f.asset, str(f.bar), f.side, f.reason, "fill", f"{f.size!r} @ {f.price!r}", "(none)", ""])
    for f in c.extra:
        rows.append(["extra", f.asset, str(f.bar), f.side, f.reason, "fill", "(none)", f"{f.size!r} @ {f.price!r}", ""])
    for m in c.rejections_moved:
        rows.append(["rejection moved", m.asset, f"{m.expected_bar} -> {m.obtained_bar}", m.side, m.reason, "bar",
                     str(m.expected_bar), str(m.obtained_bar), ""])
    for r in c.rejections_missing:
        rows.append(["rejection missing", r.asset, str(r.bar), r.side, r.reason, "rejected", repr(r.size), "(none)", ""])
    for r in c.rejections_extra:
        rows.append(["rejection extra", r.asset, str(r.bar), r.side, r.reason, "rejected", "(none)", repr(r.size), ""])
    for d in c.field_diffs:
        rows.append(["changed", d.asset, str(d.bar), d.side, d.reason, d.field, repr(d.expected), repr(d.obtained),
                     f"{d.rel:.3g} > {d.tolerance:g}"])
    for e in c.equity_diffs:
        rows.append(["changed", "(portfolio)", str(e.bar), "", "", "equity", repr(e.expected), repr(e.obtained), f"{e.rel:.3g}"])
    return rows


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def _md_divergence(first: dict[str, Any] | None) -> list[str]:
    if not first:
        return []
    out = [f"First divergent fill: {first['kind']} {first['asset']} at bar {first['bar']}.", ""]
    if first.get("bars"):
        out += _md_table(["bar", "timestamp", "open", "high", "low", "close"],
                         [[str(b["bar"]), b["timestamp"], *(repr(b[k]) for k in ("open", "high", "low", "close"))]
                          for b in first["bars"]])
        out.append("")
        for side in ("expected_fills", "obtained_fills"):
            fills = ", ".join(f"bar {f['bar']} {f['side']} {f['size']!r} @ {f['price']!r} ({f['reason']})"
                              for f in first.get(side, [])) or "none"
            out.append(f"- {side.replace('_', ' ')} there: {fills}")
        out.append("")
    return out


def _md_check_details(c: Comparison) -> list[str]:
    out = [f"### {c.scenario} / {c.engine} / {c.mode}: {c.status}", "", f"Judged against: {c.basis}.", ""]
    out += [f"- {p}" for p in c.problems]
    if c.root_cause:
        out += ["", f"Root cause: {_root_cause_line(c.root_cause)}"]
        if "seconds" in c.root_cause:
            out.append(f"(search: {c.root_cause['configurations_tried']} configurations of the reference engine)")
        out.append("")
        out += _md_divergence(c.root_cause.get("first_divergence"))
    rows = _difference_rows(c)
    if rows:
        out += [""] + _md_table(["kind", "asset", "bar", "side", "reason", "field", "expected", "obtained", "relative"],
                                rows[:MAX_LISTED])
        if len(rows) > MAX_LISTED:
            out.append(f"\n({len(rows) - MAX_LISTED} more differences not listed; summary.json has the counts)")
    return out + [""]


def _md_profiles(doc: dict[str, Any], checks: list[Comparison]) -> list[str]:
    out = []
    for name, meta in doc["engines"].items():
        profile = meta.get("profile")
        if not profile:
            continue
        out += [f"### {name} ({meta.get('framework', '?')} {meta.get('framework_version', '?')})", ""]
        totals = doc["profile_totals"].get(name, {})
        knob_of = {k.field: k for k in KNOBS}
        rows = []
        for field, value in profile.items():
            knob = knob_of.get(field)
            key = knob.key if knob else field
            t = totals.get(key, {"scenarios": 0, "fills_moved": 0})
            rows.append([f"`{key}`", f"`{toml_value(value)}`", f"`{toml_value(knob.default)}`" if knob else "?",
                         str(t["scenarios"]), str(t["fills_moved"])])
        out += _md_table(["knob", "stock value", "contract value", "scenarios where it moves fills", "fills moved"], rows)
        out.append("")
        for c in checks:
            if c.engine != name or c.status != "explained":
                continue
            moving = [e for e in c.explanation if e["fills_moved"]]
            if not moving:
                continue
            out.append(f"- **{c.scenario}**: " + "; ".join(
                f"`{e['knob']} = {toml_value(e['value'])}` moves {e['fills_moved']} fill(s), final value "
                f"{e['final_value_delta']:+.6g}" for e in moving))
            for e in moving:
                for f in e["fills"]:
                    to = f" -> bar {f['to_bar']}" if f["to_bar"] != f["bar"] else ""
                    out.append(f"  - {e['knob']}: {f['asset']} bar {f['bar']}{to} {f['side']}: contract "
                               f"{f['contract']}, stock {f['changed']}")
        out.append("")
    return out


def _md_witness(engines: dict[str, dict[str, Any]]) -> list[str]:
    columns, rows = witness_matrix(engines)
    if not columns:
        return ["(no engine declared a witness table)", ""]
    out = _md_table(["knob", *columns, "witnessed"],
                    [[f"`{key}`", *cells, "yes" if ok else "**no native or configured witness**"]
                     for key, cells, ok in rows])
    return out + ["", "native: the framework's machinery as shipped; configured: a framework setting; "
                  "assisted: adapter code supplies part of the decision; computed: the adapter decides, the "
                  "framework only executes.", ""]


def _md_pairs(pairs: list[dict[str, Any]]) -> list[str]:
    if not pairs:
        return ["(no scenario explained in two frameworks' stock modes)", ""]
    rows = []
    for p in pairs:
        knobs = "; ".join(f"{k['knob']} ({toml_value(k[p['a']])} vs {toml_value(k[p['b']])}): "
                          + ("-" if k["final_value_delta"] is None else f"{k['final_value_delta']:+.6g}")
                          for k in p["knobs"]) or "same profile here"
        rows.append([p["scenario"], f"{p['a']} vs {p['b']}", str(p["fills_differ"]),
                     f"{p['final_value_difference']:+.6g}", knobs])
    return _md_table(["scenario", "engines", "fills that differ", "final value (b - a)",
                      "knobs where the profiles differ: final-value change each causes alone"], rows) + [""]


def markdown(checks: list[Comparison], engines: dict[str, dict[str, Any]] | None = None,
             pair_views: list[dict[str, Any]] | None = None, notices: Iterable[str] = ()) -> str:
    doc = summary_doc(checks, engines, pair_views, notices)
    t = TOLERANCES
    lines = ["# Parity gate report", "", f"**{_verdict_line(doc)}**", ""]
    for n in doc["notices"]:
        lines.append(f"> **Version drift**: {n}")
    if doc["notices"]:
        lines.append("")
    lines += [
        f"Tolerances: bar, side, asset and reason exact; price {t.price_rel:g} relative; "
        f"size and fee {t.size_rel:g}; equity and final value {t.value_rel:g}. "
        "`contract` runs are judged against the golden results; `stock` runs against the reference engine "
        "under the scenario's contract changed by the framework's profile (`explained` when exact). "
        "`unsupported` is never counted as passed.",
        "",
        "## Checks",
        "",
    ]
    rows = []
    for c in checks:
        note = c.knob or ""
        if c.status == "explained":
            note = "; ".join(f"{e['knob']}: {e['fills_moved']}" for e in c.explanation if e["fills_moved"]) or "no knob moves a fill"
        elif c.root_cause:
            note = _root_cause_line(c.root_cause)
        rows.append([c.scenario, c.engine, c.mode, c.framework_version or "-", c.status, str(c.matched),
                     str(len(c.missing)), str(len(c.extra)), str(len(c.moved)), str(c.rejections_matched),
                     _fmt_rel(c.max_rel.get("price")), _fmt_rel(c.max_rel.get("size")),
                     _fmt_rel(c.max_rel.get("final_value")), note])
    lines += _md_table(["scenario", "engine", "mode", "version", "status", "matched", "missing", "extra", "moved",
                        "rejections matched", "max price rel", "max size rel", "final value rel", "knob / note"], rows)
    lines += ["", "## Profiles: what each stock framework does differently", ""]
    lines += _md_profiles(doc, checks)
    lines += ["## Witness matrix", ""] + _md_witness(doc["engines"])
    lines += ["## Stock engines against each other", ""] + _md_pairs(doc["engine_pairs"])
    unsupported = [c for c in checks if c.status == "unsupported"]
    if unsupported:
        lines += ["## Unsupported", ""]
        lines += _md_table(["scenario", "engine", "mode", "knob", "why"],
                           [[c.scenario, c.engine, c.mode, c.knob or "?", c.problems[0].split(": ", 2)[-1]]
                            for c in unsupported])
        lines.append("")
    failing = [c for c in checks if c.status in ("fail", "error")]
    if failing:
        lines += ["## Failures", ""]
        for c in failing:
            lines += _md_check_details(c)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f2f2f2}
.pass,.explained{color:#176d2e}.fail,.error{color:#b00020;font-weight:bold}.unsupported{color:#7a5c00}
.verdict{font-size:1.3em;font-weight:bold}.notice{background:#fff4d6;padding:.5em;border-left:4px solid #e0a800}
svg.chart{border:1px solid #ddd;background:#fff}
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(header: list[str], rows: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell if raw else _h(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def divergence_chart(first: dict[str, Any] | None, expected_label: str, obtained_label: str) -> str:
    """An inline SVG of the bars around the first divergence (candles) with each side's fills marked."""
    if not first or not first.get("bars"):
        return ""
    bars = [b for b in first["bars"] if b["high"] is not None]
    if not bars:
        return ""
    prices = [b[k] for b in bars for k in ("high", "low")]
    prices += [f["price"] for f in (*first.get("expected_fills", []), *first.get("obtained_fills", []))]
    lo, hi = min(prices), max(prices)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    width, height, left, top = 520, 260, 60, 20
    step = (width - left - 20) / max(len(bars), 1)

    def y(p: float) -> float:
        return top + (hi - p) / (hi - lo) * (height - 2 * top)

    def x(bar: int) -> float:
        k = next(i for i, b in enumerate(bars) if b["bar"] == bar) if any(b["bar"] == bar for b in bars) else 0
        return left + step * (k + 0.5)

    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="bars around the first divergent fill">']
    for frac in (0.0, 0.5, 1.0):
        p = lo + (hi - lo) * frac
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y(p):.1f}" y2="{y(p):.1f}" stroke="#eee"/>'
                     f'<text x="4" y="{y(p) + 4:.1f}" font-size="10">{p:.4g}</text>')
    for b in bars:
        cx = x(b["bar"])
        up = b["close"] >= b["open"]
        colour = "#2e7d32" if up else "#c62828"
        body_top, body_bottom = y(max(b["open"], b["close"])), y(min(b["open"], b["close"]))
        parts.append(f'<line class="wick" x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(b["high"]):.1f}" y2="{y(b["low"]):.1f}" '
                     f'stroke="{colour}"/>')
        parts.append(f'<rect class="candle" x="{cx - step * 0.2:.1f}" y="{body_top:.1f}" width="{step * 0.4:.1f}" '
                     f'height="{max(body_bottom - body_top, 1):.1f}" fill="{colour}"/>')
        parts.append(f'<text x="{cx - 8:.1f}" y="{height - 4}" font-size="10">{b["bar"]}</text>')
    for f in first.get("expected_fills", []):
        cx, cy = x(f["bar"]) - step * 0.25, y(f["price"])
        parts.append(f'<polygon class="fill-expected" points="{cx - 6:.1f},{cy - 5:.1f} {cx + 6:.1f},{cy - 5:.1f} '
                     f'{cx:.1f},{cy + 5:.1f}" fill="#1565c0"><title>{_h(expected_label)}: {_h(f["side"])} '
                     f'{f["size"]!r} @ {f["price"]!r} ({_h(f["reason"])})</title></polygon>')
    for f in first.get("obtained_fills", []):
        cx, cy = x(f["bar"]) + step * 0.25, y(f["price"])
        parts.append(f'<circle class="fill-obtained" cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="#ef6c00">'
                     f'<title>{_h(obtained_label)}: {_h(f["side"])} {f["size"]!r} @ {f["price"]!r} '
                     f'({_h(f["reason"])})</title></circle>')
    parts.append(f'<text x="{left}" y="12" font-size="11"><tspan fill="#1565c0">&#9660; {_h(expected_label)}</tspan>'
                 f'  <tspan fill="#ef6c00">&#9679; {_h(obtained_label)}</tspan>  asset {_h(first["asset"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(checks: list[Comparison], engines: dict[str, dict[str, Any]] | None = None,
                pair_views: list[dict[str, Any]] | None = None, notices: Iterable[str] = ()) -> str:
    """The report as one self-contained HTML page (no scripts, no external files)."""
    doc = summary_doc(checks, engines, pair_views, notices)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8"><title>Parity gate report</title>',
           f"<style>{_CSS}</style></head><body>", "<h1>Parity gate report</h1>",
           f'<p class="verdict {"pass" if doc["passed"] else "fail"}">{_h(_verdict_line(doc))}</p>']
    for n in doc["notices"]:
        out.append(f'<p class="notice">Version drift: {_h(n)}</p>')
    rows = []
    for c in checks:
        note = c.knob or ""
        if c.status == "explained":
            note = "; ".join(f"{e['knob']}: {e['fills_moved']}" for e in c.explanation if e["fills_moved"])
        elif c.root_cause:
            note = _root_cause_line(c.root_cause)
        rows.append([_h(c.scenario), _h(c.engine), _h(c.mode), f'<span class="{c.status}">{_h(c.status)}</span>',
                     str(c.matched), str(len(c.missing)), str(len(c.extra)), str(len(c.moved)),
                     _fmt_rel(c.max_rel.get("price")), _fmt_rel(c.max_rel.get("final_value")), _h(note)])
    out += ["<h2>Checks</h2>", _html_table(["scenario", "engine", "mode", "status", "matched", "missing", "extra",
                                            "moved", "max price rel", "final value rel", "knob / note"], rows, raw=True)]
    out.append("<h2>Profiles</h2>")
    for name, meta in doc["engines"].items():
        if not meta.get("profile"):
            continue
        totals = doc["profile_totals"].get(name, {})
        knob_of = {k.field: k for k in KNOBS}
        prow = []
        for field, value in meta["profile"].items():
            key = knob_of[field].key if field in knob_of else field
            t = totals.get(key, {"scenarios": 0, "fills_moved": 0})
            prow.append([key, toml_value(value), toml_value(knob_of[field].default) if field in knob_of else "?",
                         str(t["scenarios"]), str(t["fills_moved"])])
        out += [f"<h3>{_h(name)} ({_h(meta.get('framework'))} {_h(meta.get('framework_version'))})</h3>",
                _html_table(["knob", "stock value", "contract value", "scenarios where it moves fills", "fills moved"], prow)]
    columns, wrows = witness_matrix(doc["engines"])
    out.append("<h2>Witness matrix</h2>")
    out.append(_html_table(["knob", *columns, "witnessed"],
                           [[key, *cells, "yes" if ok else "NO native or configured witness"] for key, cells, ok in wrows]))
    out.append("<h2>Stock engines against each other</h2>")
    out.append(_html_table(["scenario", "engines", "fills that differ", "final value (b - a)", "knobs"],
                           [[p["scenario"], f"{p['a']} vs {p['b']}", str(p["fills_differ"]),
                             f"{p['final_value_difference']:+.6g}",
                             "; ".join(f"{k['knob']}: " + ("-" if k["final_value_delta"] is None
                                                           else f"{k['final_value_delta']:+.6g}") for k in p["knobs"])]
                            for p in doc["engine_pairs"]]))
    failing = [c for c in checks if c.status in ("fail", "error")]
    if failing:
        out.append("<h2>Failures</h2>")
        for c in failing:
            out.append(f"<h3>{_h(c.scenario)} / {_h(c.engine)} / {_h(c.mode)}: "
                       f'<span class="{c.status}">{_h(c.status)}</span></h3>')
            out.append("<ul>" + "".join(f"<li>{_h(p)}</li>" for p in c.problems) + "</ul>")
            if c.root_cause:
                out.append(f"<p>Root cause: {_h(_root_cause_line(c.root_cause))}</p>")
                first = c.root_cause.get("first_divergence")
                expected_label = "golden" if c.basis == "golden" else "reference + profile"
                out.append(divergence_chart(first, expected_label, c.engine))
            diff = _difference_rows(c)
            if diff:
                out.append(_html_table(["kind", "asset", "bar", "side", "reason", "field", "expected", "obtained",
                                        "relative"], diff[:MAX_LISTED]))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------- junit


def junit_xml(checks: list[Comparison]) -> str:
    """One testcase per (scenario, engine, mode); a failure carries the first divergent fill."""
    n = {s: sum(c.status == s for c in checks) for s in STATUSES}
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="parity gate" tests="{len(checks)}" failures="{n["fail"]}" errors="{n["error"]}" '
           f'skipped="{n["unsupported"]}">',
           f'  <testsuite name="parity" tests="{len(checks)}" failures="{n["fail"]}" errors="{n["error"]}" '
           f'skipped="{n["unsupported"]}">']
    for c in checks:
        head = f'    <testcase classname={quoteattr(f"{c.engine}.{c.mode}")} name={quoteattr(c.scenario)}'
        if c.status in ("pass", "explained"):
            out.append(head + "/>")
            continue
        out.append(head + ">")
        if c.status == "unsupported":
            out.append(f"      <skipped message={quoteattr(f'unsupported: {c.knob}')}/>")
        else:
            tag = "failure" if c.status == "fail" else "error"
            first = first_divergence(c)
            message = c.problems[0] if c.problems else c.status
            if first:
                message = (f"first divergent fill: {first['kind']} {first['asset']} bar {first['bar']}; "
                           + "; ".join(c.problems))
            body = "\n".join(c.problems)
            if c.root_cause:
                body += "\nroot cause: " + _root_cause_line(c.root_cause)
            out.append(f"      <{tag} message={quoteattr(message)}>{html.escape(body, quote=False)}</{tag}>")
        out.append("    </testcase>")
    out += ["  </testsuite>", "</testsuites>"]
    return "\n".join(out) + "\n"


# -------------------------------------------------------------------- writing


def timings_markdown(timings: dict[str, dict[str, Any]], large: Iterable[str] = (),
                     statuses: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None) -> str:
    """Wall times of the engine runs (``reports/runs/<engine>/timings.json``); they vary run to run, so
    they live in their own file beside the byte-identical reports. ``statuses`` (engine -> mode ->
    scenario -> run.json status): a large scenario the engine did not run says so (``unsupported``,
    ``error``) instead of the seconds its refusal took."""
    lines = ["# Engine run times", "",
             "Wall seconds of the last run of each engine (they vary from run to run; every other file of "
             "reports/latest/ is byte-identical for identical runs).", "",
             "| engine | jobs | total s | mode | scenarios | sum of scenario s | slowest |", "|---|---|---|---|---|---|---|"]
    for engine, doc in timings.items():
        for mode, per in doc.get("scenarios", {}).items():
            slowest = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
            lines.append(f"| {engine} | {doc.get('jobs', 1)} | {doc.get('seconds', 0):.1f} | {mode} | {len(per)} | "
                         f"{sum(per.values()):.1f} | " + ", ".join(f"{n} {s:.2f}" for n, s in slowest) + " |")
    large = sorted(large)
    if large:
        lines += ["", "Large scenarios:", "", "| scenario | " + " | ".join(
            f"{e}/{m}" for e, d in timings.items() for m in d.get("scenarios", {})) + " |",
            "|---|" + "---|" * sum(len(d.get("scenarios", {})) for d in timings.values())]
        for name in large:
            cells = [_timing_cell(d["scenarios"][m].get(name), (statuses or {}).get(e, {}).get(m, {}).get(name, "ok"))
                     for e, d in timings.items() for m in d.get("scenarios", {})]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _timing_cell(seconds: float | None, status: str) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f}" if status == "ok" else status


def write_reports(checks: list[Comparison], folder: Path, engines: dict[str, dict[str, Any]] | None = None,
                  pair_views: list[dict[str, Any]] | None = None, notices: Iterable[str] = (),
                  timings: str | None = None) -> None:
    """Replace ``folder`` whole with every rendering of the same checks (and the run times, if given)."""
    notices = list(notices)
    files = {
        "summary.json": json_text(summary_doc(checks, engines, pair_views, notices)),
        "report.md": markdown(checks, engines, pair_views, notices),
        "report.html": html_report(checks, engines, pair_views, notices),
        "junit.xml": junit_xml(checks),
    }
    if timings is not None:
        files["timings.md"] = timings
    write_folder_atomically(folder, files)


def error_reports(message: str, folder: Path) -> None:
    """The gate could not judge anything: ``folder`` still says so (never an older pass)."""
    doc = {"passed": False, "counts": {s: 0 for s in STATUSES}, "error": message, "records": []}
    write_folder_atomically(folder, {
        "summary.json": json_text(doc),
        "report.md": f"# Parity gate report\n\n**FAIL: the gate could not run**: {message}\n",
        "report.html": f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Parity gate report</title>"
                       f"</head><body><h1>Parity gate report</h1><p>FAIL: the gate could not run: {_h(message)}</p>"
                       f"</body></html>\n",
        "junit.xml": '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="parity gate" tests="1" errors="1">\n'
                     f'  <testsuite name="parity" tests="1" errors="1">\n    <testcase classname="gate" name="gate">\n'
                     f"      <error message={quoteattr(message)}/>\n    </testcase>\n  </testsuite>\n</testsuites>\n",
    })
