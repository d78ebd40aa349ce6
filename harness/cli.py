"""Command line: ``python -m harness <verb>``.

Verbs: ``list``, ``scenarios`` (rebuild/check inputs), ``run`` (one engine),
``gate`` (compare runs with goldens, write reports), ``golden`` (write goldens
where all engines agree). Exit codes: 0 success, 1 a check failed, 2 bad input
or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError, display_path

__all__ = ["main"]

REPORTS_DIR = Path(__file__).resolve().parent.parent / "reports"


def _select(args: argparse.Namespace) -> list[str]:
    from harness.scenario import SCENARIOS_DIR, load_spec, scenario_names

    known = scenario_names()
    if not known:
        raise HarnessError(f"no scenarios found under {SCENARIOS_DIR}")
    chosen = args.scenario or known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise HarnessError(f"unknown scenario(s): {', '.join(unknown)}; `python -m harness list` shows them")
    skip = set(args.skip_tag or [])
    if skip:
        chosen = [n for n in chosen if not skip & set(load_spec(SCENARIOS_DIR / n, require_inputs=False).tags)]
    return sorted(chosen)


def _engines(args: argparse.Namespace) -> list[str]:
    from harness.engines import ENGINES

    chosen = args.engine or list(ENGINES)
    unknown = [e for e in chosen if e not in ENGINES]
    if unknown:
        raise HarnessError(f"unknown engine(s): {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    return chosen


def cmd_list(args: argparse.Namespace) -> int:
    from harness.scenario import SCENARIOS_DIR, load_spec

    for name in _select(args):
        spec = load_spec(SCENARIOS_DIR / name, require_inputs=False)
        tags = f" [{', '.join(spec.tags)}]" if spec.tags else ""
        print(f"{name:40s} {spec.family:10s} fill={spec.contract.fill:9s}{tags}")
    return 0


def cmd_scenarios(args: argparse.Namespace) -> int:
    from harness.build import build_scenarios

    outcomes = build_scenarios(args.scenario or None, update=args.update)
    changed = [o for o in outcomes if o.changed]
    if changed and not args.update:
        print(f"{len(changed)} scenario(s) differ from a rebuild of their specs; "
              "review, then run `nox -s scenarios -- --update` to store the rebuilt inputs", file=sys.stderr)
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from harness.runner import run_engine

    ok = run_engine(args.engine, _select(args), runs_root=Path(args.runs_root))
    return 0 if ok else 1


def cmd_gate(args: argparse.Namespace) -> int:
    from harness.gate import validate
    from harness.report import table, write_reports

    comparisons = validate(_engines(args), _select(args), runs_root=Path(args.runs_root),
                           golden_root=Path(args.golden_root))
    out = Path(args.out)
    write_reports(comparisons, out)
    print(table(comparisons))
    failing = [c for c in comparisons if not c.passed]
    for c in failing:
        print(f"\n{c.status.upper()} {c.scenario} / {c.engine}:")
        for p in c.problems:
            print(f"  - {p}")
        for m in c.moved[:5]:
            print(f"  moved: {m.asset} {m.side} ({m.reason}) expected at bar {m.expected_bar}, obtained at bar {m.obtained_bar}")
        for f in c.missing[:5]:
            print(f"  missing: {f.asset} bar {f.bar} {f.side} ({f.reason}) {f.size!r} @ {f.price!r}")
        for f in c.extra[:5]:
            print(f"  extra: {f.asset} bar {f.bar} {f.side} ({f.reason}) {f.size!r} @ {f.price!r}")
        for r in c.rejections_missing[:5]:
            print(f"  rejection missing: {r.asset} bar {r.bar} {r.side} {r.size!r} (the engine did not reject it)")
        for r in c.rejections_extra[:5]:
            print(f"  rejection extra: {r.asset} bar {r.bar} {r.side} {r.size!r}")
        for d in c.field_diffs[:5]:
            print(f"  {d.field}: {d.asset} bar {d.bar} {d.side} ({d.reason}) expected {d.expected!r}, obtained {d.obtained!r} (relative {d.rel:.3g})")
    print(f"\nreports: {display_path(out / 'report.md')}, {display_path(out / 'summary.json')}")
    return 0 if comparisons and not failing else 1


def cmd_golden(args: argparse.Namespace) -> int:
    from harness import golden
    from harness.gate import engine_results

    engines = _engines(args)
    names = _select(args)
    per_scenario: dict[str, dict] = {n: {} for n in names}
    problems: list[str] = []
    for engine in engines:
        for name, result in engine_results(engine, names):
            if isinstance(result, str):
                problems.append(f"{name}: {result}")
            else:
                per_scenario[name][engine] = result
    written = 0
    for name in names:
        results = per_scenario[name]
        if len(results) != len(engines):
            continue
        if not results.get("reference") or not results["reference"].fills:
            problems.append(f"{name}: the reference engine made no fills; a golden result must have fills to compare")
            continue
        try:
            golden.write(name, results)
            written += 1
            print(f"{name:40s} written ({', '.join(sorted(results))} agree)")
        except golden.DisagreementError as exc:
            problems.append(str(exc))
            for c in exc.disagreements:
                for p in c.problems:
                    problems.append(f"    {c.engine}: {p}")
    for p in problems:
        print(f"REFUSED {p}", file=sys.stderr)
    print(f"{written} golden result(s) written, {len(names) - written} refused")
    return 0 if written == len(names) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
        p.add_argument("--skip-tag", action="append", help="leave out scenarios with this tag (repeatable), e.g. large")

    p = sub.add_parser("list", help="list the scenario library")
    scenario_args(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("scenarios", help="rebuild inputs from specs; fail if stored files would change")
    p.add_argument("--scenario", action="append")
    p.add_argument("--update", action="store_true", help="store the rebuilt inputs and their hashes")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("run", help="run one engine on the scenarios, writing reports/runs/<engine>/")
    p.add_argument("--engine", required=True)
    p.add_argument("--runs-root", default=str(REPORTS_DIR / "runs"), help=argparse.SUPPRESS)
    scenario_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("gate", help="compare every engine's last run with the goldens; write reports/latest")
    p.add_argument("--engine", action="append", help="only this engine (repeatable); default: all")
    p.add_argument("--out", default=str(REPORTS_DIR / "latest"))
    p.add_argument("--runs-root", default=str(REPORTS_DIR / "runs"), help="where the engines' runs are")
    p.add_argument("--golden-root", default=str(REPORTS_DIR.parent / "golden"), help="where the goldens are")
    scenario_args(p)
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("golden", help="write goldens from the reference run where every engine agrees")
    p.add_argument("--engine", action="append", help=argparse.SUPPRESS)
    scenario_args(p)
    p.set_defaults(func=cmd_golden)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
