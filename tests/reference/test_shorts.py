"""Short positions ([positions] sides): the loader's rules and the reference kernel's mirrored exits.

The hand-built short_* scenarios write their fills in their specs and are checked with every other
hand-built scenario (tests/reference/test_exits.py); the tests here pin what those cannot: bad input,
and the rules a mirrored kernel could get backwards.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.reference import Reference, simulate
from harness import golden
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.core.test_loader import edit_toml, expect_error, set_cell

SHORT_SCENARIOS = ["short_sl_gap", "short_trail_low", "short_both_next_open", "short_proceeds_fund_long"]


def copy(tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name
    shutil.copytree(SCENARIOS_DIR / name, dst)
    return dst


@pytest.fixture
def both(tmp_path: Path) -> Path:
    return copy(tmp_path, "short_both_next_open")


def run(folder_or_name):
    path = folder_or_name if isinstance(folder_or_name, Path) else SCENARIOS_DIR / folder_or_name
    return Reference().run(load_scenario(path))


@pytest.mark.parametrize("name", SHORT_SCENARIOS)
def test_a_short_scenario_fills_as_its_spec_says(name):
    scenario = load_scenario(SCENARIOS_DIR / name)
    assert scenario.spec.hand_written and scenario.spec.contract.sides != "long"
    assert golden.spec_disagreement(Reference().run(scenario), scenario.spec) is None


def test_a_long_and_a_short_entry_on_one_bar_is_bad_input(both: Path):
    set_cell(both, "signals.csv", 1, "short_entry", "1")  # bar 0 has a long entry
    expect_error(both, "signals.csv", "entry,short_entry", "both are 1", "one position per asset")


def test_a_short_entry_and_a_short_exit_on_one_bar_is_bad_input(both: Path):
    set_cell(both, "signals.csv", 4, "short_exit", "1")  # bar 3 has a short entry
    expect_error(both, "signals.csv", "short_entry,short_exit", "both are 1", "ambiguous")


def test_short_columns_need_sides_short_or_both(both: Path):
    edit_toml(both, 'sides = "both"', 'sides = "long"')
    expect_error(both, "signals.csv", "header", "they must be exactly 'timestamp,asset,entry,exit'",
                 'set sides = "short" or "both"')


def test_sides_both_needs_the_short_columns(tmp_path: Path):
    dst = copy(tmp_path, "plain_close")
    edit_toml(dst, "[generator]", "[positions]\nsides = \"both\"\n\n[generator]")
    expect_error(dst, "signals.csv", "header", "short_entry and short_exit columns")


def test_sides_short_refuses_a_long_signal(both: Path):
    edit_toml(both, 'sides = "both"', 'sides = "short"')
    expect_error(both, "signals.csv", "entry", 'is 1 at 2021-01-04 A00 (line 2) but [positions] sides = "short"',
                 'set sides = "both"')


def test_a_rotation_cannot_trade_short(tmp_path: Path):
    dst = copy(tmp_path, "rot_full_close")
    edit_toml(dst, "[costs]", '[positions]\nsides = "both"\n\n[costs]')
    expect_error(dst, "scenario.toml", "[positions] sides", "a target-weight rotation is long only")


def test_a_short_sale_rejected_only_when_cash_plus_proceeds_minus_fee_is_negative():
    # short_proceeds_fund_long: the long buy of 1500 on bar 2 fits only with the short's 1000 credited.
    scenario = load_scenario(SCENARIOS_DIR / "short_proceeds_fund_long")
    result = Reference().run(scenario)
    assert ("A00", 2, "buy") in {(f.asset, f.bar, f.side) for f in result.fills}
    # A sale needs no cash of its own: with 1 in cash it still fills (and then the long buy does not fit).
    thin = simulate(scenario, scenario.spec.contract.replace(cash=1.0))
    assert [(f.asset, f.bar, f.side) for f in thin.fills][:1] == [("A01", 1, "sell")]
    assert ("A00", 2, "buy") in {(r.asset, r.bar, r.side) for r in thin.rejections}
    # A fixed fee above cash + proceeds refuses the sale itself (the side of the refused order is sell).
    poor = scenario.spec.contract.replace(cash=1.0, fixed_fee=1002.0)
    out = simulate(scenario, poor)
    assert [(r.asset, r.bar, r.side) for r in out.rejections][:1] == [("A01", 1, "sell")]


@pytest.mark.parametrize("resolution", ["higher_level", "queue"])
def test_a_short_stop_is_the_lower_of_stop_loss_and_trailing_levels(resolution):
    # short_trail_low with a 1% stop-loss too: level 101 against the trailing stop's 105 on bar 2; bar 2's
    # high (100) reaches neither, bar 4's (100) reaches the trailing level 99.75 only.
    scenario = load_scenario(SCENARIOS_DIR / "short_trail_low")
    contract = scenario.spec.contract.replace(stop_loss=0.003, stop_resolution=resolution)
    out = simulate(scenario, contract)
    exits = [(f.bar, f.side, f.reason, f.price) for f in out.fills if f.side == "buy"]
    # stop-loss level 100.3: bar 2's high 100 stays below; the trailing level falls to 99.75 and is lower,
    # so the one stop (higher_level) is the trailing stop; queued, the stop-loss (100.3) is checked first
    # on bar 4 and not reached (high 100), then the trailing level.
    assert exits == [(4, "buy", "trailing_stop", 99.75)]


def test_a_short_trailing_stop_on_closes_moves_with_the_closes():
    scenario = load_scenario(SCENARIOS_DIR / "short_trail_low")
    out = simulate(scenario, scenario.spec.contract.replace(trail_source="close"))
    # Bar 2 closes at 96: level 100.8; bar 3 closes at 97 (level stays 100.8); bar 4's high 100 < 100.8;
    # bar 5's high 100 too: no cover.
    assert [(f.bar, f.side) for f in out.fills] == [(1, "sell")]


def test_value_counts_a_short_at_minus_units_times_close():
    result = run("short_proceeds_fund_long")
    # bar 3: cash 500, A00 10 * 152, A01 short 10 at close 97.
    assert result.equity[3] == 500.0 + 10 * 152.0 - 10 * 97.0
    assert result.final_value == 1100.0
