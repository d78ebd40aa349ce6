"""Command line: ``python -m harness <verb>``.

Verbs: ``list`` (scenarios), ``engines`` (the registry), ``scenarios`` (rebuild or
check inputs), ``run`` (one engine, its modes), ``gate`` (judge the runs, write
reports/latest), ``golden`` (rewrite goldens where every engine agrees),
``new-engine`` (the skeleton of your own engine). Exit codes: 0 success, 1 a
check failed, 2 bad input or usage (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.errors import HarnessError, display_path

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
REPORTS_DIR = ROOT / "reports"


def _select(args: argparse.Namespace) -> list[str]:
    from harness.scenario import SCENARIOS_DIR, load_spec, scenario_names

    known = scenario_names()
    if not known:
        raise HarnessError(f"no scenarios found under {display_path(SCENARIOS_DIR)}")
    chosen = args.scenario or known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise HarnessError(f"unknown scenario(s): {', '.join(unknown)}; `python -m harness list` shows them")
    skip = set(args.skip_tag or [])
    if skip:
        chosen = [n for n in chosen if not skip & set(load_spec(SCENARIOS_DIR / n, require_inputs=False).tags)]
    return sorted(chosen)


def _gate_engines(args: argparse.Namespace) -> list[str]:
    from harness.registry import engine_entries

    entries = engine_entries()
    chosen = args.engine or [name for name, e in entries.items() if e.gate]
    unknown = [e for e in chosen if e not in entries]
    if unknown:
        raise HarnessError(f"unknown engine(s): {', '.join(unknown)}; registered: {', '.join(entries)}")
    return chosen


def cmd_list(args: argparse.Namespace) -> int:
    from harness.scenario import SCENARIOS_DIR, load_spec

    for name in _select(args):
        spec = load_spec(SCENARIOS_DIR / name, require_inputs=False)
        tags = f" [{', '.join(spec.tags)}]" if spec.tags else ""
        print(f"{name:40s} {spec.family:10s} fill={spec.contract.fill:9s}{tags}")
    return 0


def cmd_engines(args: argparse.Namespace) -> int:
    import json

    from harness.registry import engine_entries

    entries = {n: e for n, e in engine_entries().items() if e.gate or not args.gate}
    if args.json:  # a CI matrix: one object per engine
        print(json.dumps([{"name": n, "python": e.python, "modes": list(e.modes)} for n, e in entries.items()]))
        return 0
    for name, e in entries.items():
        print(f"{name:12s} module={e.module:24s} group={e.group:12s} python={e.python:5s} "
              f"modes={','.join(e.modes):16s} gate={'yes' if e.gate else 'no'}")
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
    from harness.runner import default_jobs, run_engine

    if args.jobs is None:
        args.jobs = default_jobs()
    ok = run_engine(args.engine, _select(args), modes=args.mode, runs_root=Path(args.runs_root), quiet=args.quiet,
                    jobs=args.jobs)
    return 0 if ok else 1


def cmd_gate(args: argparse.Namespace) -> int:
    from harness.report import error_reports, table, write_reports

    out = Path(args.out)
    try:
        from harness.gate import validate

        gate = validate(_gate_engines(args), _select(args), runs_root=Path(args.runs_root),
                        golden_root=Path(args.golden_root), search=not args.no_search,
                        log=None if args.quiet else print)
    except HarnessError as exc:
        error_reports(str(exc), out)  # never leave an older pass behind
        raise
    write_reports(gate.checks, out, gate.engines, gate.pair_views, gate.notices,
                  timings=_timings(Path(args.runs_root), list(gate.engines), _select(args)))
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as fh:
            fh.write((out / "report.md").read_text(encoding="utf-8"))
    print(table(gate.checks, gate.notices))
    failing = [c for c in gate.checks if not c.gate_ok]
    for c in failing[:20]:
        print(f"\n{c.status.upper()} {c.scenario} / {c.engine} / {c.mode}:")
        for p in c.problems[:6]:
            print(f"  - {p}")
    if len(failing) > 20:
        print(f"\n({len(failing) - 20} more failing checks in the report)")
    print(f"\nreports: {display_path(out / 'report.md')}, {display_path(out / 'report.html')}, "
          f"{display_path(out / 'summary.json')}, {display_path(out / 'junit.xml')}; "
          f"run times: {display_path(out / 'timings.md')}")
    from harness.compare import gate_passed

    return 0 if gate_passed(gate.checks) else 1


def _timings(runs_root: Path, engines: list[str], names: list[str]) -> str:
    import json

    from harness.report import timings_markdown
    from harness.runner import read_run
    from harness.scenario import SCENARIOS_DIR, load_spec

    timings, statuses = {}, {}
    for engine in engines:
        path = runs_root / engine / "timings.json"
        if path.is_file():
            timings[engine] = json.loads(path.read_text(encoding="utf-8"))
            statuses[engine] = {mode: {name: outcome.get("status") for name, outcome in per.items()}
                                for mode, per in read_run(engine, runs_root).get("results", {}).items()}
    large = [n for n in names if "large" in load_spec(SCENARIOS_DIR / n, require_inputs=False).tags]
    return timings_markdown(timings, large, statuses)


def cmd_golden(args: argparse.Namespace) -> int:
    """Check (default) or write the goldens from the engines' last contract-mode runs."""
    from harness import golden
    from harness.report import _difference_rows
    from harness.results import RunResult
    from harness.runner import load_run_result, read_run, scenario_outcome
    from harness.scenario import SCENARIOS_DIR, load_spec

    engines = _gate_engines(args)
    names = _select(args)
    runs_root = Path(args.runs_root)
    per_scenario: dict[str, dict[str, RunResult]] = {n: {} for n in names}
    blocked: dict[str, list[str]] = {n: [] for n in names}
    for engine in engines:
        record = read_run(engine, runs_root)
        for name in names:
            outcome = scenario_outcome(record, "contract", name)
            if outcome["status"] == "ok":
                per_scenario[name][engine] = load_run_result(engine, "contract", name, runs_root)
            elif outcome["status"] == "error":
                blocked[name].append(f"{engine}: {outcome['error']}")
    specs = {n: load_spec(SCENARIOS_DIR / n) for n in names}
    ready = {n: r for n, r in per_scenario.items() if not blocked[n]}
    reviews = golden.review(ready, specs, root=Path(args.golden_root), write=args.write)
    verb = "written" if args.write else "would change"
    for r in reviews:
        if r.state == "current":
            if not args.quiet:
                print(f"{r.scenario:40s} current")
            continue
        shown = {"new": "new" if args.write else "would be new", "changed": verb, "refused": "REFUSED"}[r.state]
        print(f"{r.scenario:40s} {shown}")
        for note in r.notes:
            print(f"    {note}")
        if r.diff is not None:
            for row in _difference_rows(r.diff)[:20]:
                print("    " + " | ".join(row))
    for name, why in blocked.items():
        if why:
            print(f"{name:40s} REFUSED (an engine failed)")
            for line in why:
                print(f"    {line}")
    changing = [r for r in reviews if r.changes]
    refused = [r for r in reviews if r.state == "refused"] + [n for n, why in blocked.items() if why]
    print(f"{len(reviews) - len(changing) - len([r for r in reviews if r.state == 'refused'])} current, "
          f"{len(changing)} {verb}, {len(refused)} refused")
    if not args.write and changing:
        print("review the differences above; `nox -s golden -- --write` stores them (say why in the commit)")
    return 1 if refused or (changing and not args.write) else 0


def cmd_docs(args: argparse.Namespace) -> int:
    from harness.docs import update_readme

    changed = update_readme(Path(args.runs_root))
    print("README.md rewritten" if changed else "README.md is up to date")
    return 0


def cmd_new_engine(args: argparse.Namespace) -> int:
    from harness.scaffold import new_engine

    for line in new_engine(args.name, python=args.python, framework=args.framework):
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)

    def scenario_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scenario", action="append", help="only this scenario (repeatable)")
        p.add_argument("--skip-tag", action="append", help="leave out scenarios with this tag (repeatable), e.g. large")

    p = sub.add_parser("list", help="list the scenario library")
    scenario_args(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("engines", help="list the registered engines")
    p.add_argument("--gate", action="store_true", help="only those the default gate runs")
    p.add_argument("--json", action="store_true", help="as JSON (a CI matrix)")
    p.set_defaults(func=cmd_engines)

    p = sub.add_parser("scenarios", help="rebuild inputs from specs; fail if stored files would change")
    p.add_argument("--scenario", action="append")
    p.add_argument("--update", action="store_true", help="store the rebuilt inputs and their hashes")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("run", help="run one engine on the scenarios, writing reports/runs/<engine>/")
    p.add_argument("--engine", required=True)
    p.add_argument("--mode", action="append", choices=("contract", "stock"), help="only this mode (default: all the engine's)")
    p.add_argument("--runs-root", default=str(REPORTS_DIR / "runs"), help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="only errors and the final line")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: every core this process may use)")
    scenario_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("gate", help="judge every engine's last run; write reports/latest")
    p.add_argument("--engine", action="append", help="only this engine (repeatable); default: the registry's gate engines")
    p.add_argument("--out", default=str(REPORTS_DIR / "latest"))
    p.add_argument("--runs-root", default=str(REPORTS_DIR / "runs"), help="where the engines' runs are")
    p.add_argument("--golden-root", default=str(ROOT / "golden"), help="where the goldens are")
    p.add_argument("--no-search", action="store_true", help="skip the root-cause search of failing checks")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    scenario_args(p)
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("golden", help="check the goldens against the engines' last runs; --write stores them")
    p.add_argument("--write", action="store_true", help="store new and changed goldens (only where every engine agrees)")
    p.add_argument("--engine", action="append", help=argparse.SUPPRESS)
    p.add_argument("--runs-root", default=str(REPORTS_DIR / "runs"), help=argparse.SUPPRESS)
    p.add_argument("--golden-root", default=str(ROOT / "golden"), help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help="do not list current goldens")
    scenario_args(p)
    p.set_defaults(func=cmd_golden)

    p = sub.add_parser("docs", help="rewrite README.md's generated sections (knobs, order of events, witness matrix)")
    p.add_argument("--runs-root", default=str(REPORTS_DIR / "runs"), help="engine runs whose witness tables to show")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("new-engine", help="write the skeleton of a new engine and register it")
    p.add_argument("name", help="engine name: lowercase letters, digits and _")
    p.add_argument("--framework", help="the distribution it runs (default: the name)")
    p.add_argument("--python", default="3.11", help="its Python version (default 3.11)")
    p.set_defaults(func=cmd_new_engine)
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
