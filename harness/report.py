"""Reports: summary.json (one record per scenario x engine), report.md and the console table."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from harness.compare import Comparison
from harness.contract import TOLERANCES
from harness.results import json_text, write_folder_atomically

__all__ = ["record", "summary_doc", "markdown", "table", "write_reports"]

MAX_LISTED = 50  # differences listed per (scenario, engine) in report.md; the counts are always complete


def record(c: Comparison) -> dict:
    return {
        "scenario": c.scenario,
        "engine": c.engine,
        "framework_version": c.framework_version,
        "status": c.status,
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
        "problems": list(c.problems),
    }


def summary_doc(comparisons: list[Comparison]) -> dict:
    counts = {s: sum(c.status == s for c in comparisons) for s in ("pass", "fail", "error")}
    return {
        "passed": bool(comparisons) and counts["pass"] == len(comparisons),
        "counts": counts,
        "tolerances": asdict(TOLERANCES),
        "records": [record(c) for c in comparisons],
    }


def _fmt_rel(value: float | None) -> str:
    return "-" if value is None else ("0" if value == 0 else f"{value:.1e}")


def table(comparisons: list[Comparison]) -> str:
    head = f"{'scenario':40s} {'engine':11s} {'status':6s} {'match':>5s} {'miss':>4s} {'extra':>5s} {'moved':>5s} {'price rel':>9s} {'final rel':>9s}"
    lines = [head, "-" * len(head)]
    for c in comparisons:
        lines.append(
            f"{c.scenario:40s} {c.engine:11s} {c.status.upper():6s} {c.matched:5d} {len(c.missing):4d} "
            f"{len(c.extra):5d} {len(c.moved):5d} {_fmt_rel(c.max_rel.get('price')):>9s} {_fmt_rel(c.max_rel.get('final_value')):>9s}"
        )
    counts = summary_doc(comparisons)["counts"]
    lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['error']} errors "
                 f"({len(comparisons)} scenario x engine checks)")
    return "\n".join(lines)


def _details(c: Comparison) -> list[str]:
    out = [f"### {c.scenario} / {c.engine}: {c.status}", ""]
    out += [f"- {p}" for p in c.problems]
    rows = []
    for m in c.moved:
        rows.append(f"| moved | {m.asset} | {m.expected_bar} -> {m.obtained_bar} | {m.side} | {m.reason} | bar | {m.expected_bar} | {m.obtained_bar} | |")
    for f in c.missing:
        rows.append(f"| missing | {f.asset} | {f.bar} | {f.side} | {f.reason} | fill | {f.size!r} @ {f.price!r} | (none) | |")
    for f in c.extra:
        rows.append(f"| extra | {f.asset} | {f.bar} | {f.side} | {f.reason} | fill | (none) | {f.size!r} @ {f.price!r} | |")
    for m in c.rejections_moved:
        rows.append(f"| rejection moved | {m.asset} | {m.expected_bar} -> {m.obtained_bar} | {m.side} | {m.reason} | bar | {m.expected_bar} | {m.obtained_bar} | |")
    for r in c.rejections_missing:
        rows.append(f"| rejection missing | {r.asset} | {r.bar} | {r.side} | {r.reason} | rejected | {r.size!r} | (none) | |")
    for r in c.rejections_extra:
        rows.append(f"| rejection extra | {r.asset} | {r.bar} | {r.side} | {r.reason} | rejected | (none) | {r.size!r} | |")
    for d in c.field_diffs:
        rows.append(f"| changed | {d.asset} | {d.bar} | {d.side} | {d.reason} | {d.field} | {d.expected!r} | {d.obtained!r} | {d.rel:.3g} > {d.tolerance:g} |")
    for e in c.equity_diffs:
        rows.append(f"| changed | (portfolio) | {e.bar} | | | equity | {e.expected!r} | {e.obtained!r} | {e.rel:.3g} |")
    if rows:
        out += ["", "| kind | asset | bar | side | reason | field | expected | obtained | relative |",
                "|---|---|---|---|---|---|---|---|---|"]
        out += rows[:MAX_LISTED]
        if len(rows) > MAX_LISTED:
            out.append(f"\n({len(rows) - MAX_LISTED} more differences not listed; summary.json has the counts)")
    return out + [""]


def markdown(comparisons: list[Comparison]) -> str:
    doc = summary_doc(comparisons)
    t = TOLERANCES
    lines = [
        "# Parity gate report",
        "",
        f"**{'PASS' if doc['passed'] else 'FAIL'}**: {doc['counts']['pass']} passed, "
        f"{doc['counts']['fail']} failed, {doc['counts']['error']} errors.",
        "",
        f"Tolerances: bar, side, asset and reason exact; price {t.price_rel:g} relative; "
        f"size and fee {t.size_rel:g}; equity and final value {t.value_rel:g}.",
        "",
        "| scenario | engine | version | status | matched | missing | extra | moved | rejections matched | max price rel | max size rel | final value rel |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.scenario} | {c.engine} | {c.framework_version or '-'} | {c.status} | {c.matched} | {len(c.missing)} | "
            f"{len(c.extra)} | {len(c.moved)} | {c.rejections_matched} | {_fmt_rel(c.max_rel.get('price'))} | {_fmt_rel(c.max_rel.get('size'))} | "
            f"{_fmt_rel(c.max_rel.get('final_value'))} |"
        )
    failing = [c for c in comparisons if not c.passed]
    if failing:
        lines += ["", "## Differences", ""]
        for c in failing:
            lines += _details(c)
    return "\n".join(lines).rstrip("\n") + "\n"


def write_reports(comparisons: list[Comparison], folder: Path) -> None:
    write_folder_atomically(folder, {
        "summary.json": json_text(summary_doc(comparisons)),
        "report.md": markdown(comparisons),
    })
