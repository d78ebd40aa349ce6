"""Zipline in stock mode (its own venv).

The gate compares every stock run with the reference engine under the profile;
these tests hold what can be checked in Zipline's own environment: each
``knob_*`` scenario whose knobs are all Zipline's gives, run through stock
Zipline, exactly the fills its spec writes down (so Zipline really does what
each profile knob says), every profile knob has such a scenario, Zipline's own
level rounding is the ``level_tick`` rule, what the public API cannot express
raises :class:`Unsupported` naming the knob, the README's witness columns are
the engine's, bundles are kept and rebuilt as they should be, and runs are
deterministic.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from zipline.finance.execution import asymmetric_round_price

from adapters import _zipline_bundle as zbundle
from adapters.zipline import Zipline
from harness import golden
from harness.contract import BEHAVIOUR_DEFAULTS, KNOB_BY_FIELD, KNOBS
from harness.docs import README, section
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.builders import bars, make_rotation, make_scenario
from tests.stored import door_refusal, engine_test_scenarios

pytestmark = pytest.mark.zipline

ENGINE = Zipline()
PROFILE = ENGINE.profile
FLAT = (100.0, 101.0, 99.0, 100.0)


def knobs_set(name):
    c = load_scenario(SCENARIOS_DIR / name).spec.contract
    return {k: getattr(c, k) for k, v in BEHAVIOUR_DEFAULTS.items() if getattr(c, k) != v}


# The knob_* scenarios whose knobs are all Zipline's, at Zipline's values.
KNOB_SCENARIOS = [n for n in engine_test_scenarios()
                  if n.startswith("knob_") and all(PROFILE.get(k) == v for k, v in knobs_set(n).items())
                  and door_refusal(ENGINE, n, "stock") is None]


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.reason) for f in result.fills]


def test_every_profile_knob_has_a_hand_built_scenario():
    covered = set()
    for name in KNOB_SCENARIOS:
        covered |= set(knobs_set(name))
    assert covered == set(PROFILE)


@pytest.mark.parametrize("name", KNOB_SCENARIOS)
def test_stock_zipline_does_what_each_knob_scenario_writes_down(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.hand_written
    assert golden.spec_disagreement(ENGINE.run(scenario, "stock"), scenario.spec) is None


def test_a_stop_waits_for_a_close_beyond_its_level():
    # exit_sl_next_close: the contract stops at 95 on bar 3 (low 94) and at 90.25 on bar 7 (low 89); Zipline
    # checks closes only: bar 4 closes at 94 (stop), bar 7 at 96 (no stop), and the exit signal on bar 8 sells.
    run = ENGINE.run(load_scenario(SCENARIOS_DIR / "exit_sl_next_close"), "stock")
    assert fills_of(run) == [(2, "buy", 10.0, 100.0, "signal"), (4, "sell", 10.0, 94.0, "stop_loss"),
                             (6, "buy", 10.0, 95.0, "signal"), (9, "sell", 10.0, 98.0, "signal")]
    # the fee is Zipline's PerDollar commission on each fill
    assert [f.fee for f in run.fills] == [10 * (f.price * 0.001) for f in run.fills]


def _tick_rule(level: float, tick: float, up: bool) -> float:
    """``[exits] level_tick`` as harness.contract states it."""
    d = (0.95 - 0.5) * tick - 10 * 2.0 ** -52
    x = (level + d) / tick if up else (level - d) / tick
    r = math.ceil(x) if x % 1 >= 0.5 else math.floor(x)
    out = tick * r
    return 0.0 if abs(out) <= 1e-6 else out


def test_zipline_rounds_stop_and_limit_prices_as_the_level_tick_rule_says():
    assert PROFILE["level_tick"] == 0.01
    rng = np.random.default_rng(11)
    levels = np.concatenate([rng.uniform(0.5, 500.0, 3000), np.round(rng.uniform(1.0, 200.0, 1000), 3),
                             [95.00285, 95.0096, 110.00000000000001, 110.0004, 0.004]])
    for level in levels.tolist():
        # a sell stop prefers to round down (execution.py: StopOrder.get_stop_price(is_buy=False)), a sell limit up
        assert asymmetric_round_price(level, True, tick_size=0.01) == _tick_rule(level, 0.01, False), level
        assert asymmetric_round_price(level, False, tick_size=0.01) == _tick_rule(level, 0.01, True), level


@pytest.mark.parametrize("name, knob", [
    ("plain_close", "[execution] fill"),
    ("rnd_sl_next_open", "[execution] fill"),
    ("real_rotation_us_stocks", "[execution] fill"),
])
def test_other_fill_modes_are_unsupported(name, knob):
    with pytest.raises(Unsupported) as info:
        ENGINE.run(load_scenario(SCENARIOS_DIR / name), "stock")
    assert info.value.knob == knob


def test_what_the_public_api_cannot_express_is_unsupported():
    three = bars(FLAT, FLAT, FLAT)
    cases = [
        (make_scenario(three, entries=[1, 0, 0], exits=[0, 0, 0], fill="next_close", trailing_stop=0.05),
         "[exits] trailing_stop"),  # no trailing-stop order
        (make_scenario(three, entries=[1, 0, 0], exits=[0, 0, 0], fill="next_close", stop_loss=0.05,
                       stop_reference="fill_price"), "[exits] stop_reference"),  # cost_basis includes commission
        (make_scenario(bars(FLAT, FLAT, (100.0, 101.0, 99.0, 100.0005)), entries=[1, 0, 0], exits=[0, 0, 0],
                       fill="next_close"), "prices.csv price grid"),  # stored as uint32 thousandths
        (make_scenario(three, entries=[1, 0, 0], exits=[0, 0, 0], fill="next_close", size=101.0),
         "prices.csv volume"),  # more than 10% of a bar's volume (1000): filled over several bars
    ]
    for scenario, knob in cases:
        with pytest.raises(Unsupported) as info:
            ENGINE.run(scenario, "stock")
        assert info.value.knob == knob


def test_an_order_zipline_fills_over_several_bars_is_unsupported():
    # 1000 units at 100 against a volume of 1000: FixedBasisPointsSlippage fills 100 a bar (10% of the volume)
    rotation = make_rotation([[100.0]] * 4, [[100.0]] * 4, {0: [1.0]}, fill="next_close", cash=100_000.0,
                             units="whole")
    with pytest.raises(Unsupported) as info:
        ENGINE.run(rotation, "stock")
    assert info.value.knob == "prices.csv volume" and "filled 100 of 1000" in info.value.why


def test_cash_goes_below_zero_without_a_rejection():
    rising = bars(FLAT, FLAT, (100.0, 102.0, 99.0, 101.0), (101.0, 102.0, 100.0, 101.0))
    run = ENGINE.run(make_scenario(rising, entries=[0, 1, 0, 0], exits=[0, 0, 0, 0], fill="next_close", cash=1000.0),
                     "stock")
    assert fills_of(run) == [(2, "buy", 10.0, 101.0, "signal")] and run.rejections == ()
    assert run.equity[2] == 1000.0 - 1010.0 + 1010.0


def test_bundles_are_kept_by_input_and_rebuilt_when_the_inputs_change(tmp_path, monkeypatch):
    monkeypatch.setattr(zbundle, "BUNDLES_DIR", tmp_path)
    three = bars(FLAT, FLAT, FLAT)
    first = make_scenario(three, entries=[1, 0, 0], exits=[0, 0, 0], fill="next_close", name="bundle_test")
    bundle = zbundle.prepare(first)
    assert bundle.root.parent == tmp_path / "bundle_test" and (bundle.root / zbundle.READY).is_file()
    stamp = (bundle.root / zbundle.READY).stat().st_mtime_ns
    assert zbundle.prepare(first).root == bundle.root
    assert (bundle.root / zbundle.READY).stat().st_mtime_ns == stamp  # reused, not ingested again
    changed = make_scenario(bars(FLAT, FLAT, (100.0, 101.0, 99.0, 100.5)), entries=[1, 0, 0], exits=[0, 0, 0],
                            fill="next_close", name="bundle_test")
    other = zbundle.prepare(changed)
    assert other.root != bundle.root and not bundle.root.exists()
    assert sorted(p.name for p in (tmp_path / "bundle_test").iterdir()) == [other.root.name]
    run = ENGINE.run(changed, "stock")  # the rebuilt bundle holds the new close
    assert fills_of(run) == [(1, "buy", 10.0, 100.0, "signal")] and run.equity[2] == 10_000.0 + 10 * 0.5


def test_a_calendar_has_the_scenarios_dates_as_sessions():
    scenario = load_scenario(SCENARIOS_DIR / "plain_next_close")
    bundle = zbundle.prepare(scenario)
    sessions = bundle.calendar().sessions_in_range(bundle.sessions[0], bundle.sessions[-1])
    assert list(sessions) == list(bundle.sessions)


def test_the_profile_is_documented_and_witnessed():
    assert set(ENGINE.profile_evidence) == set(PROFILE)
    for knob, value in PROFILE.items():
        assert value != KNOB_BY_FIELD[knob].default
        assert ENGINE.witness["stock"][knob][0] == "native"


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
    for name in ("exit_tp_next_close", "rot_topk_next_close_whole"):
        scenario = load_scenario(SCENARIOS_DIR / name)
        a, b = ENGINE.run(scenario, "stock"), ENGINE.run(scenario, "stock")
        assert (a.fills, a.rejections, a.equity) == (b.fills, b.rejections, b.equity)
