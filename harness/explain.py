"""Why two runs differ: profile attribution, root-cause search and the engine-versus-engine view.

Everything here re-runs the reference engine (``engine.reference.simulate``)
under changed contracts and compares outcomes with :mod:`harness.compare`; it
imports no framework. The reference engine is imported lazily, so the
comparator and the reports work without numba.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Iterable

import numpy as np

from harness.compare import Comparison, compare_results, first_divergence
from harness.contract import COST_EXTRAS, KNOB_BY_FIELD, KNOBS, Contract, knob_key, toml_value
from harness.results import Fill, RunResult, build_result
from harness.scenario import Scenario

__all__ = ["reference_result", "changed_fills", "profile_effects", "search_root_cause", "Change",
           "candidate_changes", "neighbourhood", "engine_pair_view"]

NEIGHBOUR_STEPS = (-1, 1)  # integer knobs (max_bars) are searched at these offsets
MAX_LISTED_FILLS = 20


def reference_result(scenario: Scenario, contract: Contract) -> RunResult:
    """The reference engine's canonical result for ``scenario`` under ``contract``."""
    from engine.reference import simulate  # needs numba: only the gate's venv has it

    out = simulate(scenario, contract)
    return build_result(scenario, engine="reference", framework="numba", framework_version=version("numba"),
                        contract=contract, fills=out.fills, equity=out.equity, final_value=out.final_value,
                        rejections=out.rejections)


def _describe(f: Fill | None) -> str:
    return "-" if f is None else f"{f.side} {f.size!r} @ {f.price!r} ({f.reason})"


def changed_fills(base: RunResult, other: RunResult) -> list[dict[str, Any]]:
    """Each fill position where ``other`` differs from ``base``: asset, bar, side, both versions.

    A fill that moved to another bar counts once (both bars named); a fill that
    changed reason or price on the same bar counts once.
    """
    c = compare_results(base, other, check_contract=False)
    rows: list[dict[str, Any]] = []
    base_at = {(f.asset, f.bar, f.side): f for f in base.fills}
    other_at = {(f.asset, f.bar, f.side): f for f in other.fills}
    for m in c.moved:
        b = base_at.get((m.asset, m.expected_bar, m.side))
        o = other_at.get((m.asset, m.obtained_bar, m.side))
        rows.append({"asset": m.asset, "bar": m.expected_bar, "to_bar": m.obtained_bar, "side": m.side,
                     "contract": _describe(b), "changed": _describe(o)})
    touched = {(r["asset"], r["bar"], r["side"]) for r in rows} | {(r["asset"], r["to_bar"], r["side"]) for r in rows}
    positions = sorted({(f.asset, f.bar, f.side) for f in (*c.missing, *c.extra)}
                       | {(d.asset, d.bar, d.side) for d in c.field_diffs} - touched,
                       key=lambda k: (k[1], k[0], k[2]))
    for asset, bar, side in positions:
        rows.append({"asset": asset, "bar": bar, "to_bar": bar, "side": side,
                     "contract": _describe(base_at.get((asset, bar, side))),
                     "changed": _describe(other_at.get((asset, bar, side)))})
    rows.sort(key=lambda r: (min(r["bar"], r["to_bar"]), r["asset"], r["side"]))
    return rows


def profile_effects(scenario: Scenario, contract: Contract, judged: Contract,
                    contract_run: RunResult) -> list[dict[str, Any]]:
    """Per knob where ``judged`` (contract + profile) departs from ``contract``: the fills it moves alone.

    Each entry: knob, value, contract value, fills_moved, the moved fills (first
    few), and the final-value difference it causes relative to the contract run.
    """
    effects = []
    for field, value in judged.as_dict().items():
        if getattr(contract, field) == value:
            continue
        alone = reference_result(scenario, contract.replace(**{field: value}))
        rows = changed_fills(contract_run, alone)
        effects.append({
            "knob": knob_key(field), "field": field, "value": value, "contract_value": getattr(contract, field),
            "fills_moved": len(rows), "fills": rows[:MAX_LISTED_FILLS],
            "final_value_delta": alone.final_value - contract_run.final_value,
        })
    return effects


# ------------------------------------------------------------------------ search


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    value: Any

    def __str__(self) -> str:
        shown = "off" if self.value is None else toml_value(self.value)
        return f"{KNOB_BY_FIELD[self.field].name} = {shown}"


def candidate_changes(contract: Contract) -> list[Change]:
    """Every single-knob change worth trying: each other value of an enumerated knob, integer
    knobs at their neighbours, a rule switched off, a cost set to zero."""
    out: list[Change] = []
    for knob in KNOBS:
        current = getattr(contract, knob.field)
        if knob.field in ("sizing_mode", "cash", "size", "fraction", "value"):
            continue  # changing what is traded is not an execution rule
        if knob.choices:
            if current is None:
                continue
            out += [Change(knob.field, v) for v in knob.choices if v != current]
        elif knob.kind is int and current is not None:
            out += [Change(knob.field, current + step) for step in NEIGHBOUR_STEPS if current + step >= 1]
            out.append(Change(knob.field, None))
        elif knob.field in ("fee", "slippage", *COST_EXTRAS):
            if current:
                out.append(Change(knob.field, 0.0))
        elif current is not None and not knob.required:
            out.append(Change(knob.field, None))
    return out


def _apply(contract: Contract, changes: Iterable[Change]) -> Contract | None:
    try:
        return contract.replace(**{c.field: c.value for c in changes})
    except ValueError:
        return None  # not a valid contract (e.g. trail_source without a trailing stop is fine; units in fixed mode is not)


def neighbourhood(contract: Contract) -> Iterable[tuple[Change, ...]]:
    singles = candidate_changes(contract)
    for c in singles:
        yield (c,)
    for a, b in itertools.combinations(singles, 2):
        if a.field != b.field:
            yield (a, b)


def search_root_cause(scenario: Scenario, base: Contract, obtained: RunResult,
                      expected: RunResult) -> dict[str, Any]:
    """Re-run the reference engine with each single change of ``base``, then each pair, and report
    every configuration that reproduces ``obtained`` exactly (fills, rejections, equity, final value).

    ``expected`` is what the run was judged against (the golden, or the reference
    under a profile). When the reference engine under ``base`` itself reproduces
    ``obtained``, the search stops there: what differs is ``expected`` (a stale or
    edited golden). Pairs are tried only from changes that alter the outcome, and
    a pair is reported only when neither of its changes reproduces ``obtained``
    alone. Every finding carries the first divergent fill, the OHLC of the bars
    around it and both runs' fills there.
    """
    started = time.perf_counter()
    base_run = reference_result(scenario, base)
    tried = 1
    finding: dict[str, Any] = {"explained_by": [], "first_divergence": divergence_context(scenario, expected, obtained)}
    if not compare_results(base_run, obtained, check_contract=False).problems:
        finding.update(verdict="golden", configurations_tried=tried, seconds=round(time.perf_counter() - started, 3),
                       note="the reference engine under the scenario's own contract reproduces this run exactly: "
                            "what differs is the golden result (stale, or edited by hand); compare it with "
                            "`nox -s golden` and say why it moved")
        return finding
    effective: list[Change] = []
    explained: list[list[str]] = []
    for change in candidate_changes(base):
        contract = _apply(base, (change,))
        if contract is None:
            continue
        tried += 1
        trial = reference_result(scenario, contract)
        if not compare_results(base_run, trial, check_contract=False).differs:
            continue  # changes nothing in this scenario
        effective.append(change)
        if not compare_results(trial, obtained, check_contract=False).problems:
            explained.append([str(change)])
    alone = {c[0] for c in explained}
    for a, b in itertools.combinations(effective, 2):
        if a.field == b.field or str(a) in alone or str(b) in alone:
            continue
        contract = _apply(base, (a, b))
        if contract is None:
            continue
        tried += 1
        trial = reference_result(scenario, contract)
        if not compare_results(trial, obtained, check_contract=False).problems:
            explained.append([str(a), str(b)])
    finding.update(explained_by=explained, verdict="explained" if explained else "unexplained",
                   configurations_tried=tried, seconds=round(time.perf_counter() - started, 3))
    return finding


def divergence_context(scenario: Scenario, expected: RunResult, obtained: RunResult,
                       radius: int = 2) -> dict[str, Any] | None:
    """The first divergent fill, the OHLC of the ``2 * radius + 1`` bars around it, and each side's fills there."""
    first = first_divergence(compare_results(expected, obtained, check_contract=False))
    if first is None:
        return None
    market = scenario.market
    bar = first["bar"]
    asset = first["asset"]
    lo, hi = max(0, bar - radius), min(market.n_bars - 1, bar + radius)
    bars = []
    if asset in market.assets:
        j = market.assets.index(asset)
        for i in range(lo, hi + 1):
            bars.append({"bar": i, "timestamp": market.timestamps[i],
                         **{k: _num(getattr(market, k)[i, j]) for k in ("open", "high", "low", "close")}})

    def around(result: RunResult) -> list[dict[str, Any]]:
        return [{"bar": f.bar, "side": f.side, "size": f.size, "price": f.price, "reason": f.reason}
                for f in result.fills if f.asset == asset and lo <= f.bar <= hi]

    return {**first, "bars": bars, "expected_fills": around(expected), "obtained_fills": around(obtained)}


def _num(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


# -------------------------------------------------------------- engine vs engine


def engine_pair_view(scenario: Scenario, a_name: str, a_run: RunResult, a_contract: Contract,
                     b_name: str, b_run: RunResult, b_contract: Contract) -> dict[str, Any]:
    """Two engines' stock runs of one scenario: which fills differ, which knobs (where their profiles
    differ) explain it, and the final-value difference each knob causes on its own."""
    rows = changed_fills(a_run, b_run)
    a_doc, b_doc = a_contract.as_dict(), b_contract.as_dict()
    knobs = sorted({f for f in (*a_doc, *b_doc)
                    if a_doc.get(f, getattr(a_contract, f)) != b_doc.get(f, getattr(b_contract, f))})
    per_knob = []
    for field in knobs:
        switched = _apply(a_contract, (Change(field, getattr(b_contract, field)),))
        delta = None if switched is None else reference_result(scenario, switched).final_value - a_run.final_value
        per_knob.append({"knob": knob_key(field), a_name: getattr(a_contract, field), b_name: getattr(b_contract, field),
                         "final_value_delta": delta})
    return {"scenario": scenario.name, "a": a_name, "b": b_name, "fills_differ": len(rows), "fills": rows[:MAX_LISTED_FILLS],
            "final_value_a": a_run.final_value, "final_value_b": b_run.final_value,
            "final_value_difference": b_run.final_value - a_run.final_value, "knobs": per_knob}
