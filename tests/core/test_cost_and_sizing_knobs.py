"""The cost knobs beside fee and slippage and the signal sizing modes: bad values are refused with file,
field and fix; an engine that does not declare them is unsupported with the knob named."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract import Contract
from harness.engines import Unsupported
from harness.scenario import SCENARIOS_DIR, load_scenario
from tests.core.test_loader import edit_toml, expect_error, folder  # noqa: F401  (fixture)
from tests.core.toy_engine import Toy

SIZING = '[sizing]\nmode = "fixed"\nsize = 100.0\n'


@pytest.mark.parametrize("costs,field,fragments", [
    ("fixed_fee = -1.0\n", "[costs] fixed_fee", ("must be in [0, inf)", "fixed_fee = 1.0")),
    ("per_share = nan\n", "[costs] per_share", ("must be finite",)),
    ('min_fee = "1"\n', "[costs] min_fee", ("must be a number",)),
    ("min_fee = 1.0\n", "[costs] min_fee", ("needs per_share > 0", "use fixed_fee")),
    ("slippage_abs = -0.01\n", "[costs] slippage_abs", ("must be in [0, inf)",)),
])
def test_bad_cost_knobs_are_refused(folder: Path, costs, field, fragments) -> None:
    edit_toml(folder, "[costs]\n", "[costs]\n" + costs)
    expect_error(folder, "scenario.toml", field, *fragments)


def test_an_absolute_slippage_that_could_sell_at_or_below_0_is_refused(folder: Path) -> None:
    low = float(load_scenario(folder).market.low.min())
    edit_toml(folder, "[costs]\n", f"[costs]\nslippage_abs = {low!r}\n")
    expect_error(folder, "scenario.toml", "[costs] slippage_abs", "is not below (1 - slippage) * the lowest low",
                 "use a slippage_abs below")


def test_a_small_absolute_slippage_loads(folder: Path) -> None:
    edit_toml(folder, "[costs]\n", "[costs]\nslippage_abs = 0.01\nper_share = 0.005\nmin_fee = 1.0\n")
    c = load_scenario(folder).spec.contract
    assert (c.slippage_abs, c.per_share, c.min_fee, c.fixed_fee) == (0.01, 0.005, 1.0, 0.0)
    assert {k: c.as_dict()[k] for k in ("slippage_abs", "per_share", "min_fee")} == {
        "slippage_abs": 0.01, "per_share": 0.005, "min_fee": 1.0}
    assert "fixed_fee" not in c.as_dict()


@pytest.mark.parametrize("sizing,field,fragments", [
    ('[sizing]\nmode = "percent_of_equity"\n', "[sizing] fraction", ("missing", "add fraction = 0.25")),
    ('[sizing]\nmode = "percent_of_equity"\nfraction = 1.5\n', "[sizing] fraction", ("must be in (0, 1]",)),
    ('[sizing]\nmode = "percent_of_equity"\nfraction = 0.0\n', "[sizing] fraction", ("must be in (0, 1]",)),
    ('[sizing]\nmode = "percent_of_equity"\nfraction = 0.5\nsize = 1.0\n', "[sizing] size",
     ("applies to fixed mode only", "percent_of_equity mode sizes by `fraction`")),
    ('[sizing]\nmode = "target_value"\n', "[sizing] value", ("missing", "add value = 5000.0")),
    ('[sizing]\nmode = "target_value"\nvalue = -5.0\n', "[sizing] value", ("must be in (0, inf)",)),
    ('[sizing]\nmode = "target_value"\nvalue = 500.0\nfraction = 0.5\n', "[sizing] fraction",
     ("applies to percent_of_equity mode only",)),
    ('[sizing]\nmode = "fixed"\nsize = 100.0\nvalue = 5.0\n', "[sizing] value", ("applies to target_value mode only",)),
    ('[sizing]\nmode = "fixed"\nsize = 100.0\nunits = "whole"\n', "[sizing] units", ("applies to target_weights",)),
    ('[sizing]\nmode = "target_value"\nvalue = 500.0\nunits = "some"\n', "[sizing] units", ("must be one of",)),
    ('[sizing]\nmode = "percent"\nfraction = 0.5\n', "[sizing] mode",
     ('must be one of "fixed", "target_weights", "percent_of_equity", "target_value"',)),
])
def test_bad_sizing_is_refused(folder: Path, sizing, field, fragments) -> None:
    edit_toml(folder, SIZING, sizing)
    expect_error(folder, "scenario.toml", field, *fragments)


def test_the_signal_sizing_modes_load_with_fractional_units_by_default(folder: Path) -> None:
    edit_toml(folder, SIZING, '[sizing]\nmode = "target_value"\nvalue = 500.0\n')
    c = load_scenario(folder).spec.contract
    assert (c.sizing_mode, c.value, c.size, c.fraction, c.units) == ("target_value", 500.0, None, None, "fractional")
    assert c.as_dict()["value"] == 500.0 and "fraction" not in c.as_dict()


def test_an_expected_fee_must_be_a_number_of_at_least_0(folder: Path) -> None:
    edit_toml(folder, "[inputs]\n", '[[expected]]\nbar = 1\nside = "buy"\nprice = 1.0\nfee = -1.0\nreason = "signal"\n'
              "\n[inputs]\n")
    expect_error(folder, "scenario.toml", "[[expected]] #1 fee", "must be a number >= 0", "fee = 1.25")


def test_a_contract_built_by_hand_is_checked_the_same_way() -> None:
    base = dict(fill="close", cash=1000.0, fee=0.0, slippage=0.0)
    with pytest.raises(ValueError, match=r"\[costs\] min_fee: is a minimum of the per-share commission"):
        Contract(sizing_mode="fixed", size=1.0, min_fee=1.0, **base)
    with pytest.raises(ValueError, match=r"\[sizing\] fraction: missing"):
        Contract(sizing_mode="percent_of_equity", size=None, units="whole", **base)
    with pytest.raises(ValueError, match=r"\[sizing\] units: missing"):
        Contract(sizing_mode="target_value", size=None, value=10.0, **base)
    with pytest.raises(ValueError, match=r"\[costs\] fixed_fee: must be in"):
        Contract(sizing_mode="fixed", size=1.0, fixed_fee=-1.0, **base)
    ok = Contract(sizing_mode="percent_of_equity", size=None, fraction=0.5, units="fractional", **base)
    assert ok.as_dict()["fraction"] == 0.5


@pytest.mark.parametrize("change,knob", [
    ({"fixed_fee": 1.0}, "[costs] fixed_fee"),
    ({"per_share": 0.01, "min_fee": 1.0}, "[costs] per_share"),
    ({"slippage_abs": 0.01}, "[costs] slippage_abs"),
    ({"sizing_mode": "target_value", "size": None, "value": 100.0, "units": "fractional"}, "[sizing] mode"),
    ({"sizing_mode": "percent_of_equity", "size": None, "fraction": 0.5, "units": "whole"}, "[sizing] mode"),
])
def test_an_engine_that_does_not_declare_a_new_knob_is_unsupported_with_the_knob_named(change, knob) -> None:
    contract = load_scenario(SCENARIOS_DIR / "plain_close").spec.contract
    Toy().judged_contract(contract, "contract")  # the scenario as it is: supported
    with pytest.raises(Unsupported) as info:
        Toy().judged_contract(contract.replace(**change), "contract")
    assert info.value.knob == knob
