"""ml4t-backtest in stock mode (its own venv, Python 3.12).

The gate compares every stock run with the reference engine under the profile;
these tests hold what can be checked in ml4t's own environment: each
``knob_*`` scenario whose knobs are all ml4t's gives, run through stock ml4t,
exactly the fills and rejections its spec writes down (so ml4t really does
what each profile knob says), every profile knob has such a scenario, what
the public API cannot express raises :class:`Unsupported` naming the knob, the
README's witness columns are the engine's, and runs are deterministic.
"""

from __future__ import annotations

import pytest

from adapters.ml4t import Ml4t
from harness import golden
from harness.contract import BEHAVIOUR_DEFAULTS, KNOB_BY_FIELD, KNOBS
from harness.docs import README, section
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.stored import door_refusal, engine_test_scenarios

pytestmark = pytest.mark.ml4t

ENGINE = Ml4t()
PROFILE = ENGINE.profile


def knobs_set(name):
    c = load_scenario(SCENARIOS_DIR / name).spec.contract
    return {k: getattr(c, k) for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v}


# The knob_* scenarios whose knobs are all ml4t's, at ml4t's values.
KNOB_SCENARIOS = [n for n in engine_test_scenarios()
                  if n.startswith("knob_") and all(PROFILE.get(k) == v for k, v in knobs_set(n).items())
                  and door_refusal(ENGINE, n, "stock") is None]


def test_every_profile_knob_has_a_hand_built_scenario():
    covered = set()
    for name in KNOB_SCENARIOS:
        covered |= set(knobs_set(name))
    assert covered == set(PROFILE)


@pytest.mark.parametrize("name", KNOB_SCENARIOS)
def test_stock_ml4t_does_what_each_knob_scenario_writes_down(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.hand_written
    assert golden.spec_disagreement(ENGINE.run(scenario, "stock"), scenario.spec) is None


@pytest.mark.parametrize("name, knob", [
    ("rnd_tp_next_open", "[exits] stop_reference"),  # a take-profit on the fill bar's close, next_open fills
    ("knob_submit_check", "[execution] submit_check"),  # not ml4t's behaviour, and no setting makes it so
    ("knob_whole_rounding_value_floor_div", "[sizing] whole_rounding"),  # ml4t truncates at the fill instead
])
def test_what_the_public_api_cannot_express_is_unsupported(name, knob):
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / name), "stock")
    assert info.value.knob == knob


def test_a_trailing_stop_on_the_fill_bars_close_is_supported_in_next_open_mode():
    # initial_hwm_source=BAR_CLOSE starts a trailing stop there; only stop-loss and take-profit lack a basis.
    scenario = load_scenario(SCENARIOS_DIR / "rnd_trail_close_next_open")
    c = scenario.spec.contract
    assert (c.fill, c.stop_reference, c.stop_loss, c.take_profit) == ("next_open", "close", None, None)
    assert any(f.reason == "trailing_stop" for f in ENGINE.run(scenario, "stock").fills)


def test_the_profile_is_documented_and_witnessed():
    assert set(ENGINE.profile_evidence) == set(PROFILE)
    for knob, value in PROFILE.items():
        assert value != KNOB_BY_FIELD[knob].default
        assert ENGINE.witness["stock"][knob][0] == "native"
    assert ENGINE.witness["stock"]["max_bars"][0] == "native"  # TimeExit


def test_the_readme_witness_columns_are_the_engines_declarations():
    rows = section(README.read_text(encoding="utf-8"), "witness").splitlines()
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    table = {cells[0].strip("`"): cells for cells in
             ([c.strip() for c in row.strip("|").split("|")] for row in rows[2:])}
    for mode in ENGINE.modes:
        column = header.index(f"{ENGINE.name}/{mode}")
        for knob in KNOBS:
            entry = ENGINE.witness[mode].get(knob.field)
            assert table[knob.key][column] == (entry[0] if entry else "-"), (mode, knob.key)


def test_stock_runs_are_deterministic():
    for name in ("rnd_combo_next_open_fillref", "rot_topk_next_open_whole"):
        scenario = load_scenario(SCENARIOS_DIR / name)
        a, b = ENGINE.run(scenario, "stock"), ENGINE.run(scenario, "stock")
        assert (a.fills, a.rejections, a.equity) == (b.fills, b.rejections, b.equity)
