"""The comparator: one engine's result against the expected (golden) result.

Fills are paired by identity ``(asset, bar, side, reason)``, never by list
position. Unpaired fills with the same ``(asset, side, reason)`` on both sides
are paired in bar order and reported as *moved*; what is left is *missing*
(expected only) or *extra* (obtained only). Paired fills are compared field by
field at :data:`harness.contract.TOLERANCES`. This module imports no framework.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from harness.contract import TOLERANCES, Tolerances
from harness.results import Fill, Rejection, RunResult

__all__ = ["FieldDiff", "MovedFill", "EquityDiff", "Comparison", "compare_results", "rel_diff", "STATUSES",
           "GATE_OK", "gate_passed", "error", "unsupported", "first_divergence"]

Status = Literal["pass", "explained", "unsupported", "fail", "error"]
STATUSES: tuple[str, ...] = get_args(Status)
# A check in one of these does not fail the gate. `unsupported` is never counted as passed.
GATE_OK = frozenset({"pass", "explained", "unsupported"})


def rel_diff(expected: float, obtained: float) -> float:
    """|obtained - expected| relative to the larger magnitude; 0 when equal."""
    if expected == obtained:
        return 0.0
    return abs(obtained - expected) / max(abs(expected), abs(obtained))


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """A paired fill whose ``field`` differs beyond its tolerance."""

    asset: str
    bar: int
    side: str
    reason: str
    field: str
    expected: float
    obtained: float
    rel: float
    tolerance: float


@dataclass(frozen=True, slots=True)
class MovedFill:
    asset: str
    side: str
    reason: str
    expected_bar: int
    obtained_bar: int


@dataclass(frozen=True, slots=True)
class EquityDiff:
    bar: int
    timestamp: str
    expected: float
    obtained: float
    rel: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """The verdict for one (scenario, engine) pair, with every difference found."""

    scenario: str
    engine: str
    status: Status
    problems: tuple[str, ...] = ()  # one line each: why the status is not pass
    mode: str = "contract"
    matched: int = 0
    missing: tuple[Fill, ...] = ()
    extra: tuple[Fill, ...] = ()
    moved: tuple[MovedFill, ...] = ()
    rejections_matched: int = 0
    rejections_missing: tuple[Rejection, ...] = ()
    rejections_extra: tuple[Rejection, ...] = ()
    rejections_moved: tuple[MovedFill, ...] = ()
    field_diffs: tuple[FieldDiff, ...] = ()
    equity_diffs: tuple[EquityDiff, ...] = ()
    max_rel: dict[str, float] = field(default_factory=dict)  # field -> largest relative difference seen
    final_value_expected: float | None = None
    final_value_obtained: float | None = None
    framework_version: str | None = None
    # What the run was judged against: "golden" (contract mode) or "reference + profile" (stock mode).
    basis: str = "golden"
    knob: str | None = None  # unsupported: the knob the engine cannot express
    # explained stock runs: per profile knob, the fills it moves relative to the contract run
    explanation: tuple[dict[str, Any], ...] = ()
    # failing runs: the root-cause search's finding
    root_cause: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """Matched exactly what it is judged against (unsupported is never passed)."""
        return self.status in ("pass", "explained")

    @property
    def gate_ok(self) -> bool:
        return self.status in GATE_OK

    @property
    def differs(self) -> bool:
        """Any difference at all between the two results (problems aside)."""
        return bool(self.moved or self.missing or self.extra or self.rejections_moved or self.rejections_missing
                    or self.rejections_extra or self.field_diffs or self.equity_diffs)


def gate_passed(checks) -> bool:
    """The gate's verdict, computed here only: at least one check, and none failed or errored."""
    checks = list(checks)
    return bool(checks) and all(c.gate_ok for c in checks)


def error(scenario: str, engine: str, message: str, mode: str = "contract") -> Comparison:
    return Comparison(scenario=scenario, engine=engine, status="error", problems=(message,), mode=mode)


def unsupported(scenario: str, engine: str, mode: str, knob: str, why: str) -> Comparison:
    return Comparison(scenario=scenario, engine=engine, status="unsupported", mode=mode, knob=knob,
                      problems=(f"unsupported: {knob}: {why}",))


def _pair_records(expected, obtained):
    """Pair fills (or rejections) by identity; then same asset/side/reason at other bars as moved."""
    exp_by_key = {f.key: f for f in expected}
    obt_by_key = {f.key: f for f in obtained}
    pairs = [(exp_by_key[k], obt_by_key[k]) for k in sorted(exp_by_key.keys() & obt_by_key.keys())]
    lone_exp: dict[tuple, list[Fill]] = defaultdict(list)
    lone_obt: dict[tuple, list[Fill]] = defaultdict(list)
    for f in expected:
        if f.key not in obt_by_key:
            lone_exp[(f.asset, f.side, f.reason)].append(f)
    for f in obtained:
        if f.key not in exp_by_key:
            lone_obt[(f.asset, f.side, f.reason)].append(f)
    moved, missing, extra = [], [], []
    for group in sorted(lone_exp.keys() | lone_obt.keys()):
        exp_list = sorted(lone_exp.get(group, []), key=lambda f: f.bar)
        obt_list = sorted(lone_obt.get(group, []), key=lambda f: f.bar)
        n = min(len(exp_list), len(obt_list))
        moved += [MovedFill(e.asset, e.side, e.reason, e.bar, o.bar) for e, o in zip(exp_list[:n], obt_list[:n])]
        missing += exp_list[n:]
        extra += obt_list[n:]
    return pairs, moved, missing, extra


def compare_results(expected: RunResult, obtained: RunResult, tol: Tolerances = TOLERANCES, *,
                    check_contract: bool = True) -> Comparison:
    """Compare ``obtained`` with ``expected``; every difference is listed, none is hidden.

    ``check_contract=False`` compares outcomes only (a search trying other contracts).
    """
    problems: list[str] = []
    if dict(expected.inputs) != dict(obtained.inputs):
        problems.append(f"input hashes differ: expected {dict(expected.inputs)}, run used {dict(obtained.inputs)}")
    if check_contract and dict(expected.contract) != dict(obtained.contract):
        problems.append(f"contract knobs differ: expected {dict(expected.contract)}, run used {dict(obtained.contract)}")
    if not expected.fills and not expected.rejections:
        problems.append("the expected result has no fills and no rejections: there is nothing to compare")

    pairs, moved, missing, extra = _pair_records(expected.fills, obtained.fills)
    r_pairs, r_moved, r_missing, r_extra = _pair_records(expected.rejections, obtained.rejections)
    field_tol = {"size": tol.size_rel, "price": tol.price_rel, "fee": tol.fee_rel}
    max_rel = {name: 0.0 for name in (*field_tol, "equity", "final_value")}
    field_diffs = []
    for exp, obt in pairs:
        if exp.timestamp != obt.timestamp:
            problems.append(f"fill {exp.key}: timestamp {obt.timestamp!r}, expected {exp.timestamp!r}")
        for name, limit in field_tol.items():
            r = rel_diff(getattr(exp, name), getattr(obt, name))
            max_rel[name] = max(max_rel[name], r)
            if r > limit:
                field_diffs.append(FieldDiff(exp.asset, exp.bar, exp.side, exp.reason, name,
                                             getattr(exp, name), getattr(obt, name), r, limit))

    for exp, obt in r_pairs:
        r = rel_diff(exp.size, obt.size)
        max_rel["size"] = max(max_rel["size"], r)
        if r > tol.size_rel:
            field_diffs.append(FieldDiff(exp.asset, exp.bar, exp.side, exp.reason, "rejected size",
                                         exp.size, obt.size, r, tol.size_rel))

    equity_diffs = []
    if expected.timestamps != obtained.timestamps:
        problems.append(f"bars differ: expected {len(expected.timestamps)} bars "
                        f"({expected.timestamps[0]}..{expected.timestamps[-1]}), obtained {len(obtained.timestamps)}")
    else:
        for bar, (ts, e, o) in enumerate(zip(expected.timestamps, expected.equity, obtained.equity)):
            r = rel_diff(e, o)
            max_rel["equity"] = max(max_rel["equity"], r)
            if r > tol.value_rel:
                equity_diffs.append(EquityDiff(bar, ts, e, o, r))

    r_final = rel_diff(expected.final_value, obtained.final_value)
    max_rel["final_value"] = r_final
    if r_final > tol.value_rel:
        problems.append(f"final value {obtained.final_value!r}, expected {expected.final_value!r} "
                        f"(relative difference {r_final:.3g} > {tol.value_rel:g})")
    if moved:
        problems.append(f"{len(moved)} fill(s) moved to another bar")
    if missing:
        problems.append(f"{len(missing)} expected fill(s) missing")
    if extra:
        problems.append(f"{len(extra)} unexpected extra fill(s)")
    if r_moved:
        problems.append(f"{len(r_moved)} rejected order(s) moved to another bar")
    if r_missing:
        problems.append(f"{len(r_missing)} expected rejection(s) missing (the engine filled or skipped them)")
    if r_extra:
        problems.append(f"{len(r_extra)} unexpected rejection(s)")
    if field_diffs:
        problems.append(f"{len(field_diffs)} fill field(s) beyond tolerance")
    if equity_diffs:
        problems.append(f"equity differs beyond tolerance on {len(equity_diffs)} bar(s), first at bar {equity_diffs[0].bar}")

    return Comparison(
        scenario=expected.scenario,
        engine=obtained.engine,
        mode=obtained.mode,
        status="fail" if problems else "pass",
        problems=tuple(problems),
        matched=len(pairs),
        missing=tuple(missing),
        extra=tuple(extra),
        moved=tuple(moved),
        rejections_matched=len(r_pairs),
        rejections_missing=tuple(r_missing),
        rejections_extra=tuple(r_extra),
        rejections_moved=tuple(r_moved),
        field_diffs=tuple(field_diffs),
        equity_diffs=tuple(equity_diffs),
        max_rel=max_rel,
        final_value_expected=expected.final_value,
        final_value_obtained=obtained.final_value,
        framework_version=obtained.framework_version,
    )


def first_divergence(c: Comparison) -> dict[str, Any] | None:
    """The earliest differing fill or rejection of a comparison: kind, asset, bar (None: no difference)."""
    found: list[tuple[int, str, str, dict[str, Any]]] = []
    for m in c.moved:
        found.append((min(m.expected_bar, m.obtained_bar), m.asset, "moved",
                      {"expected_bar": m.expected_bar, "obtained_bar": m.obtained_bar, "side": m.side, "reason": m.reason}))
    for f in c.missing:
        found.append((f.bar, f.asset, "missing", {"side": f.side, "reason": f.reason, "size": f.size, "price": f.price}))
    for f in c.extra:
        found.append((f.bar, f.asset, "extra", {"side": f.side, "reason": f.reason, "size": f.size, "price": f.price}))
    for d in c.field_diffs:
        found.append((d.bar, d.asset, "changed", {"side": d.side, "reason": d.reason, "field": d.field,
                                                  "expected": d.expected, "obtained": d.obtained}))
    for m in c.rejections_moved:
        found.append((min(m.expected_bar, m.obtained_bar), m.asset, "rejection moved",
                      {"expected_bar": m.expected_bar, "obtained_bar": m.obtained_bar}))
    for r in c.rejections_missing:
        found.append((r.bar, r.asset, "rejection missing", {"side": r.side, "size": r.size}))
    for r in c.rejections_extra:
        found.append((r.bar, r.asset, "rejection extra", {"side": r.side, "size": r.size}))
    if not found and c.equity_diffs:
        e = c.equity_diffs[0]
        found.append((e.bar, "(portfolio)", "equity", {"expected": e.expected, "obtained": e.obtained}))
    if not found:
        return None
    bar, asset, kind, detail = min(found, key=lambda x: (x[0], x[1], x[2]))
    return {"bar": bar, "asset": asset, "kind": kind, **detail}
