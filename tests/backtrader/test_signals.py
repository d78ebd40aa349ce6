"""Backtrader adapter on hand-built bars: each test states the fills it expects, by hand.

Bars are (open, high, low, close). Signals are 0/1 per bar. Cash 10 000, size 10
unless a test says otherwise.
"""

from __future__ import annotations

import logging

import pytest

from adapters import backtrader as bt_adapter

from harness.results import validate_result
from tests.builders import bars, make_scenario

BACKTRADER = bt_adapter.Backtrader()

pytestmark = pytest.mark.backtrader

PRICE = 1e-12
VALUE = 1e-9

# bar:        open    high   low    close
OHLC = bars(
    (100.0, 101.0, 99.0, 100.5),   # 0
    (100.5, 102.0, 100.0, 101.0),  # 1
    (101.5, 103.0, 101.0, 102.5),  # 2
    (102.0, 104.0, 101.5, 103.0),  # 3
    (103.5, 105.0, 103.0, 104.5),  # 4
    (104.0, 104.5, 102.0, 102.0),  # 5
)
OPEN = OHLC["open"]
CLOSE = OHLC["close"]


def run(entries, exits, **kw):
    result = BACKTRADER.run(make_scenario(OHLC, entries=entries, exits=exits, **kw))
    validate_result(result)
    return result


def fills_of(result):
    return [(f.bar, f.side, f.size, f.price, f.fee, f.reason) for f in result.fills]


def assert_fills(result, expected):
    got = fills_of(result)
    assert [(b, s) for b, s, *_ in got] == [(b, s) for b, s, *_ in expected], got
    for (bar, side, size, price, fee, reason), (_, _, esize, eprice, efee) in zip(got, expected):
        assert size == pytest.approx(esize, rel=VALUE)
        assert price == pytest.approx(eprice, rel=PRICE)
        assert fee == pytest.approx(efee, rel=VALUE, abs=1e-12)
        assert reason == "signal"


# ---------------------------------------------------------------------- fill modes


def test_close_mode_fills_at_the_signal_bar_close():
    # entry on bar 1 -> buy 10 @ close[1] = 101.0; exit on bar 3 -> sell 10 @ close[3] = 103.0
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill="close")
    assert_fills(r, [(1, "buy", 10.0, 101.0, 0.0), (3, "sell", 10.0, 103.0, 0.0)])
    # 10 000 - 1010 + 1030
    assert r.final_value == pytest.approx(10_020.0, rel=VALUE)


def test_next_open_mode_fills_at_the_next_bar_open():
    # entry on bar 1 -> buy 10 @ open[2] = 101.5; exit on bar 3 -> sell 10 @ open[4] = 103.5
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill="next_open")
    assert_fills(r, [(2, "buy", 10.0, 101.5, 0.0), (4, "sell", 10.0, 103.5, 0.0)])
    # 10 000 - 1015 + 1035
    assert r.final_value == pytest.approx(10_020.0, rel=VALUE)


def test_next_open_exit_on_the_bar_the_entry_filled_is_valid():
    # entry on bar 1 fills @ open[2] = 101.5; the position is open at close[2], so the exit
    # signal on bar 2 counts -> sell @ open[3] = 102.0
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0, 0], fill="next_open")
    assert_fills(r, [(2, "buy", 10.0, 101.5, 0.0), (3, "sell", 10.0, 102.0, 0.0)])
    assert r.final_value == pytest.approx(10_000.0 - 1015.0 + 1020.0, rel=VALUE)


# --------------------------------------------------------------------------- costs


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_fee_and_slippage_arithmetic(fill):
    f, s = 0.002, 0.01
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill=fill, fee=f, slippage=s)
    if fill == "close":
        raw_buy, raw_sell, buy_bar, sell_bar = CLOSE[1], CLOSE[3], 1, 3  # 101.0, 103.0
    else:
        raw_buy, raw_sell, buy_bar, sell_bar = OPEN[2], OPEN[4], 2, 4  # 101.5, 103.5
    buy_px = raw_buy * (1 + s)    # close: 102.01     next_open: 102.515
    sell_px = raw_sell * (1 - s)  # close: 101.97     next_open: 102.465
    buy_fee = f * 10 * buy_px     # close: 2.0402     next_open: 2.0503
    sell_fee = f * 10 * sell_px   # close: 2.0394     next_open: 2.0493
    assert_fills(r, [(buy_bar, "buy", 10.0, buy_px, buy_fee), (sell_bar, "sell", 10.0, sell_px, sell_fee)])
    expected_final = 10_000.0 - 10 * buy_px - buy_fee + 10 * sell_px - sell_fee
    assert r.final_value == pytest.approx(expected_final, rel=VALUE)


def test_close_mode_hand_numbers_with_costs():
    # The same arithmetic written out: buy 10 @ 101.0*1.01 = 102.01, fee 0.002*10*102.01 = 2.0402;
    # sell 10 @ 103.0*0.99 = 101.97, fee 0.002*10*101.97 = 2.0394.
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fee=0.002, slippage=0.01)
    assert_fills(r, [(1, "buy", 10.0, 102.01, 2.0402), (3, "sell", 10.0, 101.97, 2.0394)])
    # 10 000 - 1020.1 - 2.0402 + 1019.7 - 2.0394
    assert r.final_value == pytest.approx(9_995.5204, rel=VALUE)


def test_slippage_is_not_clamped_to_the_bar_range():
    # bar 1: close 101.0, but the next bar's high (which Backtrader checks the coc order
    # against) is 103.0; a 5% slip gives 106.05 -> must not be clamped to 103.0.
    # exit bar 4: close 104.5, next bar's low 102.0; 5% down gives 99.275 < 102.0.
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 0, 1, 0], slippage=0.05)
    assert_fills(r, [(1, "buy", 10.0, 101.0 * 1.05, 0.0), (4, "sell", 10.0, 104.5 * 0.95, 0.0)])


# -------------------------------------------------------------------- signal rules


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_entry_ignored_while_long(fill):
    # entries on bars 0, 1, 2: only the first one opens a position; exit on bar 3.
    r = run(entries=[1, 1, 1, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill=fill)
    if fill == "close":
        assert_fills(r, [(0, "buy", 10.0, 100.5, 0.0), (3, "sell", 10.0, 103.0, 0.0)])
    else:
        assert_fills(r, [(1, "buy", 10.0, 100.5, 0.0), (4, "sell", 10.0, 103.5, 0.0)])


def test_next_open_entry_ignored_while_entry_pending_then_long():
    # entry on bar 1 is pending until open[2]; the entry on bar 2 sees the open position.
    r = run(entries=[0, 1, 1, 0, 0, 0], exits=[0, 0, 0, 0, 0, 0], fill="next_open")
    assert_fills(r, [(2, "buy", 10.0, 101.5, 0.0)])
    # still long at the end: 10 000 - 1015 + 10 * close[5] (102.0)
    assert r.final_value == pytest.approx(10_005.0, rel=VALUE)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_exit_ignored_when_flat(fill):
    # exits on bars 0 and 1 while flat do nothing; entry on bar 2, exit on bar 4.
    r = run(entries=[0, 0, 1, 0, 0, 0], exits=[1, 1, 0, 0, 1, 0], fill=fill)
    if fill == "close":
        assert_fills(r, [(2, "buy", 10.0, 102.5, 0.0), (4, "sell", 10.0, 104.5, 0.0)])
    else:
        assert_fills(r, [(3, "buy", 10.0, 102.0, 0.0), (5, "sell", 10.0, 104.0, 0.0)])


def test_reentry_after_exit():
    # close mode: in on 0, out on 2, in again on 3, out on 4.
    r = run(entries=[1, 0, 0, 1, 0, 0], exits=[0, 0, 1, 0, 1, 0])
    assert_fills(r, [(0, "buy", 10.0, 100.5, 0.0), (2, "sell", 10.0, 102.5, 0.0),
                     (3, "buy", 10.0, 103.0, 0.0), (4, "sell", 10.0, 104.5, 0.0)])
    assert r.final_value == pytest.approx(10_000.0 + 20.0 + 15.0, rel=VALUE)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_entry_on_the_last_bar_never_fills(fill):
    r = run(entries=[0, 0, 0, 0, 0, 1], exits=[0, 0, 0, 0, 0, 0], fill=fill)
    assert r.fills == ()
    assert r.final_value == 10_000.0
    assert r.equity == (10_000.0,) * 6


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_exit_on_the_last_bar_never_fills(fill):
    # entry on bar 0; the exit on bar 5 (last) does not fill: still long at close[5] = 102.0
    r = run(entries=[1, 0, 0, 0, 0, 0], exits=[0, 0, 0, 0, 0, 1], fill=fill)
    buy_px = CLOSE[0] if fill == "close" else OPEN[1]  # 100.5 either way
    assert fills_of(r) == [(0 if fill == "close" else 1, "buy", 10.0, buy_px, 0.0, "signal")]
    assert r.final_value == pytest.approx(10_000.0 - 10 * 100.5 + 10 * 102.0, rel=VALUE)


def test_next_open_signal_on_the_second_to_last_bar_fills_on_the_last_open():
    r = run(entries=[0, 0, 0, 0, 1, 0], exits=[0, 0, 0, 0, 0, 0], fill="next_open")
    assert_fills(r, [(5, "buy", 10.0, 104.0, 0.0)])
    assert r.final_value == pytest.approx(10_000.0 - 1040.0 + 1020.0, rel=VALUE)


# ---------------------------------------------------------------------------- equity


def test_close_mode_equity_on_the_fill_bar_is_after_the_fill():
    # Backtrader books the coc fill when bar 2 arrives; the contract's value[1] is
    # already after it: cash 10 000 - 10*102.01 - 2.0402, plus 10 * close[1].
    f, s = 0.002, 0.01
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fee=f, slippage=s)
    buy_px, buy_fee = 101.0 * (1 + s), f * 10 * 101.0 * (1 + s)
    sell_px, sell_fee = 103.0 * (1 - s), f * 10 * 103.0 * (1 - s)
    cash_long = 10_000.0 - 10 * buy_px - buy_fee           # 8977.8598
    cash_after = cash_long + 10 * sell_px - sell_fee       # 9995.5204
    expected = [
        10_000.0,                     # bar 0: flat
        cash_long + 10 * CLOSE[1],    # bar 1: after the buy, 9987.8598
        cash_long + 10 * CLOSE[2],    # bar 2: 10002.8598
        cash_after,                   # bar 3: after the sell
        cash_after,
        cash_after,
    ]
    assert r.equity == pytest.approx(expected, rel=VALUE)
    assert r.equity[1] == pytest.approx(9_987.8598, rel=VALUE)
    assert r.final_value == pytest.approx(9_995.5204, rel=VALUE)


def test_next_open_equity_per_bar():
    # buy 10 @ open[2] = 101.5 (bar 2), sell 10 @ open[4] = 103.5 (bar 4)
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], fill="next_open")
    expected = [10_000.0, 10_000.0,
                10_000.0 - 1015.0 + 10 * CLOSE[2],   # 10 010
                10_000.0 - 1015.0 + 10 * CLOSE[3],   # 10 015
                10_020.0, 10_020.0]
    assert r.equity == pytest.approx(expected, rel=VALUE)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_final_value_is_the_last_equity_value(fill):
    r = run(entries=[1, 0, 0, 1, 0, 0], exits=[0, 0, 1, 0, 0, 0], fill=fill, fee=0.001, slippage=0.0005)
    assert r.final_value == r.equity[-1]
    assert len(r.equity) == 6


# ------------------------------------------------------------------------ rejection


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_entry_that_does_not_fit_in_cash_is_rejected_not_filled(fill, caplog):
    # 10 units @ ~101 cost ~1010 > cash 1000: rejected whole, no fill, cash untouched.
    scenario = make_scenario(OHLC, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                             fill=fill, cash=1_000.0)
    with caplog.at_level(logging.DEBUG, logger="adapters.backtrader"):
        out = bt_adapter.simulate(scenario)
    assert out.result.fills == ()
    assert out.result.final_value == 1_000.0
    assert out.result.equity == (1_000.0,) * 6
    assert [(r.bar, r.side, r.size, r.status) for r in out.rejections] == [(1, "buy", 10.0, "Margin")]
    assert "Margin" in caplog.text


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_entry_after_a_rejection_can_fill(fill):
    # cash 1000. close mode: entry bar 1 (10 @ 101.0 = 1010) rejected; entry bar 3
    # (10 @ 99.0 = 990) fills. next_open: bar 1 -> open[2] 102.0 rejected; bar 3 -> open[4] 98.0 fills.
    ohlc = bars(
        (100.0, 101.0, 99.0, 100.0),   # 0
        (100.0, 102.0, 99.0, 101.0),   # 1
        (102.0, 102.0, 99.0, 100.0),   # 2
        (100.0, 100.0, 98.0, 99.0),    # 3
        (98.0, 99.0, 97.0, 98.5),      # 4
        (98.5, 99.0, 97.0, 97.0),      # 5
    )
    out = bt_adapter.simulate(make_scenario(ohlc, entries=[0, 1, 0, 1, 0, 0], exits=[0] * 6,
                                            fill=fill, cash=1_000.0))
    assert [(r.bar, r.status) for r in out.rejections] == [(1, "Margin")]
    if fill == "close":
        assert_fills(out.result, [(3, "buy", 10.0, 99.0, 0.0)])
        assert out.result.final_value == pytest.approx(1_000.0 - 990.0 + 970.0, rel=VALUE)
    else:
        assert_fills(out.result, [(4, "buy", 10.0, 98.0, 0.0)])
        assert out.result.final_value == pytest.approx(1_000.0 - 980.0 + 970.0, rel=VALUE)


def test_entry_costing_exactly_the_cash_fills():
    # 10 @ 100.5 = 1005.0 with no costs: cost == cash is not "exceeds cash".
    r = run(entries=[1, 0, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0, 0], cash=1_005.0)
    assert_fills(r, [(0, "buy", 10.0, 100.5, 0.0), (2, "sell", 10.0, 102.5, 0.0)])
    assert r.final_value == pytest.approx(1_025.0, rel=VALUE)


# ------------------------------------------------------------------- fractional size


def test_fractional_size():
    # size 2.5: buy 2.5 @ 101.0, sell 2.5 @ 103.0
    r = run(entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0], size=2.5)
    assert_fills(r, [(1, "buy", 2.5, 101.0, 0.0), (3, "sell", 2.5, 103.0, 0.0)])
    assert r.final_value == pytest.approx(10_005.0, rel=VALUE)


def test_next_open_cash_check_uses_the_fill_price_not_the_signal_close():
    # cash 1000, next_open. Entry on bar 1: 10 @ close[1] = 1010 would not fit, but the
    # order fills at open[2] = 99.0 -> 990 fits: buy 10 @ 99.0 at bar 2.
    ohlc = bars(
        (100.0, 101.0, 99.0, 100.0),   # 0
        (100.0, 102.0, 99.0, 101.0),   # 1
        (99.0, 100.0, 98.0, 99.5),     # 2
        (99.5, 100.0, 98.0, 98.0),     # 3
    )
    out = bt_adapter.simulate(make_scenario(ohlc, entries=[0, 1, 0, 0], exits=[0] * 4,
                                            fill="next_open", cash=1_000.0))
    assert out.rejections == ()
    assert_fills(out.result, [(2, "buy", 10.0, 99.0, 0.0)])
    assert out.result.final_value == pytest.approx(1_000.0 - 990.0 + 980.0, rel=VALUE)
