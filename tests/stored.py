"""Stored scenarios as per-engine test cases: each supported scenario run and compared with its golden.

Used by each engine's own tests (they run in that engine's environment, without
the reference engine). A scenario outside the engine's capabilities for the mode
is left out here and reported `unsupported` by the gate, and so is one without a
golden result (the gate reports it as an error); at least one must run.
Scenarios tagged `large` are left out of every engine's own tests (see
:func:`engine_test_scenarios`): the gate runs and judges them.
"""

from __future__ import annotations

from typing import Callable

from harness import golden
from harness.engines import Engine, Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario, load_spec, scenario_names

__all__ = ["door_refusal", "engine_test_scenarios", "stored_scenario_checks"]

LEFT_OUT_TAG = "large"


def engine_test_scenarios() -> list[str]:
    """The stored scenarios that tests looping over the library run: all but those tagged `large`.

    A `large` scenario takes minutes per engine and mode (multi_signals_large: Backtrader about
    five minutes a mode) and costs seconds just to load; `nox -s validate` (CI's validate and
    judge jobs) runs every one of them in every engine and mode and judges each run against its
    golden, so running them again in each engine's test session would only add those minutes to
    CI, past its budget. `nox -s validate -- --skip-tag large` is the one way to leave them out of
    the gate, and CI never does.
    """
    return [n for n in scenario_names() if LEFT_OUT_TAG not in load_spec(SCENARIOS_DIR / n).tags]


def door_refusal(engine: Engine, name: str, mode: str) -> Unsupported | None:
    """What the engine door refuses of the stored scenario's contract in ``mode`` (a knob outside the
    engine's capabilities, reported `unsupported` by the gate), or None when it takes it."""
    try:
        engine.judged_contract(load_spec(SCENARIOS_DIR / name).contract, mode)
    except Unsupported as exc:
        return exc
    return None


def stored_scenario_checks(engine: Engine, mode: str = "contract") -> dict[str, Callable[[], list[str]]]:
    """scenario name -> a check returning the problems of the engine's run against the golden (empty: exact)."""
    checks: dict[str, Callable[[], list[str]]] = {}
    for name in engine_test_scenarios():
        if not (golden.GOLDEN_DIR / name).is_dir():
            continue
        spec = load_spec(SCENARIOS_DIR / name)
        try:
            engine.judged_contract(spec.contract, mode)
        except Unsupported:
            continue

        def check(name: str = name) -> list[str]:
            # Unsupported propagates: an engine's check() hook may refuse what its table accepts.
            result = engine.run(load_scenario(SCENARIOS_DIR / name), mode)
            return list(golden.check(name, result).problems)

        checks[name] = check
    if not checks:
        raise AssertionError(f"{engine.name} ({mode} mode) supports none of the stored scenarios")
    return checks
