"""The [exits] table and [[expected]] fills: bad values are refused with file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import load_scenario
from tests.core.test_loader import edit_toml, expect_error, folder  # noqa: F401  (fixture)

EXITS = "[exits]\n"


def add_exits(folder: Path, body: str) -> None:
    edit_toml(folder, "[generator]\n", f"{EXITS}{body}\n[generator]\n")


def test_exit_knobs_load_with_their_defaults(folder: Path) -> None:
    add_exits(folder, "stop_loss = 0.05\ntrailing_stop = 0.1\nmax_bars = 7\n")
    c = load_scenario(folder).spec.contract
    assert (c.stop_loss, c.trailing_stop, c.max_bars, c.take_profit) == (0.05, 0.1, 7, None)
    assert (c.stop_reference, c.trail_source) == ("close", "high")
    assert c.as_dict()["trail_source"] == "high" and "take_profit" not in c.as_dict()


def test_a_scenario_without_exits_has_no_exit_rules(folder: Path) -> None:
    c = load_scenario(folder).spec.contract
    assert not c.has_exit_rules and "stop_reference" not in c.as_dict()


@pytest.mark.parametrize("body,field,fragment", [
    ("stop_loss = 1.5\n", "[exits] stop_loss", "must be in (0, 1)"),
    ("stop_loss = 0\n", "[exits] stop_loss", "must be in (0, 1)"),
    ("take_profit = -0.1\n", "[exits] take_profit", "must be in (0, inf)"),
    ("trailing_stop = 1.0\n", "[exits] trailing_stop", "must be in (0, 1)"),
    ("max_bars = 2.5\n", "[exits] max_bars", "must be an integer"),
    ("max_bars = 0\n", "[exits] max_bars", "must be in [1, inf)"),
    ('stop_loss = 0.05\nstop_reference = "open"\n', "[exits] stop_reference", 'must be one of "close", "fill_price"'),
    ('trailing_stop = 0.05\ntrail_source = "low"\n', "[exits] trail_source", 'must be one of "high", "close"'),
    ("stop_los = 0.05\n", "[exits] stop_los", "unknown key"),
    ('stop_reference = "fill_price"\n', "[exits] stop_reference", "has no effect"),
    ('stop_loss = 0.05\ntrail_source = "close"\n', "[exits] trail_source", "has no effect without trailing_stop"),
])
def test_bad_exit_knobs_are_refused(folder: Path, body: str, field: str, fragment: str) -> None:
    add_exits(folder, body)
    expect_error(folder, "scenario.toml", field, fragment)


@pytest.mark.parametrize("entry,field,fragment", [
    ('bar = 1\nside = "buy"\nprice = 100.0\n', "[[expected]] #1 reason", "missing"),
    ('bar = -1\nside = "buy"\nprice = 100.0\nreason = "signal"\n', "[[expected]] #1 bar", "must be a bar index"),
    ('bar = 1\nside = "long"\nprice = 100.0\nreason = "signal"\n', "[[expected]] #1 side", "must be buy or sell"),
    ('bar = 1\nside = "buy"\nprice = 100.0\nreason = "stop"\n', "[[expected]] #1 reason", "must be one of"),
    ('bar = 1\nside = "buy"\nprice = "100"\nreason = "signal"\n', "[[expected]] #1 price", "must be a number"),
    ('bar = 1\nside = "buy"\nprice = 1.0\nreason = "signal"\nqty = 3\n', "[[expected]] #1 qty", "unknown key"),
    ('bar = 1\nside = "buy"\nprice = 1.0\nreason = "signal"\nsize = -3\n', "[[expected]] #1 size", "must be a positive number"),
])
def test_bad_expected_fills_are_refused(folder: Path, entry: str, field: str, fragment: str) -> None:
    edit_toml(folder, "[inputs]\n", f"[[expected]]\n{entry}\n[inputs]\n")
    expect_error(folder, "scenario.toml", field, fragment)


@pytest.mark.parametrize("entry,field,fragment", [
    ('bar = 1\nside = "buy"\nreason = "signal"\n', "[[rejected]] #1 size", "missing"),
    ('bar = 1\nside = "buy"\nsize = 0.0\nreason = "signal"\n', "[[rejected]] #1 size", "must be a positive number"),
    ('bar = 1.5\nside = "buy"\nsize = 1.0\nreason = "signal"\n', "[[rejected]] #1 bar", "must be a bar index"),
    ('bar = 1\nside = "short"\nsize = 1.0\nreason = "signal"\n', "[[rejected]] #1 side", "must be buy or sell"),
    ('bar = 1\nside = "buy"\nsize = 1.0\nreason = "cash"\n', "[[rejected]] #1 reason", "must be one of"),
    ('bar = 1\nside = "buy"\nsize = 1.0\nreason = "signal"\nprice = 100.0\n', "[[rejected]] #1 price", "unknown key"),
])
def test_bad_rejected_orders_are_refused(folder: Path, entry: str, field: str, fragment: str) -> None:
    edit_toml(folder, "[inputs]\n", f"[[rejected]]\n{entry}\n[inputs]\n")
    expect_error(folder, "scenario.toml", field, fragment)


def test_rejected_orders_load_and_make_the_spec_hand_written(folder: Path) -> None:
    from harness.scenario import load_scenario

    assert not load_scenario(folder).spec.hand_written
    edit_toml(folder, "[inputs]\n", '[[rejected]]\nbar = 3\nside = "buy"\nsize = 100\nreason = "signal"\n\n[inputs]\n')
    spec = load_scenario(folder).spec
    assert spec.hand_written and [dict(r) for r in spec.rejected] == [
        {"asset": "A00", "bar": 3, "side": "buy", "size": 100.0, "reason": "signal"}]
