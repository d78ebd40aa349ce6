"""Backtrader adapter exit rules on hand-built bars: each test states the fills it expects, by hand.

Bars are (open, high, low, close). Signals are 0/1 per bar. Cash 10 000, size 10,
no fee or slippage unless a test says otherwise. Levels are written with the
contract's float expressions (``ref * (1 - p)``, ``hwm * (1 - p)``,
``ref * (1 + q)``) next to their decimal value; fills at a level are expected at
exactly that float.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters import backtrader as bt_adapter

from harness.results import validate_result
from harness.scenario import Market, Scenario
from tests.builders import bars, make_scenario

BACKTRADER = bt_adapter.Backtrader()

pytestmark = pytest.mark.backtrader

PRICE = 1e-12
VALUE = 1e-9
SIZE = 10.0


def run(ohlc, entries, exits, **kw):
    out = bt_adapter.simulate(make_scenario(ohlc, entries=entries, exits=exits, **kw))
    validate_result(out.result)
    return out.result


def check(result, expected, fee=0.0):
    """``expected``: (bar, side, price, reason) per fill, in order; size 10, fee = f * 10 * price."""
    got = [(f.bar, f.side, f.reason) for f in result.fills]
    assert got == [(b, s, r) for b, s, _, r in expected], [(f.bar, f.side, f.price, f.reason) for f in result.fills]
    for f, (_, _, price, _) in zip(result.fills, expected):
        assert f.size == SIZE
        assert f.price == pytest.approx(price, rel=PRICE, abs=0.0)
        assert f.fee == pytest.approx(fee * SIZE * price, rel=VALUE, abs=1e-12)


def final_cash(expected, cash=10_000.0, fee=0.0):
    for _, side, price, _ in expected:
        cash += (-1 if side == "buy" else 1) * SIZE * price - fee * SIZE * price
    return cash


FLAT = (100.0, 101.0, 99.0, 100.0)


# ------------------------------------------------------------------------- stop-loss


def test_stop_loss_intrabar_fills_at_the_level():
    # buy @ close[0] = 100 -> SL level 100 * (1 - 0.05) = 95.0; bar 1's low 96 stays above;
    # bar 2's low 94 reaches it -> sell @ 95.0
    ohlc = bars(FLAT, (100.0, 102.0, 96.0, 101.0), (101.0, 101.5, 94.0, 95.5), (95.0, 96.0, 94.0, 95.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], stop_loss=0.05)
    expected = [(0, "buy", 100.0, "signal"), (2, "sell", 100.0 * (1 - 0.05), "stop_loss")]
    check(r, expected)
    assert r.fills[1].price == 95.0
    assert r.final_value == pytest.approx(final_cash(expected), rel=VALUE)  # 9 950


def test_stop_loss_gapped_at_the_open_fills_at_the_open():
    # level 95.0; bar 2 opens at 93 (below the level) -> sell @ open 93, not at 95
    ohlc = bars(FLAT, (100.0, 102.0, 96.0, 101.0), (93.0, 94.0, 90.0, 92.0), (92.0, 93.0, 91.0, 92.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], stop_loss=0.05)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 93.0, "stop_loss")])


def test_stop_loss_low_exactly_at_the_level_fills():
    # level 95.0; bar 1's low is exactly 95.0 -> low <= level -> sell @ 95.0
    ohlc = bars(FLAT, (100.0, 101.0, 95.0, 99.0), (99.0, 100.0, 98.0, 99.0))
    r = run(ohlc, entries=[1, 0, 0], exits=[0, 0, 0], stop_loss=0.05)
    check(r, [(0, "buy", 100.0, "signal"), (1, "sell", 95.0, "stop_loss")])


def test_stops_are_not_checked_on_the_entry_bar_next_open():
    # next_open: entry signal bar 0 -> buy @ open[1] = 100; ref = close[1] = 100 -> level 95.0.
    # bar 1 (the fill bar) dips to 90: not checked. bar 2 dips to 94 -> sell @ 95.0.
    ohlc = bars(FLAT, (100.0, 101.0, 90.0, 100.0), (100.0, 101.0, 94.0, 96.0), (96.0, 97.0, 95.0, 96.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], fill="next_open", stop_loss=0.05)
    check(r, [(1, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss")])


def test_stops_are_not_checked_on_the_entry_bar_close():
    # close: buy @ close[1] = 100 (bar 1's low 90 is before the fill); level 95.0; bar 2's low 96: no stop.
    ohlc = bars(FLAT, (100.0, 101.0, 90.0, 100.0), (100.0, 101.0, 96.0, 97.0), (97.0, 98.0, 96.0, 97.0))
    r = run(ohlc, entries=[0, 1, 0, 0], exits=[0, 0, 0, 0], stop_loss=0.05)
    check(r, [(1, "buy", 100.0, "signal")])


# ------------------------------------------------------------------------ take-profit


def test_take_profit_intrabar_fills_at_the_level():
    # buy @ 100 -> TP level 100 * (1 + 0.1) = 110.00000000000001; bar 1's high 104 stays below;
    # bar 2's high 112 reaches it -> sell @ the level
    ohlc = bars(FLAT, (100.0, 104.0, 98.0, 103.0), (103.0, 112.0, 102.0, 106.0), (106.0, 107.0, 105.0, 106.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], take_profit=0.1)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 100.0 * (1 + 0.1), "take_profit")])
    assert r.fills[1].price == 110.00000000000001


def test_take_profit_high_exactly_at_110_does_not_reach_the_float_level():
    # 100 * (1 + 0.1) is 110.00000000000001 in floats: a high of exactly 110.0 is below it.
    ohlc = bars(FLAT, (100.0, 110.0, 99.0, 105.0), (105.0, 106.0, 104.0, 105.0))
    r = run(ohlc, entries=[1, 0, 0], exits=[0, 0, 0], take_profit=0.1)
    check(r, [(0, "buy", 100.0, "signal")])


def test_take_profit_gapped_at_the_open_fills_at_the_open():
    # TP level 110.00000000000001; bar 2 opens at 113 -> sell @ open 113
    ohlc = bars(FLAT, (100.0, 104.0, 98.0, 103.0), (113.0, 115.0, 111.0, 114.0), (114.0, 115.0, 113.0, 114.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], take_profit=0.1)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 113.0, "take_profit")])


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_bar_reaching_stop_and_take_profit_exits_at_the_stop(fill):
    # ref 100 (close[0] or close[1]); SL 95.0, TP 110.00000000000001; bar 2 spans 90..115 from
    # an open of 100 -> the stop wins: sell @ 95.0
    ohlc = bars(FLAT, FLAT, (100.0, 115.0, 90.0, 100.0), FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], fill=fill, stop_loss=0.05, take_profit=0.1)
    check(r, [(0 if fill == "close" else 1, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss")])


def test_take_profit_gapped_beats_a_stop_reached_later_in_the_bar():
    # SL 95.0, TP 110.00000000000001; bar 2 opens at 112 (TP gapped) then falls to 90 (below the
    # stop). The open comes first: sell @ open 112, take_profit. (Plain FIFO in Backtrader's
    # broker would fill the stop, submitted first, at 95.)
    ohlc = bars(FLAT, FLAT, (112.0, 113.0, 90.0, 95.0), FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0, 0, 0, 0], stop_loss=0.05, take_profit=0.1)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 112.0, "take_profit")])


def test_take_profit_with_slippage_and_fee():
    # s = 0.01, f = 0.002. buy @ close[0] * 1.01 = 101.0; ref = close[0] = 100 (close reference)
    # -> TP level 110.00000000000001; bar 2 reaches it intrabar -> sell @ level * (1 - 0.01)
    # = 108.9 (Backtrader's stock broker would fill the limit unslipped at the level).
    # Second trade: buy @ close[3] * 1.01; TP level 110.00000000000001 gapped by bar 4's open of
    # 115 -> sell @ 115 * 0.99 = 113.85.
    s, f = 0.01, 0.002
    ohlc = bars(FLAT, (100.0, 104.0, 98.0, 103.0), (103.0, 112.0, 102.0, 106.0),
                FLAT, (115.0, 116.0, 114.0, 115.0), (115.0, 116.0, 114.0, 115.0))
    r = run(ohlc, entries=[1, 0, 0, 1, 0, 0], exits=[0] * 6, take_profit=0.1, slippage=s, fee=f)
    expected = [(0, "buy", 100.0 * (1 + s), "signal"), (2, "sell", 100.0 * (1 + 0.1) * (1 - s), "take_profit"),
                (3, "buy", 100.0 * (1 + s), "signal"), (4, "sell", 115.0 * (1 - s), "take_profit")]
    check(r, expected, fee=f)
    assert r.fills[1].price == pytest.approx(108.9, rel=PRICE)
    assert r.final_value == pytest.approx(final_cash(expected, fee=f), rel=VALUE)


def test_stop_fills_get_slippage_at_the_level_and_at_a_gapped_open():
    # s = 0.02: SL level 95.0 reached intrabar -> 95.0 * 0.98 = 93.1; second trade gapped at
    # open 90 -> 90 * 0.98 = 88.2. No clamp to the bar's low (93.1 < bar 2's low 94).
    s = 0.02
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 96.0), FLAT, (90.0, 91.0, 89.0, 90.0), (90.0, 91.0, 89.0, 90.0))
    r = run(ohlc, entries=[1, 0, 0, 1, 0, 0], exits=[0] * 6, stop_loss=0.05, slippage=s)
    check(r, [(0, "buy", 102.0, "signal"), (2, "sell", 95.0 * (1 - s), "stop_loss"),
              (3, "buy", 102.0, "signal"), (4, "sell", 90.0 * (1 - s), "stop_loss")])


# ---------------------------------------------------------------------- stop reference


@pytest.mark.parametrize("reference", ["close", "fill_price"])
def test_stop_reference_close_vs_fill_price_close_mode(reference):
    # s = 0.02: buy @ close[0] * 1.02 = 102.0. ref = 100 (close) -> level 95.0,
    # or 102.0 (fill price) -> level 102 * (1 - 0.05) = 96.9. Bar 2's low 96 reaches only 96.9.
    s = 0.02
    ohlc = bars(FLAT, (100.0, 101.0, 97.5, 100.0), (100.0, 101.0, 96.0, 98.0), (98.0, 99.0, 97.0, 98.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, stop_loss=0.05, slippage=s, stop_reference=reference)
    if reference == "close":
        check(r, [(0, "buy", 102.0, "signal")])
    else:
        check(r, [(0, "buy", 102.0, "signal"), (2, "sell", 102.0 * (1 - 0.05) * (1 - s), "stop_loss")])
        assert r.fills[1].price == pytest.approx(96.9 * 0.98, rel=PRICE)


@pytest.mark.parametrize("reference", ["close", "fill_price"])
def test_stop_reference_close_vs_fill_price_next_open(reference):
    # buy @ open[1] = 100 (no slippage); close[1] = 104. ref = 104 (close of the fill bar) ->
    # level 104 * 0.95 = 98.8; ref = 100 (fill price) -> level 95.0. Bar 2's low 97 reaches 98.8 only.
    ohlc = bars(FLAT, (100.0, 105.0, 99.0, 104.0), (103.0, 104.0, 97.0, 99.0), (99.0, 100.0, 98.0, 99.0))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, fill="next_open", stop_loss=0.05, stop_reference=reference)
    if reference == "close":
        check(r, [(1, "buy", 100.0, "signal"), (2, "sell", 104.0 * (1 - 0.05), "stop_loss")])
    else:
        check(r, [(1, "buy", 100.0, "signal")])


# ------------------------------------------------------------------------- trailing


@pytest.mark.parametrize("source", ["high", "close"])
def test_trailing_follows_highs_or_closes(source):
    # trail 10%, buy @ close[0] = 100 -> hwm 100, level 90.
    # bar 1 (100, 120, 99, 101): level 90 not reached; hwm -> 120 (high) or 101 (close).
    # bar 2 (110, 111, 104, 105): high: level 120 * 0.9 = 108.0, low 104 -> sell @ 108.0.
    #                             close: level 101 * 0.9 = 90.9 not reached; hwm -> 105.
    # bar 3 (100, 101, 93, 95):   close: level 105 * 0.9 = 94.5, low 93 -> sell @ 94.5.
    ohlc = bars(FLAT, (100.0, 120.0, 99.0, 101.0), (110.0, 111.0, 104.0, 105.0), (100.0, 101.0, 93.0, 95.0),
                (95.0, 96.0, 94.0, 95.0))
    r = run(ohlc, entries=[1, 0, 0, 0, 0], exits=[0] * 5, trailing_stop=0.1, trail_source=source)
    if source == "high":
        check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 120.0 * (1 - 0.1), "trailing_stop")])
    else:
        check(r, [(0, "buy", 100.0, "signal"), (3, "sell", 105.0 * (1 - 0.1), "trailing_stop")])


@pytest.mark.parametrize("source", ["high", "close"])
def test_trailing_next_open_starts_at_the_reference_and_skips_the_fill_bar(source):
    # next_open: buy @ open[1] = 100; ref = close[1] = 100 -> level 90. Bar 1's high 130 must
    # not raise the hwm (the fill bar). bar 2 (100, 105, 96, 102): level 90 holds; hwm -> 105 | 102.
    # bar 3 (100, 101, 93.5, 95): high: level 105 * 0.9 = 94.5 -> sell @ 94.5;
    #                             close: level 102 * 0.9 = 91.8 holds.
    ohlc = bars(FLAT, (100.0, 130.0, 99.0, 100.0), (100.0, 105.0, 96.0, 102.0), (100.0, 101.0, 93.5, 95.0),
                (95.0, 96.0, 94.0, 95.0))
    r = run(ohlc, entries=[1, 0, 0, 0, 0], exits=[0] * 5, fill="next_open", trailing_stop=0.1, trail_source=source)
    if source == "high":
        check(r, [(1, "buy", 100.0, "signal"), (3, "sell", 105.0 * (1 - 0.1), "trailing_stop")])
    else:
        check(r, [(1, "buy", 100.0, "signal")])


def test_trailing_level_uses_the_contract_arithmetic():
    # ref = close[0] = 51, trail 5% (close source): level 51 * (1 - 0.05) = 48.449999999999996.
    # Bar 1's low of 48.45 is above that float: no fill. (Backtrader's own
    # Order.trailadjust computes 51 - 51 * 0.05 = 48.45 and would fill.) Bar 2's low 48 fills at
    # the level.
    ohlc = bars((51.0, 52.0, 50.0, 51.0), (51.0, 51.5, 48.45, 49.0), (49.0, 49.5, 48.0, 48.5), (48.5, 49.0, 48.0, 48.5))
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, trailing_stop=0.05, trail_source="close")
    check(r, [(0, "buy", 51.0, "signal"), (2, "sell", 51.0 * (1 - 0.05), "trailing_stop")])
    assert r.fills[1].price == 48.449999999999996


# ------------------------------------------------------------ stop-loss and trailing


def test_stop_loss_below_the_trail_start_is_the_binding_stop():
    # SL 5% -> 95.0; trail 10% -> 90 (high source). bar 1 (100, 101, 94, 96): stop = max(95, 90) = 95,
    # low 94 -> sell @ 95.0, labelled stop_loss.
    ohlc = bars(FLAT, (100.0, 101.0, 94.0, 96.0), FLAT)
    r = run(ohlc, entries=[1, 0, 0], exits=[0] * 3, stop_loss=0.05, trailing_stop=0.1)
    check(r, [(0, "buy", 100.0, "signal"), (1, "sell", 95.0, "stop_loss")])


@pytest.mark.parametrize("bar2, price", [
    ((105.0, 106.0, 97.0, 98.0), 110.0 * (1 - 0.1)),   # only the trail (99.0) reached -> @ 99.0
    ((105.0, 106.0, 93.0, 94.0), 110.0 * (1 - 0.1)),   # both reached: the higher stop fills @ 99.0
    ((94.0, 95.0, 92.0, 93.0), 94.0),                   # both gapped: @ open 94, still trailing
])
def test_trailing_above_the_stop_loss_is_the_binding_stop(bar2, price):
    # SL 95.0; trail 10% (high): bar 1's high 110 -> trail level 110 * 0.9 = 99.0 > 95.0.
    # On bar 2 the single stop is at 99.0, labelled trailing_stop. (FIFO alone would fill the
    # stop-loss, submitted first, at 95.0 when both are reached.)
    ohlc = bars(FLAT, (100.0, 110.0, 99.5, 108.0), bar2, FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, stop_loss=0.05, trailing_stop=0.1)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", price, "trailing_stop")])


def test_equal_stop_loss_and_trailing_levels_are_labelled_stop_loss():
    # ref 51, SL 5% and trail 5%: both levels are 51 * (1 - 0.05) = 48.449999999999996; the trail is
    # not strictly above -> stop_loss. (Backtrader's own trail arithmetic gives 48.45, above the
    # stop-loss, and would fill 1 ulp higher labelled trailing_stop.)
    ohlc = bars((51.0, 52.0, 50.0, 51.0), (51.0, 51.0, 48.0, 49.0), (49.0, 49.5, 48.0, 48.5))
    r = run(ohlc, entries=[1, 0, 0], exits=[0] * 3, stop_loss=0.05, trailing_stop=0.05)
    check(r, [(0, "buy", 51.0, "signal"), (1, "sell", 48.449999999999996, "stop_loss")])


# ------------------------------------------------------------------------- time exits

TIME_OHLC = bars(FLAT, (100.0, 102.0, 99.0, 101.0), (101.0, 103.0, 100.0, 102.0), (102.0, 104.0, 101.0, 103.0),
                 (103.0, 105.0, 102.0, 104.0), (104.0, 106.0, 103.0, 105.0), (105.0, 106.0, 104.0, 105.0))


def test_time_exit_close_mode():
    # max_bars 2: buy @ close[0] = 100, time exit at close[0 + 2] = 102. Entry on bar 3 -> buy @ 103;
    # its time exit is due at close[5] = 105 (bar 5 is not the last). Entry bar 2 is ignored: no
    # re-entry on the bar an exit filled.
    r = run(TIME_OHLC, entries=[1, 0, 1, 1, 0, 0, 0], exits=[0] * 7, max_bars=2)
    expected = [(0, "buy", 100.0, "signal"), (2, "sell", 102.0, "time_exit"),
                (3, "buy", 103.0, "signal"), (5, "sell", 105.0, "time_exit")]
    check(r, expected)
    assert r.final_value == pytest.approx(final_cash(expected), rel=VALUE)


def test_time_exit_next_open_mode():
    # max_bars 2: buy @ open[1] = 100 (fill bar 1); the exit is decided on bar 2 and fills at
    # open[1 + 2] = 102. Entry on bar 3 -> buy @ open[4] = 103; its exit would be at open[6] = 105.
    r = run(TIME_OHLC, entries=[1, 0, 0, 1, 0, 0, 0], exits=[0] * 7, fill="next_open", max_bars=2)
    check(r, [(1, "buy", 100.0, "signal"), (3, "sell", 102.0, "time_exit"),
              (4, "buy", 103.0, "signal"), (6, "sell", 105.0, "time_exit")])


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_time_exit_of_one_bar(fill):
    # max_bars 1. close: buy @ close[0] = 100, sell @ close[1] = 101.
    # next_open: buy @ open[1] = 100, sell @ open[2] = 101 (no stop-loss check in between matters).
    r = run(TIME_OHLC, entries=[1, 0, 0, 0, 0, 0, 0], exits=[0] * 7, fill=fill, max_bars=1)
    if fill == "close":
        check(r, [(0, "buy", 100.0, "signal"), (1, "sell", 101.0, "time_exit")])
    else:
        check(r, [(1, "buy", 100.0, "signal"), (2, "sell", 101.0, "time_exit")])


def test_time_exit_due_on_the_last_bar_close_does_not_fill():
    # close mode, max_bars 3: buy @ close[3] = 103; the exit is due at close[6], the last bar: no fill.
    r = run(TIME_OHLC, entries=[0, 0, 0, 1, 0, 0, 0], exits=[0] * 7, max_bars=3)
    check(r, [(3, "buy", 103.0, "signal")])
    assert r.final_value == pytest.approx(10_000.0 - 1030.0 + 1050.0, rel=VALUE)


def test_time_exit_next_open_due_on_the_last_bar_open_fills():
    # next_open, max_bars 2: entry bar 3 -> buy @ open[4] = 103; the exit decided on bar 5 fills
    # at open[6] = 105, the last bar's open.
    r = run(TIME_OHLC, entries=[0, 0, 0, 1, 0, 0, 0], exits=[0] * 7, fill="next_open", max_bars=2)
    check(r, [(4, "buy", 103.0, "signal"), (6, "sell", 105.0, "time_exit")])


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_exit_signal_on_the_time_exit_bar_is_a_signal_exit(fill):
    # max_bars 2 and an exit signal on the bar the time exit is decided on (close: bar 2; next_open: bar 2).
    exits = [0, 0, 1, 0, 0, 0, 0]
    if fill == "close":
        r = run(TIME_OHLC, entries=[1, 0, 0, 0, 0, 0, 0], exits=exits, max_bars=2)
        check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 102.0, "signal")])
    else:
        # buy @ open[1]; exit due at open[3] is decided on bar 2, which also has the exit signal.
        r = run(TIME_OHLC, entries=[1, 0, 0, 0, 0, 0, 0], exits=exits, fill="next_open", max_bars=2)
        check(r, [(1, "buy", 100.0, "signal"), (3, "sell", 102.0, "signal")])


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_stop_before_the_time_exit_wins(fill):
    # max_bars 3, SL 5%, ref 100 (close[0], or close[1] in next_open) -> 95.0. Bar 2's low 94 -> sell @ 95.0.
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 96.0), FLAT, FLAT, FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0, 0, 0], exits=[0] * 6, fill=fill, stop_loss=0.05, max_bars=3)
    check(r, [(0 if fill == "close" else 1, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss")])


def test_stop_and_time_exit_due_on_the_same_bar_close_mode():
    # max_bars 2, SL 95.0: buy @ close[0] = 100; bar 2 is due a time exit at its close (97) but its
    # low 94 reaches the stop first -> sell @ 95.0, stop_loss.
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 97.0), FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, stop_loss=0.05, max_bars=2)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss")])


def test_stop_and_time_exit_due_on_the_same_bar_next_open_mode():
    # max_bars 2, SL 5%: buy @ open[1] = 100, ref close[1] = 100 -> 95.0. The exit due at open[3] is
    # decided on bar 2; bar 3 opens at 99 and falls to 90: the open exit wins, no stop is checked
    # -> sell @ 99, time_exit.
    ohlc = bars(FLAT, FLAT, FLAT, (99.0, 99.5, 90.0, 91.0), FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0, 0], exits=[0] * 5, fill="next_open", stop_loss=0.05, max_bars=2)
    check(r, [(1, "buy", 100.0, "signal"), (3, "sell", 99.0, "time_exit")])


# ------------------------------------------------------- signals and stops on one bar


def test_next_open_exit_at_the_open_beats_an_intrabar_stop():
    # SL 95.0 (ref close[1] = 100). Exit signal on bar 2 -> sell @ open[3] = 99; bar 3's low 90
    # would reach the stop, but the open exit came first: no stop fill.
    ohlc = bars(FLAT, FLAT, FLAT, (99.0, 99.5, 90.0, 91.0), FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0], fill="next_open", stop_loss=0.05)
    check(r, [(1, "buy", 100.0, "signal"), (3, "sell", 99.0, "signal")])


def test_next_open_stop_on_the_exit_signal_bar_fills_and_the_signal_is_void():
    # SL 95.0. Bar 2 has an exit signal and reaches the stop intrabar: the stop fills on bar 2;
    # there is nothing left to sell at open[3].
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 96.0), FLAT, FLAT)
    r = run(ohlc, entries=[1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0], fill="next_open", stop_loss=0.05)
    check(r, [(1, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss")])


def test_close_mode_no_reentry_on_the_bar_a_stop_fired():
    # SL 95.0. Bar 2 reaches the stop and has an entry signal: no buy on bar 2. Entry on bar 3
    # -> buy @ close[3] = 100.
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 96.0), FLAT, FLAT)
    r = run(ohlc, entries=[1, 0, 1, 1, 0], exits=[0] * 5, stop_loss=0.05)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss"), (3, "buy", 100.0, "signal")])


def test_next_open_entry_on_the_bar_a_stop_fired_fills_at_the_next_open():
    # next_open: the stop fills on bar 2; the entry signal on bar 2 buys @ open[3] = 100.
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 96.0), FLAT, FLAT)
    r = run(ohlc, entries=[1, 0, 1, 0, 0], exits=[0] * 5, fill="next_open", stop_loss=0.05)
    check(r, [(1, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss"), (3, "buy", 100.0, "signal")])


def test_stop_on_the_last_bar_fills():
    # SL 95.0; the last bar (2) reaches it intrabar -> sell @ 95.0 (only decisions on the last bar are void).
    ohlc = bars(FLAT, FLAT, (100.0, 101.0, 94.0, 96.0))
    r = run(ohlc, entries=[1, 0, 0], exits=[0] * 3, stop_loss=0.05)
    check(r, [(0, "buy", 100.0, "signal"), (2, "sell", 95.0, "stop_loss")])
    assert r.final_value == pytest.approx(9_950.0, rel=VALUE)


# ---------------------------------------------------------------------------- equity


def test_close_mode_equity_when_a_stop_fills_in_the_step_that_books_the_entry():
    # Backtrader books the close[0] entry and bar 1's stop in one broker step (bar 1's).
    # f = 0.001: buy 10 @ 100, fee 1.0 -> cash 8 999; stop @ 95.0, fee 0.95 -> cash 9 948.05.
    ohlc = bars(FLAT, (100.0, 101.0, 94.0, 96.0), (96.0, 97.0, 95.0, 96.0))
    r = run(ohlc, entries=[1, 0, 0], exits=[0] * 3, stop_loss=0.05, fee=0.001)
    assert r.equity == pytest.approx([8_999.0 + 10 * 100.0, 9_948.05, 9_948.05], rel=VALUE)


def two_assets(rows, entries, exits, **kw) -> Scenario:
    """A two-asset scenario from rows of ((A00 ohlc), (A01 ohlc)) and per-asset 0/1 signal lists."""
    n = len(rows)
    base = make_scenario(bars(*(r[0] for r in rows)), entries=[0] * n, exits=[0] * n, **kw)

    def grid(k):
        a = np.array([[r[0][k], r[1][k]] for r in rows])
        a.setflags(write=False)
        return a

    def sig(cols):
        a = np.array(cols, dtype=bool).T.copy()
        a.setflags(write=False)
        return a

    vol = np.full((n, 2), 1000.0)
    vol.setflags(write=False)
    market = Market(timestamps=base.market.timestamps, assets=("A00", "A01"), open=grid(0), high=grid(1),
                    low=grid(2), close=grid(3), volume=vol, entries=sig(entries), exits=sig(exits))
    return Scenario(spec=base.spec, market=market)


def test_close_mode_equity_two_assets_stop_and_close_fill_in_one_step():
    # A00: buy @ close[0] = 100, SL 95.0 hit on bar 2. A01: buy @ close[1] = 50; Backtrader books
    # that fill in bar 2's broker step, together with A00's stop. f = 0.001.
    rows = [((100.0, 101.0, 99.0, 100.0), (50.0, 51.0, 49.0, 50.0)),
            ((100.0, 101.0, 99.0, 100.0), (50.0, 51.0, 49.0, 50.0)),
            ((100.0, 101.0, 94.0, 96.0), (50.0, 52.0, 49.0, 51.0)),
            ((96.0, 97.0, 95.0, 96.0), (51.0, 52.0, 50.0, 52.0))]
    sc = two_assets(rows, entries=[[1, 0, 0, 0], [0, 1, 0, 0]], exits=[[0] * 4, [0] * 4], stop_loss=0.05, fee=0.001)
    r = BACKTRADER.run(sc)
    assert [(f.asset, f.bar, f.side, f.price, f.reason) for f in r.fills] == [
        ("A00", 0, "buy", 100.0, "signal"), ("A01", 1, "buy", 50.0, "signal"), ("A00", 2, "sell", 95.0, "stop_loss")]
    cash0 = 10_000.0 - 1000.0 - 1.0            # after A00's buy and fee
    cash1 = cash0 - 500.0 - 0.5                # after A01's buy and fee: 8 498.5
    cash2 = cash1 + 950.0 - 0.95               # after A00's stop: 9 447.55
    assert r.equity == pytest.approx([
        cash0 + 10 * 100.0,                    # 0: 9 999
        cash1 + 10 * 100.0 + 10 * 50.0,        # 1: 9 998.5 (before A00's stop of bar 2)
        cash2 + 10 * 51.0,                     # 2: 9 957.55
        cash2 + 10 * 52.0,                     # 3: 9 967.55
    ], rel=VALUE)


def test_close_mode_entry_does_not_see_a_stop_of_the_next_bar():
    # Cash 1 550. A00 in @ close[0] = 100 (cash 550 left), SL 95.0 hit on bar 2. A01's entry on
    # bar 1 buys 10 @ close[1] = 60 = 600 > 550: rejected, although Backtrader only books it in
    # bar 2's broker step, where A00's stop (+950) also fills.
    rows = [((100.0, 101.0, 99.0, 100.0), (60.0, 61.0, 59.0, 60.0)),
            ((100.0, 101.0, 99.0, 100.0), (60.0, 61.0, 59.0, 60.0)),
            ((100.0, 101.0, 94.0, 96.0), (60.0, 61.0, 59.0, 60.0)),
            ((96.0, 97.0, 95.0, 96.0), (60.0, 61.0, 59.0, 60.0))]
    sc = two_assets(rows, entries=[[1, 0, 0, 0], [0, 1, 0, 0]], exits=[[0] * 4, [0] * 4], stop_loss=0.05,
                    cash=1_550.0)
    r = BACKTRADER.run(sc)
    assert [(f.asset, f.bar, f.side, f.price, f.reason) for f in r.fills] == [
        ("A00", 0, "buy", 100.0, "signal"), ("A00", 2, "sell", 95.0, "stop_loss")]
    assert [(x.asset, x.bar, x.side) for x in r.rejections] == [("A01", 1, "buy")]


def test_next_open_entry_at_the_open_does_not_see_a_later_intrabar_stop():
    # next_open, cash 1 550. A01 in @ open[1] = 100 (ref close[1] = 100, SL 95.0), cash 550 left.
    # A00's entry on bar 1 buys 10 @ open[2] = 60 = 600 > 550: rejected; A01's stop fills later on
    # bar 2 (low 94 -> @ 95.0). Backtrader queues the older stop first: the adapter orders the step.
    rows = [((60.0, 61.0, 59.0, 60.0), (100.0, 101.0, 99.0, 100.0)),
            ((60.0, 61.0, 59.0, 60.0), (100.0, 101.0, 99.0, 100.0)),
            ((60.0, 61.0, 59.0, 60.0), (100.0, 101.0, 94.0, 96.0)),
            ((60.0, 61.0, 59.0, 60.0), (96.0, 97.0, 95.0, 96.0))]
    sc = two_assets(rows, entries=[[0, 1, 0, 0], [1, 0, 0, 0]], exits=[[0] * 4, [0] * 4], stop_loss=0.05,
                    cash=1_550.0, fill="next_open")
    r = BACKTRADER.run(sc)
    assert [(f.asset, f.bar, f.side, f.price, f.reason) for f in r.fills] == [
        ("A01", 1, "buy", 100.0, "signal"), ("A01", 2, "sell", 95.0, "stop_loss")]
    assert [(x.asset, x.bar, x.side) for x in r.rejections] == [("A00", 2, "buy")]


def test_next_open_entry_at_the_open_comes_before_another_assets_intrabar_stop():
    # Time order (EXIT_PRECEDENCE): every open fill of bar 2 before any stop during bar 2. Cash 1 550:
    # A00 in @ open[1] = 100 (550 left). At open[2] A01's entry (signal on bar 1) needs 600: rejected,
    # although A00's stop later in bar 2 (@ 95.0, +950) would have paid for it.
    rows = [((100.0, 101.0, 99.0, 100.0), (60.0, 61.0, 59.0, 60.0)),
            ((100.0, 101.0, 99.0, 100.0), (60.0, 61.0, 59.0, 60.0)),
            ((100.0, 101.0, 94.0, 96.0), (60.0, 61.0, 59.0, 60.0)),
            ((96.0, 97.0, 95.0, 96.0), (60.0, 61.0, 59.0, 60.0))]
    sc = two_assets(rows, entries=[[1, 0, 0, 0], [0, 1, 0, 0]], exits=[[0] * 4, [0] * 4], stop_loss=0.05,
                    cash=1_550.0, fill="next_open")
    r = BACKTRADER.run(sc)
    assert [(f.asset, f.bar, f.side, f.price, f.reason) for f in r.fills] == [
        ("A00", 1, "buy", 100.0, "signal"), ("A00", 2, "sell", 95.0, "stop_loss")]
    assert [(x.asset, x.bar, x.side) for x in r.rejections] == [("A01", 2, "buy")]


# ------------------------------------------------------------------------ rejections


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_rejected_entry_leaves_no_protective_orders(fill):
    # cash 900 < 10 * 100: the entry is rejected. Bar 2 would reach every level; nothing may sell
    # (a stale stop would open a short position).
    ohlc = bars(FLAT, FLAT, (100.0, 120.0, 80.0, 100.0), FLAT)
    out = bt_adapter.simulate(make_scenario(ohlc, entries=[1, 0, 0, 0], exits=[0] * 4, fill=fill, cash=900.0,
                                            stop_loss=0.05, take_profit=0.1, trailing_stop=0.02, max_bars=2))
    assert out.result.fills == ()
    assert [(r.bar, r.side, r.reason) for r in out.result.rejections] == [(0 if fill == "close" else 1, "buy", "signal")]
    assert out.result.equity == (900.0,) * 4


# --------------------------------------------------------------------- all combined


def test_all_rules_combined_close_mode():
    # SL 5%, TP 10%, trail 8% (high), max_bars 4, fee 0.001, close reference.
    sl, tp, tr = 0.05, 0.1, 0.08
    ohlc = bars(
        FLAT,                            # 0  E  buy @ 100: SL 95, TP 110.00000000000001, trail 92
        (100.0, 103.0, 99.0, 102.0),     # 1     stop 95 holds; hwm 103 -> trail 94.76
        (102.0, 104.0, 101.0, 103.0),    # 2     stop max(95, 94.76) holds; hwm 104 -> 95.68
        (103.0, 105.0, 100.0, 104.0),    # 3     stop 95.68 holds; hwm 105 -> 96.6
        (104.0, 105.0, 101.0, 102.0),    # 4  E  stop 96.6 holds; time exit @ close 102 (0 + 4); entry void
        (102.0, 103.0, 101.0, 100.0),    # 5  E  buy @ 100
        (101.0, 111.0, 100.0, 108.0),    # 6     TP 110.00000000000001 reached -> take_profit
        (108.0, 109.0, 99.0, 100.0),     # 7  E  buy @ 100
        (100.0, 107.0, 99.0, 106.0),     # 8     stop 95 holds, TP holds; hwm 107 -> 98.44
        (106.0, 106.5, 97.0, 98.0),      # 9     stop max(95, 98.44): low 97 -> @ 98.44 trailing_stop
        (98.0, 101.0, 97.0, 100.0),      # 10 E  buy @ 100
        (99.0, 100.0, 93.0, 94.0),       # 11 E  stop max(95, 92) = 95: low 93 -> @ 95.0 stop_loss; entry void
        (94.0, 96.0, 93.0, 95.0),        # 12 E  buy @ 95
        (95.0, 96.0, 94.0, 95.5),        # 13 X  signal exit @ 95.5
        (95.0, 97.0, 94.0, 96.0),        # 14    last bar
    )
    entries = [1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0]
    exits = [0] * 13 + [1, 0]
    f = 0.001
    r = run(ohlc, entries=entries, exits=exits, fee=f, stop_loss=sl, take_profit=tp, trailing_stop=tr, max_bars=4)
    expected = [
        (0, "buy", 100.0, "signal"), (4, "sell", 102.0, "time_exit"),
        (5, "buy", 100.0, "signal"), (6, "sell", 100.0 * (1 + tp), "take_profit"),
        (7, "buy", 100.0, "signal"), (9, "sell", 107.0 * (1 - tr), "trailing_stop"),
        (10, "buy", 100.0, "signal"), (11, "sell", 100.0 * (1 - sl), "stop_loss"),
        (12, "buy", 95.0, "signal"), (13, "sell", 95.5, "signal"),
    ]
    check(r, expected, fee=f)
    assert r.final_value == pytest.approx(final_cash(expected, fee=f), rel=VALUE)
    assert r.final_value == r.equity[-1]


def test_all_rules_combined_next_open_with_costs():
    # SL 5%, TP 10%, trail 8% (close), max_bars 3, s = 0.01, f = 0.002, fill-price reference.
    s, f, sl, tp, tr = 0.01, 0.002, 0.05, 0.1, 0.08
    ohlc = bars(
        FLAT,                            # 0  E
        (100.0, 102.0, 99.0, 101.0),     # 1     buy @ 100 * 1.01 = 101 = ref: SL 95.95, TP 111.1, trail 92.92
        (101.0, 104.0, 100.0, 103.0),    # 2     stop 95.95 holds; hwm (close) 103 -> 94.76
        (103.0, 104.0, 102.0, 103.5),    # 3     holds; hwm 103.5; time exit (1 + 3 = 4) decided here
        (104.0, 105.0, 90.0, 91.0),      # 4  E  sell @ open 104 * 0.99 (time exit beats the stop); entry
        (92.0, 95.0, 91.0, 94.0),        # 5     buy @ 92 * 1.01 = 92.92 = ref: SL 88.274, TP 102.212
        (95.0, 103.0, 94.0, 100.0),      # 6     TP 102.212 reached -> sell @ 102.212 * 0.99
        (100.0, 101.0, 99.0, 100.0),     # 7
    )
    entries = [1, 0, 0, 0, 1, 0, 0, 0]
    r = run(ohlc, entries=entries, exits=[0] * 8, fill="next_open", fee=f, slippage=s, stop_loss=sl,
            take_profit=tp, trailing_stop=tr, trail_source="close", max_bars=3, stop_reference="fill_price")
    ref2 = 92.0 * (1 + s)
    expected = [
        (1, "buy", 100.0 * (1 + s), "signal"), (4, "sell", 104.0 * (1 - s), "time_exit"),
        (5, "buy", ref2, "signal"), (6, "sell", ref2 * (1 + tp) * (1 - s), "take_profit"),
    ]
    check(r, expected, fee=f)
    assert r.final_value == pytest.approx(final_cash(expected, fee=f), rel=VALUE)


# ---------------------------------------------------------------------------- guards


@pytest.mark.parametrize("knobs, message", [
    (dict(stop_loss=1.0), "stop_loss"),
    (dict(trailing_stop=0.0), "trailing_stop"),
    (dict(take_profit=float("inf")), "take_profit"),
    (dict(max_bars=0), "max_bars"),
])
def test_out_of_range_exit_knobs_raise(knobs, message):
    with pytest.raises(ValueError, match=message):
        run(bars(FLAT, FLAT), entries=[1, 0], exits=[0, 0], **knobs)


def test_a_missing_bar_after_listing_raises():
    nan = float("nan")
    with pytest.raises(ValueError, match="after it listed"):
        run(bars(FLAT, (nan, nan, nan, nan), FLAT), entries=[1, 0, 0], exits=[0, 0, 0], max_bars=1)
