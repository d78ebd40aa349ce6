"""Target-weight rotation through Backtrader's broker: hand-built bars, expected orders written next to them.

Every case states the contract's arithmetic (``harness.contract.KNOBS``, ``[sizing] units``): on a
rebalance bar t, V is the value at close[t]; each listed asset's order is w * V / close[t] - position;
orders run in ascending order of value change w * V - position * close[t] (sells first, then the
smallest buys, ties in asset order) from one cash pool; a buy that does not fit is rejected whole.
"""

from __future__ import annotations

import math

import pytest

from adapters.backtrader import Backtrader
from harness.results import validate_result
from tests.builders import bars, make_rotation, make_scenario

pytestmark = pytest.mark.backtrader

run_rotation_result = Backtrader().run

NAN = float("nan")


def run(*args, **kwargs):
    result = run_rotation_result(make_rotation(*args, **kwargs))
    validate_result(result)
    assert result.final_value == result.equity[-1]
    assert all(f.reason == "rebalance" for f in result.fills)
    assert all(r.reason == "rebalance" for r in result.rejections)
    return result


def fills(result):
    """(asset, bar, side, size, price, fee), in the canonical order (by bar, sells first, by asset)."""
    return [(f.asset, f.bar, f.side, f.size, f.price, f.fee) for f in result.fills]


def rejections(result):
    return [(r.asset, r.bar, r.side, r.size) for r in result.rejections]


def approx(rows):
    return [tuple(pytest.approx(v, rel=1e-12, abs=0.0) if isinstance(v, float) else v for v in row) for row in rows]


# ------------------------------------------------------------------------ sequence


def test_sells_go_before_buys_so_tight_cash_still_rotates():
    # bar 0: V 1000 all in B: buy 20 @ 50, cash 0. bar 1: all in A: sell B's 20 @ 50 (value change
    # -1000) first, which pays for A's 10 @ 100 (+1000). Asset order, or buys first, would reject A:
    # the cash is 0 until B is sold.
    px = [[100.0, 50.0]] * 3
    r = run(px, px, {0: [0.0, 1.0], 1: [1.0, 0.0]})
    assert fills(r) == [
        ("A01", 0, "buy", 20.0, 50.0, 0.0),
        ("A01", 1, "sell", 20.0, 50.0, 0.0),
        ("A00", 1, "buy", 10.0, 100.0, 0.0),
    ]
    assert rejections(r) == []
    assert r.equity == (1000.0, 1000.0, 1000.0)


def test_buys_go_smallest_first_and_one_that_does_not_fit_is_rejected_whole():
    # V 1000, fee 1%: B's 400 (8 @ 50, cost 404) goes before A's 600 (6 @ 100, cost 606 > 596 left):
    # A is rejected whole, not partly filled. In asset order A would fit and B would not.
    px = [[100.0, 50.0]] * 2
    r = run(px, px, {0: [0.6, 0.4]}, fee=0.01)
    assert fills(r) == [("A01", 0, "buy", 8.0, 50.0, 4.0)]
    assert rejections(r) == [("A00", 0, "buy", 6.0)]
    assert r.equity == (996.0, 996.0) and r.final_value == 996.0


def test_equal_value_changes_keep_asset_order():
    # Both value changes are +500: A (5 @ 100, cost 505) goes first; B (10 @ 50, cost 505 > 495) does not fit.
    px = [[100.0, 50.0]] * 2
    r = run(px, px, {0: [0.5, 0.5]}, fee=0.01)
    assert fills(r) == [("A00", 0, "buy", 5.0, 100.0, 5.0)]
    assert rejections(r) == [("A01", 0, "buy", 10.0)]


# ------------------------------------------------------------------------ sizing


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_whole_units_floor_buys_and_sells(fill):
    # bar 0: V 1000 -> A 500/30 = 16.67 -> 16, B 500/70 = 7.14 -> 7; cash 1000 - 480 - 490 = 30.
    # bar 1: V = 30 + 16*30 + 7*70 = 1000 -> A: 0.1*1000/30 - 16 = -12.67 -> sell 12 (position 4);
    # B: 0.5*1000/70 - 7 = 0.14 -> 0 (no order). next_open: the same orders fill one bar later.
    px = [[30.0, 70.0]] * 3
    r = run(px, px, {0: [0.5, 0.5], 1: [0.1, 0.5]}, units="whole", fill=fill)
    lag = 0 if fill == "close" else 1
    assert fills(r) == [
        ("A00", 0 + lag, "buy", 16.0, 30.0, 0.0),
        ("A01", 0 + lag, "buy", 7.0, 70.0, 0.0),
        ("A00", 1 + lag, "sell", 12.0, 30.0, 0.0),
    ]
    assert r.final_value == 1000.0


def test_fractional_units_hit_the_weights_exactly():
    # V 1000: A 0.3*1000/40 = 7.5 units, B 0.45*1000/80 = 5.625 units.
    px = [[40.0, 80.0]] * 2
    r = run(px, px, {0: [0.3, 0.45]})
    assert fills(r) == [("A00", 0, "buy", 7.5, 40.0, 0.0), ("A01", 0, "buy", 5.625, 80.0, 0.0)]


def test_v_is_cash_plus_positions_at_the_close_in_asset_order():
    # bar 0: A 5 @ 100, B 10 @ 50, cash 0. bar 1 (A 120.98, B 30.08), all into B: V = 5*120.98 + 10*30.08
    # = 905.6999999999999 (the contract's sum); B's buy V/30.08 - 10 costs exactly the 604.9 A's sale
    # brings in, and fits. Backtrader's getvalue() says 905.7 (1 ulp more): sized from it, the buy is
    # 1 ulp too dear and the broker refuses it.
    px = [[100.0, 50.0], [120.98, 30.08], [120.98, 30.08]]
    r = run(px, px, {0: [0.5, 0.5], 1: [0.0, 1.0]})
    v = 5 * 120.98 + 10 * 30.08
    assert v == 905.6999999999999
    assert fills(r) == [
        ("A00", 0, "buy", 5.0, 100.0, 0.0),
        ("A01", 0, "buy", 10.0, 50.0, 0.0),
        ("A00", 1, "sell", 5.0, 120.98, 0.0),
        ("A01", 1, "buy", v / 30.08 - 10, 30.08, 0.0),
    ]
    assert rejections(r) == []


def test_weight_zero_sells_the_whole_position():
    # bar 0: A 5 @ 100; bar 1: A at 120, weights 0: sell all 5 @ 120 (B has nothing to sell: no order).
    px = [[100.0, 50.0], [120.0, 50.0], [120.0, 50.0]]
    r = run(px, px, {0: [0.5, 0.0], 1: [0.0, 0.0]})
    assert fills(r) == [("A00", 0, "buy", 5.0, 100.0, 0.0), ("A00", 1, "sell", 5.0, 120.0, 0.0)]
    assert r.equity == (1000.0, 1100.0, 1100.0)


def test_costs_and_close_mode_equity_after_the_fills():
    # fee 0.1%, slippage 0.2%. bar 1: V 1000 -> A 0.5*1000/100 = 5, B 0.3*1000/50 = 6; B (+300) before A (+500):
    #   B 6 @ 50*1.002 = 50.1, fee 0.001*6*50.1; A 5 @ 100.2, fee 0.001*5*100.2.
    #   value at close[1] after the fills: cash + 5*100 + 6*50 (the broker books these fills a bar later).
    # bar 2 (A 110, B 55): V2 = cash1 + 5*110 + 6*55; A: 0.2*V2/110 - 5 < 0 sells @ 110*0.998,
    #   B: 0.6*V2/55 - 6 > 0 buys @ 55*1.002, the sell first.
    f, s = 0.001, 0.002
    px = [[100.0, 50.0], [100.0, 50.0], [110.0, 55.0], [110.0, 60.0]]
    r = run(px, px, {1: [0.5, 0.3], 2: [0.2, 0.6]}, fee=f, slippage=s)
    pb1, pa1 = 50.0 * (1 + s), 100.0 * (1 + s)
    cash1 = 1000.0 - (6 * pb1 + f * 6 * pb1) - (5 * pa1 + f * 5 * pa1)
    v2 = cash1 + 5 * 110.0 + 6 * 55.0
    qa, qb = 5 - 0.2 * v2 / 110.0, 0.6 * v2 / 55.0 - 6
    pa2, pb2 = 110.0 * (1 - s), 55.0 * (1 + s)
    cash2 = cash1 + qa * pa2 - f * qa * pa2 - qb * pb2 - f * qb * pb2
    assert fills(r) == approx([
        ("A00", 1, "buy", 5.0, pa1, f * 5 * pa1),
        ("A01", 1, "buy", 6.0, pb1, f * 6 * pb1),
        ("A00", 2, "sell", qa, pa2, f * qa * pa2),
        ("A01", 2, "buy", qb, pb2, f * qb * pb2),
    ])
    pos_a, pos_b = 5 - qa, 6 + qb
    assert r.equity == pytest.approx(
        [1000.0, cash1 + 500.0 + 300.0, cash2 + pos_a * 110.0 + pos_b * 55.0, cash2 + pos_a * 110.0 + pos_b * 60.0],
        rel=1e-12, abs=0.0)
    assert r.equity[1] != 1000.0  # not the broker's pre-fill value of bar 1


# ------------------------------------------------------------------------ next_open


def test_next_open_sizes_at_the_close_and_fills_at_the_next_open():
    # Sized at close[0] (100, 50; V 1000): A 6, B 8; filled at open[1] (110, 40) with 1% slippage.
    # Value at close[1]: cash 1000 - 6*111.1 - 8*40.4 = 10.2, plus 6*105 + 8*45.
    opens = [[100.0, 50.0], [110.0, 40.0], [110.0, 40.0]]
    closes = [[100.0, 50.0], [105.0, 45.0], [110.0, 40.0]]
    r = run(opens, closes, {0: [0.6, 0.4]}, fill="next_open", slippage=0.01)
    assert fills(r) == approx([("A00", 1, "buy", 6.0, 110.0 * 1.01, 0.0), ("A01", 1, "buy", 8.0, 40.0 * 1.01, 0.0)])
    cash = 1000.0 - 6 * 110.0 * 1.01 - 8 * 40.0 * 1.01
    assert r.equity == pytest.approx([1000.0, cash + 6 * 105.0 + 8 * 45.0, cash + 6 * 110.0 + 8 * 40.0],
                                     rel=1e-12, abs=0.0)


def test_next_open_rejection_is_on_the_fill_bar():
    # Sized at close[0]: A 6 (600), B 8 (400), fee 1%; at open[1] B goes first (404), then A (606 > 596)
    # is rejected on bar 1, the bar it would have filled on.
    px = [[100.0, 50.0]] * 3
    r = run(px, px, {0: [0.6, 0.4]}, fill="next_open", fee=0.01)
    assert fills(r) == [("A01", 1, "buy", 8.0, 50.0, 4.0)]
    assert rejections(r) == [("A00", 1, "buy", 6.0)]
    assert r.equity == (1000.0, 996.0, 996.0)


def test_next_open_cash_check_uses_the_open_price():
    # Sized at close[0] (V 1000, fee 0): A 10 @ 100. A gaps up to open[1] 101: cost 1010 > 1000: rejected.
    opens = [[100.0], [101.0], [101.0]]
    closes = [[100.0], [101.0], [101.0]]
    r = run(opens, closes, {0: [1.0]}, fill="next_open")
    assert fills(r) == []
    assert rejections(r) == [("A00", 1, "buy", 10.0)]


def test_next_open_cash_check_is_at_execution_not_at_submission():
    # Sized at close[0] (V 1000, fee 1%): A 6 (value change +600), B 8 (+400). At open[1] A has gapped
    # down to 90: B 8 @ 50 costs 404, then A 6 @ 90 costs 545.4 <= 596: both fill. (Checked against
    # close[0] when submitted, as Backtrader's default checksubmit does, A's 606 would be refused.)
    opens = [[100.0, 50.0], [90.0, 50.0], [90.0, 50.0]]
    closes = [[100.0, 50.0], [90.0, 50.0], [90.0, 50.0]]
    r = run(opens, closes, {0: [0.6, 0.4]}, fill="next_open", fee=0.01)
    assert fills(r) == approx([("A00", 1, "buy", 6.0, 90.0, 0.01 * 6 * 90.0), ("A01", 1, "buy", 8.0, 50.0, 4.0)])
    assert rejections(r) == []


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_a_rebalance_on_the_last_bar_never_fills(fill):
    px = [[100.0, 50.0]] * 2
    r = run_rotation_result(make_rotation(px, px, {1: [0.5, 0.5]}, fill=fill))
    assert r.fills == () and r.rejections == ()
    assert r.equity == (1000.0, 1000.0) and r.final_value == 1000.0


def test_a_listed_asset_without_a_target_weight_is_left_alone():
    # Hand-built only (a loaded scenario gives every listed asset a weight on a rebalance bar, 0 if absent);
    # the reference kernel skips a NaN weight, so the adapter must too, and keep it out of the sequence.
    # bar 0: B 5 @ 100, C 5 @ 100, cash 0. bar 1: A 0.4, B no weight (NaN: no order, position kept),
    # C 0: C's sale (-500) goes first and pays for A's 4 @ 100; B's 5 stay.
    px = [[100.0, 100.0, 100.0]] * 3
    r = run(px, px, {0: [0.0, 0.5, 0.5], 1: [0.4, NAN, 0.0]})
    assert fills(r) == [
        ("A01", 0, "buy", 5.0, 100.0, 0.0),
        ("A02", 0, "buy", 5.0, 100.0, 0.0),
        ("A02", 1, "sell", 5.0, 100.0, 0.0),
        ("A00", 1, "buy", 4.0, 100.0, 0.0),
    ]
    assert rejections(r) == []


# ------------------------------------------------------------------------ late listings

# A00 trades from bar 0; A01 lists on bar 2 (NaN before: no price, no weight, no order).
LIST_OPENS = [[100.0, NAN], [100.0, NAN], [110.0, 20.0], [120.0, 25.0], [120.0, 25.0]]
LIST_CLOSES = [[100.0, NAN], [100.0, NAN], [100.0, 20.0], [120.0, 25.0], [130.0, 30.0]]


def test_an_asset_listing_late_close_fills():
    # bar 0: V 1000 -> A 8 @ 100 (A01 unlisted: no order). bar 2: V = 200 + 8*100 = 1000 ->
    # A 0.5*1000/100 - 8 = -3 (sell 3 @ 100), B 0.4*1000/20 = 20 (buy @ 20); cash 200 + 300 - 400 = 100.
    r = run(LIST_OPENS, LIST_CLOSES, {0: [0.8, NAN], 2: [0.5, 0.4]})
    assert fills(r) == [
        ("A00", 0, "buy", 8.0, 100.0, 0.0),
        ("A00", 2, "sell", 3.0, 100.0, 0.0),
        ("A01", 2, "buy", 20.0, 20.0, 0.0),
    ]
    assert r.equity == (1000.0, 1000.0, 1000.0, 100.0 + 5 * 120.0 + 20 * 25.0, 100.0 + 5 * 130.0 + 20 * 30.0)


def test_an_asset_listing_late_next_open():
    # bar 0: A 8, filled @ open[1] 100; cash 200. bar 2 (close A 100, B 20; V 1000): A -3, B +25.
    #   At open[3]: sell 3 @ 120 -> cash 560; buy 25 @ 25 = 625 > 560: rejected on bar 3.
    # bar 3 (close A 120, B 25; V = 560 + 5*120 = 1160): A 0.2*1160/120 - 5, B 0.6*1160/25 = 27.84.
    #   At open[4]: sell @ 120, buy @ 25.
    r = run(LIST_OPENS, LIST_CLOSES, {0: [0.8, NAN], 2: [0.5, 0.5], 3: [0.2, 0.6]}, fill="next_open")
    qa = 5 - 0.2 * 1160.0 / 120.0
    qb = 0.6 * 1160.0 / 25.0
    assert fills(r) == approx([
        ("A00", 1, "buy", 8.0, 100.0, 0.0),
        ("A00", 3, "sell", 3.0, 120.0, 0.0),
        ("A00", 4, "sell", qa, 120.0, 0.0),
        ("A01", 4, "buy", qb, 25.0, 0.0),
    ])
    assert rejections(r) == [("A01", 3, "buy", 25.0)]
    cash4 = 560.0 + qa * 120.0 - qb * 25.0
    assert r.equity == pytest.approx([1000.0, 1000.0, 1000.0, 1160.0, cash4 + (5 - qa) * 130.0 + qb * 30.0],
                                     rel=1e-12, abs=0.0)


# ------------------------------------------------------------------------ guards


def test_a_fixed_size_scenario_is_not_a_rotation():
    from adapters._backtrader_rotation import run_rotation

    sc = make_scenario(bars((100.0, 101.0, 99.0, 100.0), (100.0, 101.0, 99.0, 100.0)), entries=[1, 0], exits=[0, 0])
    with pytest.raises(NotImplementedError):
        run_rotation(sc)


def test_an_unlisted_asset_never_enters_the_valuation():
    # A01 has NaN prices on bars 0-1 and is never traded: it must not enter the broker's valuation.
    # A 8 @ 100, cash 200; value 200 + 8 * close.
    for fill in ("close", "next_open"):
        r = run(LIST_OPENS, LIST_CLOSES, {0: [0.8, NAN]}, fill=fill)
        assert all(math.isfinite(v) for v in r.equity)
        assert r.equity == (1000.0, 1000.0, 1000.0, 1160.0, 1240.0)
