"""The engine door works for an engine written from the README alone: it passes the gate on every
stored scenario it supports, and its twin with one rule changed fails with the knob named."""

from __future__ import annotations

import pytest

from harness.contract import knob_key
from harness.engines import ANY
from harness.gate import validate
from harness.registry import EngineEntry
from harness.runner import run_engine
from tests.core.toy_engine import CONTRACT_KNOBS
from tests.stored import engine_test_scenarios

pytestmark = pytest.mark.reference  # the gate re-runs the reference engine for its root-cause search

TOY = {name: EngineEntry(name=name, module="tests.core.toy_engine", group="core", python="3.11",
                         modes=("contract",), gate=True)
       for name in ("toy", "toy_trail_on_closes")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    names = engine_test_scenarios()
    for engine in TOY:
        assert run_engine(engine, names, runs_root=root, entries=TOY, log=lambda _: None)
    return root, names


def test_the_toy_engine_passes_every_stored_scenario_it_supports(runs):
    root, names = runs
    checks = validate(["toy"], names, runs_root=root, modes={"toy": ("contract",)}).checks
    by_status = {}
    for c in checks:
        by_status.setdefault(c.status, []).append(c.scenario)
    assert set(by_status) <= {"pass", "unsupported"}, [(c.scenario, c.problems[:2]) for c in checks if c.status not in ("pass", "unsupported")]
    assert len(by_status["pass"]) >= 30
    # Unsupported only where the toy says so: a knob it does not declare, or a value outside its list
    # (rotations: [sizing] mode; next_close: [execution] fill). Never a knob it declares as ANY.
    declared_any = {knob_key(field) for field, accepted in CONTRACT_KNOBS.items() if accepted is ANY}
    unsupported = {c.knob for c in checks if c.status == "unsupported"}
    assert {knob_key("sizing_mode"), knob_key("fill")} <= unsupported
    assert not unsupported & declared_any, unsupported & declared_any


def test_its_twin_with_one_rule_changed_fails_and_the_search_names_the_knob(runs):
    root, names = runs
    checks = validate(["toy_trail_on_closes"], names, runs_root=root,
                      modes={"toy_trail_on_closes": ("contract",)}).checks
    failing = [c for c in checks if c.status == "fail"]
    assert failing, "trailing on closes where scenarios say highs must move fills"
    for c in failing:
        assert c.root_cause["verdict"] == "explained", (c.scenario, c.root_cause)
        assert ['trail_source = "close"'] in c.root_cause["explained_by"], (c.scenario, c.root_cause)
    passing = {c.scenario for c in checks if c.status == "pass"}
    assert "exit_trail_close" in passing  # where the scenario trails on closes, the twin is right
