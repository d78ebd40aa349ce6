"""The goldens pin each rule: an engine that applies another rule fails against them.

Each case reruns a stored scenario through the reference engine with one knob
changed, as an engine with the wrong rule would, and compares with the golden
result. The unchanged run must pass and the changed one must fail.
"""

from __future__ import annotations

import dataclasses

import pytest

from engine.reference import Reference

from harness import golden
from harness.compare import compare_results
from harness.scenario import SCENARIOS_DIR, load_scenario

run = Reference().run

pytestmark = pytest.mark.reference

CASES = [
    ("exit_trail_high", {"trail_source": "close"}),
    ("exit_trail_close", {"trail_source": "high"}),
    ("rnd_trail_high_close", {"trail_source": "close"}),
    ("rnd_trail_close_next_open", {"trail_source": "high"}),
    ("rnd_sl_next_open", {"stop_reference": "close"}),
    ("rnd_tp_close", {"stop_reference": "close"}),
    ("exit_time_close", {"max_bars": 4}),
    ("exit_sl_intrabar", {"stop_loss": 0.06}),
    ("costs_close", {"slippage": 0.0}),
]


def rerun(name, **changes):
    scenario = load_scenario(SCENARIOS_DIR / name)
    contract = dataclasses.replace(scenario.spec.contract, **changes)
    result = run(dataclasses.replace(scenario, spec=dataclasses.replace(scenario.spec, contract=contract)))
    # The wrong rule is in the engine, not in the inputs: keep the scenario's recorded knobs.
    return dataclasses.replace(result, contract=golden.load(name).contract)


@pytest.mark.parametrize("name,changes", CASES, ids=[c[0] for c in CASES])
def test_a_changed_rule_fails_against_the_golden(name, changes):
    assert compare_results(golden.load(name), rerun(name)).status == "pass"
    changed = compare_results(golden.load(name), rerun(name, **changes))
    assert changed.status == "fail"
    assert changed.moved or changed.missing or changed.extra or changed.field_diffs, changed.problems
