"""Behaviour knobs: contract defaults, spec values, framework profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import BEHAVIOUR_DEFAULTS, COST_EXTRAS, KNOB_BY_FIELD, KNOBS, apply_profile
from harness.scenario import SCENARIOS_DIR, load_scenario, load_spec, scenario_names
from tests.core.test_loader import edit_toml, expect_error, folder  # noqa: F401  (fixture)

BY_NAME = {k.name: k for k in KNOBS}


def test_the_contract_scenarios_record_no_behaviour_knob():
    # Goldens keep their recorded knobs: a behaviour knob is listed only when it leaves the contract.
    for name in scenario_names():
        c = load_spec(SCENARIOS_DIR / name).contract
        set_knobs = {k for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v}
        assert set(c.as_dict()) & set(BEHAVIOUR_DEFAULTS) == set_knobs
        # a knob_ scenario sets a behaviour knob, a cost knob beside fee and slippage, or a signal sizing mode
        extended = (any(getattr(c, f) != KNOB_BY_FIELD[f].default for f in COST_EXTRAS)
                    or c.sizing_mode in ("percent_of_equity", "target_value"))
        if set_knobs:
            assert name.startswith("knob_"), name
        if name.startswith("knob_"):
            assert set_knobs or extended, name


def test_a_behaviour_knob_in_the_spec_loads(folder: Path) -> None:
    edit_toml(folder, "[execution]\n", "[execution]\nsubmit_check = true\n")
    edit_toml(folder, "[costs]\n", '[costs]\nslippage_cap = "bar"\nslip_take_profit = false\n')
    c = load_scenario(folder).spec.contract
    assert (c.submit_check, c.slippage_cap, c.slip_take_profit) == (True, "bar", False)
    assert c.as_dict()["slippage_cap"] == "bar" and "gaps_first" not in c.as_dict()


@pytest.mark.parametrize("section,line,field,fragment", [
    ("[execution]\n", 'submit_check = "yes"\n', "[execution] submit_check", "must be true or false"),
    ("[costs]\n", "slip_take_profit = 0\n", "[costs] slip_take_profit", "must be true or false"),
    ("[costs]\n", 'slippage_cap = "high"\n', "[costs] slippage_cap", 'must be one of "none", "bar"'),
    ("[costs]\n", "cash_slack = 0.02\n", "[costs] cash_slack", "must be one of 0.0, 0.01"),
    ("[costs]\n", "cash_slack = true\n", "[costs] cash_slack", "must be one of 0.0, 0.01"),
    ("[execution]\n", "stops_before_open_entries = 1\n", "[execution] stops_before_open_entries", "must be true or false"),
    ("[sizing]\n", 'whole_rounding = "round"\n', "[sizing] whole_rounding",
     'must be one of "floor_units", "value_floor_div", "truncate_at_fill"'),
])
def test_bad_behaviour_knob_values_are_refused(folder: Path, section, line, field, fragment) -> None:
    edit_toml(folder, section, section + line)
    expect_error(folder, "scenario.toml", field, fragment)


def test_a_profile_sets_behaviour_knobs_and_yields_to_nothing_the_scenario_sets_otherwise():
    c = load_scenario(SCENARIOS_DIR / "plain_close").spec.contract
    judged, conflict = apply_profile(c, {"gaps_first": False})
    assert judged.gaps_first is False and conflict is None
    with pytest.raises(KeyError):
        apply_profile(c, {"fee": 0.5})
    queue = c.replace(stop_resolution="queue")
    assert apply_profile(queue, {"stop_resolution": "queue"})[1] is None
    assert apply_profile(c.replace(trail_arithmetic="difference"), {"trail_arithmetic": "product"})[1] == "trail_arithmetic"
    assert apply_profile(queue, {"gaps_first": False})[0].stop_resolution == "queue"
