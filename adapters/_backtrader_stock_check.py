"""Is every stock-Backtrader result explained by its profile? Per scenario, per knob.

Run in the reference environment (numba), from the repository root::

    python -m adapters._backtrader_stock_check --bt-python <backtrader venv>/bin/python
    python -m adapters._backtrader_stock_check --runs reports/stock/backtrader   # reuse stored stock runs

With ``--bt-python`` it first runs ``python -m adapters._backtrader_stock`` in
the Backtrader environment, which writes each scenario's stock result (or the
knob it cannot express) under ``--runs``. Then, per scenario, it prints:

* ``unsupported <knob> = <value>``: the public API cannot express it;
* ``explained``: the reference engine under the scenario's contract plus
  :data:`adapters._backtrader_stock_profile.PROFILE` gives the same fills,
  rejections, equity and final value at the gate's tolerances
  (``harness.contract.TOLERANCES``, never widened);
* ``DIFFERENT``: it does not; the first divergent fill is printed.

and, per profile knob, ``alone/needed``: how many fills (and rejections) the
knob moves on its own relative to the contract run (every behaviour knob at
its contract value, even one the scenario sets), and how many move when it
alone is put back to its contract value in the full profile (a knob with
``needed`` > 0 is required to explain the stock run). Exits 0 only when every supported scenario is
explained.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from adapters._backtrader_stock_profile import PROFILE
from engine.reference import run
from harness.compare import Comparison, compare_results
from harness.contract import BEHAVIOUR_DEFAULTS
from harness.results import RunResult, read_results
from harness.scenario import SCENARIOS_DIR, load_scenario, scenario_names

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = ROOT / "reports" / "stock" / "backtrader"
SHORT = {
    "stop_resolution": "stop_res", "gaps_first": "gaps_1st", "trail_arithmetic": "trail_ar",
    "stops_from": "stops_fr", "early_exit": "early_ex", "fill_ref": "fill_ref", "submit_check": "submit_c",
    "slip_take_profit": "slip_tp", "slippage_cap": "slip_cap", "whole_rounding": "whole_rd",
    "rebalance_sequence": "reb_seq",
}


def _compare(expected: RunResult, obtained: RunResult) -> Comparison:
    # The two runs differ in their recorded knobs by construction (profile vs scenario); compare the rest.
    return compare_results(replace(expected, contract=obtained.contract), obtained)


def moved(a: RunResult, b: RunResult) -> int:
    """How many fills and rejections differ between two results (moved, missing, extra or out of tolerance)."""
    c = _compare(a, b)
    fields = {(d.asset, d.bar, d.side, d.reason) for d in c.field_diffs}
    return (len(c.moved) + len(c.missing) + len(c.extra) + len(fields)
            + len(c.rejections_moved) + len(c.rejections_missing) + len(c.rejections_extra))


def first_divergence(c: Comparison) -> str:
    cands = []  # (bar, text); a fill before the equity it moves
    for f in c.missing:
        cands.append((f.bar, f"missing {f.side} {f.reason} bar {f.bar} @ {f.price!r}"))
    for f in c.extra:
        cands.append((f.bar, f"extra {f.side} {f.reason} bar {f.bar} @ {f.price!r}"))
    for m in c.moved:
        cands.append((min(m.expected_bar, m.obtained_bar),
                      f"moved {m.side} {m.reason} bar {m.expected_bar} -> {m.obtained_bar}"))
    for d in c.field_diffs:
        cands.append((d.bar, f"{d.side} {d.reason} bar {d.bar} {d.field} {d.expected!r} -> {d.obtained!r}"))
    for r in (*c.rejections_missing, *c.rejections_extra):
        cands.append((r.bar, f"rejection {r.side} bar {r.bar} on one side only"))
    if c.equity_diffs:
        e = c.equity_diffs[0]
        cands.append((e.bar + 0.5, f"equity bar {e.bar}: {e.expected!r} -> {e.obtained!r}"))
    if not cands:
        return "; ".join(c.problems)
    return min(cands)[1]


def produce(bt_python: str, runs: Path, names: list[str]) -> None:
    cmd = [bt_python, "-m", "adapters._backtrader_stock", "--out", str(runs)]
    for n in names:
        cmd += ["--scenario", n]
    subprocess.run(cmd, cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                   stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters._backtrader_stock_check")
    parser.add_argument("--bt-python", help="the Backtrader environment's python: run the stock scenarios first")
    parser.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="where the stock results are")
    parser.add_argument("--scenario", action="append", default=None)
    args = parser.parse_args(argv)
    names = args.scenario or scenario_names()
    if args.bt_python:
        produce(args.bt_python, args.runs, names)

    knobs = list(PROFILE)
    print(f"profile: {json.dumps(PROFILE)}")
    print("per knob: fills moved alone (contract + knob vs contract) / needed (profile - knob vs stock)")
    header = f"{'scenario':44} {'stock':12} " + " ".join(f"{SHORT[k]:>9}" for k in knobs)
    print(header)
    failures = 0
    totals = {k: [0, 0] for k in knobs}
    for name in names:
        scenario = load_scenario(SCENARIOS_DIR / name)
        folder = args.runs / name
        record_path = folder / "stock.json"
        if not record_path.is_file():
            print(f"{name:44} MISSING (no stock run under {folder})")
            failures += 1
            continue
        record = json.loads(record_path.read_text())
        if record["status"] == "unsupported":
            print(f"{name:44} unsupported  [{record['knob']}] = {record['value']!r}: {record['why']}")
            continue
        stock = read_results(folder)
        contract_run = run(scenario, BEHAVIOUR_DEFAULTS)  # every behaviour knob at the contract's value
        profiled = run(scenario, PROFILE)
        verdict = _compare(profiled, stock)
        cells = []
        for k in knobs:
            alone = moved(contract_run, run(scenario, {**BEHAVIOUR_DEFAULTS, k: PROFILE[k]}))
            needed = moved(stock, run(scenario, {**PROFILE, k: BEHAVIOUR_DEFAULTS[k]}))
            totals[k][0] += alone
            totals[k][1] += needed
            cells.append(f"{alone:>4}/{needed:<4}")
        status = "explained" if verdict.passed else "DIFFERENT"
        print(f"{name:44} {status:12} " + " ".join(cells))
        if not verdict.passed:
            failures += 1
            print(f"{'':44} first divergence: {first_divergence(verdict)}")
        if record.get("events"):
            print(f"{'':44} broker events: {'; '.join(record['events'])}")
    print(f"{'total':44} {'':12} " + " ".join(f"{a:>4}/{n:<4}" for a, n in totals.values()))
    print("all supported scenarios explained" if not failures else f"{failures} scenario(s) not explained")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
