"""Rotation in the reference engine: hand-built bars, expected orders written next to them."""

from __future__ import annotations

import pytest

from engine.reference import Reference

from tests.builders import make_rotation

run = Reference().run

pytestmark = pytest.mark.reference


def fills(result):
    return [(f.asset, f.bar, f.side, f.size, f.price) for f in result.fills]


def rejections(result):
    return [(r.asset, r.bar, r.side, r.size) for r in result.rejections]


def test_sells_go_before_buys_so_tight_cash_still_rotates():
    # bar 0: all in A (10 @ 100, cash 0); bar 1: all in B. The sale of A pays for B.
    px = [[100.0, 50.0]] * 3
    r = run(make_rotation(px, px, {0: [1.0, 0.0], 1: [0.0, 1.0]}))
    assert fills(r) == [("A00", 0, "buy", 10.0, 100.0), ("A00", 1, "sell", 10.0, 100.0), ("A01", 1, "buy", 20.0, 50.0)]
    assert rejections(r) == []


def test_buys_go_smallest_first_and_one_that_does_not_fit_is_rejected_whole():
    # V = 1000, fee 1%: B's 400 (cost 404) goes before A's 600 (cost 606 > 596 left): A is rejected whole
    px = [[100.0, 50.0]] * 2
    r = run(make_rotation(px, px, {0: [0.6, 0.4]}, fee=0.01))
    assert fills(r) == [("A01", 0, "buy", 8.0, 50.0)]
    assert rejections(r) == [("A00", 0, "buy", 6.0)]
    assert r.final_value == 1000.0 - 4.0


def test_equal_value_changes_keep_asset_order():
    px = [[100.0, 50.0]] * 2
    r = run(make_rotation(px, px, {0: [0.5, 0.5]}, fee=0.01))
    assert fills(r) == [("A00", 0, "buy", 5.0, 100.0)]
    assert rejections(r) == [("A01", 0, "buy", 10.0)]


def test_whole_units_floor_buys_and_sells():
    # bar 0: V 1000 -> A 500/30 = 16.67 -> 16, B 500/70 = 7.14 -> 7; cash 1000 - 480 - 490 = 30
    # bar 1: V = 30 + 16*30 + 7*70 = 1000 -> A target 0.1*1000/30 = 3.33: sell 12.67 -> 12 (position 4)
    px = [[30.0, 70.0]] * 3
    r = run(make_rotation(px, px, {0: [0.5, 0.5], 1: [0.1, 0.5]}, units="whole"))
    assert fills(r) == [("A00", 0, "buy", 16.0, 30.0), ("A01", 0, "buy", 7.0, 70.0), ("A00", 1, "sell", 12.0, 30.0)]


def test_next_open_sizes_at_the_close_and_fills_at_the_next_open():
    # sized at close[0] (100, 50; V 1000): A 6, B 8; filled at open[1] (110, 40) with 1% slippage
    # (results list fills by asset within a bar; the execution sequence shows in rejections, tested above)
    opens = [[100.0, 50.0], [110.0, 40.0], [110.0, 40.0]]
    closes = [[100.0, 50.0], [110.0, 40.0], [110.0, 40.0]]
    r = run(make_rotation(opens, closes, {0: [0.6, 0.4]}, fill="next_open", slippage=0.01))
    assert fills(r) == [("A00", 1, "buy", 6.0, 110.0 * 1.01), ("A01", 1, "buy", 8.0, 40.0 * 1.01)]


def test_next_open_rejection_is_on_the_fill_bar():
    # sized at close[0]: A 6 (600), B 8 (400); at open[1] B goes first (smaller), then A no longer fits
    px = [[100.0, 50.0]] * 3
    r = run(make_rotation(px, px, {0: [0.6, 0.4]}, fill="next_open", fee=0.01))
    assert fills(r) == [("A01", 1, "buy", 8.0, 50.0)]
    assert rejections(r) == [("A00", 1, "buy", 6.0)]


def test_a_rebalance_on_the_last_bar_never_fills():
    px = [[100.0, 50.0]] * 2
    r = run(make_rotation(px, px, {1: [0.5, 0.5]}))
    assert r.fills == () and r.final_value == 1000.0


def test_weight_zero_sells_the_whole_position():
    px = [[100.0, 50.0], [120.0, 50.0], [120.0, 50.0]]
    r = run(make_rotation(px, px, {0: [0.5, 0.0], 1: [0.0, 0.0]}))
    assert fills(r) == [("A00", 0, "buy", 5.0, 100.0), ("A00", 1, "sell", 5.0, 120.0)]
    assert r.final_value == 1000.0 + 5 * 20.0
