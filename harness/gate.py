"""The gate: every (scenario, engine, mode) run judged, and every difference explained where it can be.

- ``contract`` mode: the run is compared with the golden result: ``pass`` or ``fail``.
- ``stock`` mode: the run is compared with the reference engine under the
  scenario's contract changed by the engine's profile: ``explained`` (with the
  fills each profile knob moves) or ``fail``.
- A scenario the engine cannot express in that mode is ``unsupported`` (with the
  knob); a missing engine, a crash, a missing golden (contract mode; a stock run
  needs none) or a corrupt one, a golden or reference run without fills or
  rejections: ``error``.

Every ``fail`` gets a root-cause search (:func:`harness.explain.search_root_cause`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness import golden
from harness.compare import Comparison, compare_results, error, unsupported
from harness.contract import BEHAVIOUR_KNOBS, KNOB_BY_FIELD, Contract, knob_key
from harness.errors import HarnessError, InputError
from harness.results import RunResult
from harness.runner import RUNS_DIR, load_run_result, read_run, scenario_outcome
from harness.scenario import SCENARIOS_DIR, Scenario, load_scenario

__all__ = ["GateRun", "validate", "judged_contract"]


@dataclass(slots=True)
class GateRun:
    """Everything one gate run found: the checks in table order, plus what the reports show around them."""

    checks: list[Comparison]
    engines: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> run.json metadata (or error)
    pair_views: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # shown at the top of the report (version drift, ...)


def judged_contract(contract: Contract, recorded: dict[str, Any], engine: str) -> Contract:
    """The contract a stock run says it was judged by: the scenario's, with behaviour knobs changed only.

    Raises HarnessError if the run changed anything else (an engine may not judge itself by other costs).
    """
    behaviour = {k.field for k in BEHAVIOUR_KNOBS}
    changes = {}
    own = contract.as_dict()
    for name, value in recorded.items():
        if name not in KNOB_BY_FIELD:
            raise HarnessError(f"{engine}: its run records an unknown knob {name!r}")
        if name in behaviour:
            changes[name] = value
        elif own.get(name) != value:
            raise HarnessError(f"{engine}: its run was judged with {knob_key(name)} = {value!r}, the scenario says "
                               f"{own.get(name)!r}; only behaviour knobs may differ in a profile")
    for name in own:
        if name not in recorded:
            raise HarnessError(f"{engine}: its run does not record {knob_key(name)}")
    return contract.replace(**changes)


def _versions_drift(engine: str, meta: dict[str, Any], provenance: dict[str, Any]) -> str | None:
    agreed = provenance.get("agreed", {}).get(engine)
    if not agreed or "framework_version" not in meta:
        return None
    now = f"{meta['framework']} {meta['framework_version']}"
    return None if agreed == now else f"{engine}: goldens were agreed with {agreed}, this run used {now}"


def validate(engines: list[str], scenarios: list[str], *, runs_root: Path = RUNS_DIR,
             golden_root: Path = golden.GOLDEN_DIR, modes: dict[str, tuple[str, ...]] | None = None,
             search: bool = True, log: Callable[[str], None] | None = None) -> GateRun:
    """Judge every (scenario, engine, mode); ``modes`` maps engine -> its modes (default: the registry's)."""
    if modes is None:
        from harness.registry import engine_entries

        entries = engine_entries()
        modes = {e: entries[e].modes if e in entries else ("contract",) for e in engines}
    gate = GateRun(checks=[])
    records: dict[str, dict | str] = {}
    for engine in engines:
        try:
            records[engine] = read_run(engine, runs_root)
            gate.engines[engine] = {k: v for k, v in records[engine].items() if k != "results"}
        except HarnessError as exc:
            records[engine] = str(exc)
            gate.engines[engine] = {"error": str(exc)}
    drift: set[str] = set()
    for name in scenarios:
        checks, stock_runs = _judge_scenario(name, engines, modes, records, runs_root, golden_root, search, drift)
        gate.checks += checks
        gate.pair_views += _pair_views(name, stock_runs)
        if log is not None:
            log(f"[gate] {name:38s} " + " ".join(f"{c.engine}/{c.mode}:{c.status}" for c in checks))
    gate.notices = sorted(drift)
    return gate


def _judge_scenario(name, engines, modes, records, runs_root, golden_root, search, drift):
    checks: list[Comparison] = []
    stock_runs: dict[str, tuple[RunResult, Contract, Scenario]] = {}
    golden_missing = not (golden_root / name).is_dir()  # a stock run is judged without one (see below)
    try:
        expected = golden.load(name, golden_root)
        golden_problem = None if expected.fills or expected.rejections else (
            f"golden: {golden_root.name}/{name} has no fills and no rejections: there is nothing to compare; "
            "a scenario must make fills (change its signals or costs)")
    except InputError as exc:
        expected, golden_problem = None, f"golden: {exc}"
    scenario_cache: dict[str, Scenario | str] = {}

    def scenario() -> Scenario:
        if name not in scenario_cache:
            try:
                scenario_cache[name] = load_scenario(SCENARIOS_DIR / name)
            except InputError as exc:
                scenario_cache[name] = str(exc)
        loaded = scenario_cache[name]
        if isinstance(loaded, str):
            raise HarnessError(loaded)
        return loaded

    for engine in engines:
        record = records[engine]
        for mode in modes[engine]:
            if isinstance(record, str):
                checks.append(error(name, engine, record, mode))
                continue
            outcome = scenario_outcome(record, mode, name)
            if outcome["status"] == "unsupported":
                checks.append(unsupported(name, engine, mode, outcome["knob"], outcome["why"]))
                continue
            if outcome["status"] != "ok":
                checks.append(error(name, engine, outcome.get("error", "unknown error"), mode))
                continue
            try:
                obtained = load_run_result(engine, mode, name, runs_root)
            except InputError as exc:
                checks.append(error(name, engine, f"engine {engine} wrote an unreadable result: {exc}", mode))
                continue
            # A stock run is judged by the reference engine under its profile, not by the golden: a
            # scenario without one (a knob_* scenario) is judged all the same; a broken golden is an error.
            if golden_problem is not None and not (mode == "stock" and golden_missing):
                checks.append(error(name, engine, golden_problem, mode))
                continue
            note = expected and _versions_drift(engine, record, expected.extra.get("provenance", {}))
            if note:
                drift.add(note)
            try:
                if mode == "contract":
                    check = compare_results(expected, obtained)
                    base = None
                else:
                    check, base = _judge_stock(scenario(), engine, obtained, expected)
                    if check.status == "explained":
                        stock_runs[engine] = (obtained, base, scenario())
            except HarnessError as exc:
                check = error(name, engine, str(exc), mode)
            if check.status == "fail" and search:
                try:
                    check = _with_root_cause(check, scenario(), engine, obtained, expected, base)
                except HarnessError as exc:
                    check = dataclasses.replace(check, root_cause={"verdict": "not searched", "note": f"no root-cause search: {exc}"})
            checks.append(dataclasses.replace(check, framework_version=obtained.framework_version))
    return checks, stock_runs


def _judge_stock(scenario: Scenario, engine: str, obtained: RunResult, contract_run: RunResult | None):
    """``obtained`` against the reference engine under the scenario's contract + its profile;
    ``contract_run`` (the golden; None: the reference engine's contract run) is the baseline of
    the attribution of moved fills to profile knobs."""
    from harness.explain import profile_effects, reference_result

    judged = judged_contract(scenario.spec.contract, dict(obtained.contract), engine)
    expected = reference_result(scenario, judged)
    if not expected.fills and not expected.rejections:
        raise HarnessError(f"the reference engine makes no fills and no rejections under {engine}'s profile: "
                           "nothing to compare")
    check = compare_results(expected, obtained)
    check = dataclasses.replace(check, basis="reference + profile")
    if check.status == "pass":
        if contract_run is None:
            contract_run = reference_result(scenario, scenario.spec.contract)
        effects = profile_effects(scenario, scenario.spec.contract, judged, contract_run)
        check = dataclasses.replace(check, status="explained", explanation=tuple(effects))
    return check, judged


def _with_root_cause(check: Comparison, scenario: Scenario, engine: str, obtained: RunResult,
                     golden_result: RunResult, base: Contract | None) -> Comparison:
    from harness.explain import reference_result, search_root_cause

    if engine == "reference":
        finding = {"verdict": "reference", "note": "the reference engine itself differs from the golden result: "
                   "the kernel changed, or the golden did; a golden change needs `nox -s golden` and a reason"}
        return dataclasses.replace(check, root_cause=finding)
    if base is None:
        base, expected = scenario.spec.contract, golden_result
    else:
        expected = reference_result(scenario, base)
    return dataclasses.replace(check, root_cause=search_root_cause(scenario, base, obtained, expected))


def _pair_views(name: str, stock_runs: dict[str, tuple[RunResult, Contract, Scenario]]) -> list[dict[str, Any]]:
    from harness.explain import engine_pair_view

    views = []
    names = list(stock_runs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            a_run, a_contract, scenario = stock_runs[a]
            b_run, b_contract, _ = stock_runs[b]
            views.append(engine_pair_view(scenario, a, a_run, a_contract, b, b_run, b_contract))
    return views
