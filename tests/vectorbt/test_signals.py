"""The vectorbt adapter on hand-built bars, expected fills worked out by hand next to them.

Prices are compared to 1e-12 relative, sizes, fees and values to 1e-9 relative
(the contract's tolerances); bar, side and reason exactly.
"""

from __future__ import annotations

import pytest

from adapters.vectorbt import Vectorbt

from tests.builders import bars, make_scenario

run = Vectorbt().run

pytestmark = pytest.mark.vectorbt

# open, high, low, close; every open differs from the previous close (overnight gaps),
# so a fill at the wrong one of the two prices cannot go unnoticed.
SIX_BARS = bars(
    (10.0, 11.0, 9.0, 10.0),    # bar 0
    (10.2, 12.0, 10.0, 11.0),   # bar 1
    (11.3, 13.0, 11.0, 12.0),   # bar 2
    (11.8, 12.0, 10.0, 10.5),   # bar 3
    (10.1, 11.0, 9.0, 9.5),     # bar 4
    (9.6, 10.0, 9.0, 9.8),      # bar 5 (last)
)


def check_fills(result, expected):
    """``expected``: (bar, side, size, price, fee) in canonical order; reason is always "signal"."""
    got = [(f.bar, f.side, f.reason) for f in result.fills]
    assert got == [(bar, side, "signal") for bar, side, *_ in expected]
    for f, (_, _, size, price, fee) in zip(result.fills, expected):
        assert f.asset == "A00"
        assert f.price == pytest.approx(price, rel=1e-12, abs=0)
        assert f.size == pytest.approx(size, rel=1e-9, abs=0)
        assert f.fee == pytest.approx(fee, rel=1e-9, abs=1e-15)


def check_equity(result, expected):
    assert len(result.equity) == len(expected)
    for bar, (got, want) in enumerate(zip(result.equity, expected)):
        assert got == pytest.approx(want, rel=1e-9, abs=0), f"bar {bar}"
    assert result.final_value == pytest.approx(expected[-1], rel=1e-9, abs=0)
    assert result.final_value == result.equity[-1]


# ------------------------------------------------------------------ fill timing


def test_close_mode_fills_at_the_signal_bars_close():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                      fill="close", cash=1_000, size=10)
    r = run(s)
    # entry on bar 1 -> buy 10 @ close[1] = 11; exit on bar 3 -> sell 10 @ close[3] = 10.5
    check_fills(r, [(1, "buy", 10, 11.0, 0.0), (3, "sell", 10, 10.5, 0.0)])
    # cash after the buy: 1000 - 110 = 890
    # bar 0: 1000; bar 1: 890 + 10*11 = 1000; bar 2: 890 + 10*12 = 1010;
    # bar 3: 890 + 105 = 995 (flat); bars 4, 5: 995
    check_equity(r, [1000, 1000, 1010, 995, 995, 995])
    assert (r.engine, r.framework, r.framework_version) == ("vectorbt", "vectorbt", "1.2.0")
    assert r.scenario == "hand_built"
    assert r.timestamps == s.market.timestamps
    assert r.fills[0].timestamp == s.market.timestamps[1]


def test_next_open_mode_fills_at_the_next_bars_open():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                      fill="next_open", cash=1_000, size=10)
    r = run(s)
    # entry on bar 1 -> buy @ open[2] = 11.3; exit on bar 3 -> sell @ open[4] = 10.1
    check_fills(r, [(2, "buy", 10, 11.3, 0.0), (4, "sell", 10, 10.1, 0.0)])
    # cash after the buy: 1000 - 113 = 887
    # bar 2: 887 + 10*12 = 1007; bar 3: 887 + 105 = 992; bar 4: 887 + 101 = 988 (flat); bar 5: 988
    check_equity(r, [1000, 1000, 1007, 992, 988, 988])


def test_next_open_signal_on_the_second_to_last_bar_fills_at_the_last_open():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 0, 1, 0],
                      fill="next_open", cash=1_000, size=10)
    r = run(s)
    # exit on bar 4 -> sell @ open[5] = 9.6
    check_fills(r, [(2, "buy", 10, 11.3, 0.0), (5, "sell", 10, 9.6, 0.0)])
    # 887 + 96 = 983
    check_equity(r, [1000, 1000, 1007, 992, 887 + 10 * 9.5, 983])


# ------------------------------------------------------------------------ costs


def test_close_mode_fee_is_charged_on_the_slipped_price():
    fee, slip = 0.01, 0.02
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                      fill="close", cash=1_000, size=10, fee=fee, slippage=slip)
    r = run(s)
    buy = 11.0 * 1.02            # 11.22
    buy_fee = 0.01 * 10 * 11.22  # 1.122
    sell = 10.5 * 0.98           # 10.29
    sell_fee = 0.01 * 10 * 10.29  # 1.029
    check_fills(r, [(1, "buy", 10, buy, buy_fee), (3, "sell", 10, sell, sell_fee)])
    cash_long = 1000 - 112.2 - 1.122          # 886.678
    cash_flat = cash_long + 102.9 - 1.029     # 988.549
    # positions are marked at the raw close (no slippage on valuation)
    check_equity(r, [1000, cash_long + 110, cash_long + 120, cash_flat, cash_flat, cash_flat])
    assert r.final_value == pytest.approx(988.549, rel=1e-12)


def test_next_open_mode_slippage_and_fee_apply_to_the_open():
    fee, slip = 0.001, 0.005
    s = make_scenario(SIX_BARS, entries=[1, 0, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0, 0],
                      fill="next_open", cash=1_000, size=20, fee=fee, slippage=slip)
    r = run(s)
    buy = 10.2 * 1.005               # 10.251 at open[1]
    buy_fee = 0.001 * 20 * 10.251    # 0.20502
    sell = 11.8 * 0.995              # 11.741 at open[3]
    sell_fee = 0.001 * 20 * 11.741   # 0.23482
    check_fills(r, [(1, "buy", 20, buy, buy_fee), (3, "sell", 20, sell, sell_fee)])
    cash_long = 1000 - 205.02 - 0.20502        # 794.77498
    cash_flat = cash_long + 234.82 - 0.23482   # 1029.36016
    check_equity(r, [1000, cash_long + 20 * 11, cash_long + 20 * 12, cash_flat, cash_flat, cash_flat])


# ----------------------------------------------------------------- signal rules


def test_entry_is_ignored_while_long():
    s = make_scenario(SIX_BARS, entries=[1, 1, 1, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                      fill="close", cash=1_000, size=10)
    r = run(s)
    # one buy on bar 0 @ 10; the entries of bars 1 and 2 add nothing; sell on bar 3 @ 10.5
    check_fills(r, [(0, "buy", 10, 10.0, 0.0), (3, "sell", 10, 10.5, 0.0)])
    check_equity(r, [1000, 1010, 1020, 1005, 1005, 1005])


def test_entry_is_ignored_while_an_entry_is_pending_or_long_in_next_open_mode():
    s = make_scenario(SIX_BARS, entries=[1, 1, 1, 0, 0, 0], exits=[0, 0, 0, 1, 0, 0],
                      fill="next_open", cash=1_000, size=10)
    r = run(s)
    # entry on bar 0 -> buy @ open[1] = 10.2; exit on bar 3 -> sell @ open[4] = 10.1
    check_fills(r, [(1, "buy", 10, 10.2, 0.0), (4, "sell", 10, 10.1, 0.0)])
    check_equity(r, [1000, 898 + 110, 898 + 120, 898 + 105, 999, 999])


def test_exit_is_ignored_when_flat():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[1, 0, 0, 1, 1, 0],
                      fill="close", cash=1_000, size=10)
    r = run(s)
    # the exit on bar 0 (flat) and the second exit on bar 4 (flat again) do nothing
    check_fills(r, [(1, "buy", 10, 11.0, 0.0), (3, "sell", 10, 10.5, 0.0)])
    check_equity(r, [1000, 1000, 1010, 995, 995, 995])


def test_exit_is_ignored_when_flat_in_next_open_mode():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[1, 0, 0, 1, 1, 0],
                      fill="next_open", cash=1_000, size=10)
    r = run(s)
    check_fills(r, [(2, "buy", 10, 11.3, 0.0), (4, "sell", 10, 10.1, 0.0)])


def test_reentry_after_an_exit_buys_size_again():
    s = make_scenario(SIX_BARS, entries=[1, 0, 0, 1, 0, 0], exits=[0, 1, 0, 0, 1, 0],
                      fill="close", cash=1_000, size=10)
    r = run(s)
    # buy 10 @ 10, sell @ 11 (+10), buy 10 @ 10.5, sell @ 9.5 (-10)
    check_fills(r, [(0, "buy", 10, 10.0, 0.0), (1, "sell", 10, 11.0, 0.0),
                    (3, "buy", 10, 10.5, 0.0), (4, "sell", 10, 9.5, 0.0)])
    check_equity(r, [1000, 1010, 1010, 1010, 1000, 1000])


# ---------------------------------------------------------------- the last bar


def test_close_mode_entry_on_the_last_bar_never_fills():
    # vectorbt handed this signal would buy at close[5]; the adapter must drop it
    s = make_scenario(SIX_BARS, entries=[0, 0, 0, 0, 0, 1], exits=[0, 0, 0, 0, 0, 0],
                      fill="close", cash=1_000, size=10)
    r = run(s)
    check_fills(r, [])
    check_equity(r, [1000] * 6)


def test_close_mode_exit_on_the_last_bar_never_fills():
    s = make_scenario(SIX_BARS, entries=[0, 0, 0, 1, 0, 0], exits=[0, 0, 0, 0, 0, 1],
                      fill="close", cash=1_000, size=10)
    r = run(s)
    # buy 10 @ 10.5 on bar 3; the last-bar exit does not fill: still long at the end
    check_fills(r, [(3, "buy", 10, 10.5, 0.0)])
    # cash 895; bar 4: 895 + 95 = 990; bar 5: 895 + 98 = 993
    check_equity(r, [1000, 1000, 1000, 1000, 990, 993])


def test_next_open_mode_entry_on_the_last_bar_never_fills():
    s = make_scenario(SIX_BARS, entries=[0, 0, 0, 0, 0, 1], exits=[0, 0, 0, 0, 0, 0],
                      fill="next_open", cash=1_000, size=10)
    r = run(s)
    check_fills(r, [])
    check_equity(r, [1000] * 6)


def test_next_open_mode_exit_on_the_last_bar_never_fills():
    s = make_scenario(SIX_BARS, entries=[0, 0, 1, 0, 0, 0], exits=[0, 0, 0, 0, 0, 1],
                      fill="next_open", cash=1_000, size=10)
    r = run(s)
    # entry on bar 2 -> buy @ open[3] = 11.8; cash 882; still long at the end
    check_fills(r, [(3, "buy", 10, 11.8, 0.0)])
    check_equity(r, [1000, 1000, 1000, 882 + 105, 882 + 95, 882 + 98])


def test_raw_vectorbt_would_fill_a_last_bar_signal():
    """Why the adapter drops last-bar signals in close mode: vectorbt itself fills them."""
    import numpy as np
    import vectorbt as vbt

    close = np.array([10.0, 11.0, 12.0])
    pf = vbt.Portfolio.from_signals(close, entries=np.array([False, False, True]),
                                    exits=np.array([False, False, False]), size=1.0,
                                    size_type="amount", init_cash=100.0, fees=0.0, slippage=0.0,
                                    freq="1D", engine="numba")
    assert list(pf.order_records["idx"]) == [2]


# ----------------------------------------------------------------------- cash


def test_entry_that_does_not_fit_is_rejected_whole_not_partially_filled():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 1, 0], exits=[0, 0, 0, 0, 0, 0],
                      fill="close", cash=100, size=10)
    r = run(s)
    # bar 1: 10 @ 11 costs 110 > 100 -> rejected (not 9.09 units);
    # bar 4: 10 @ 9.5 costs 95 <= 100 -> fills; cash 5
    check_fills(r, [(4, "buy", 10, 9.5, 0.0)])
    check_equity(r, [100, 100, 100, 100, 100, 5 + 98])


def test_fee_counts_towards_the_cash_check():
    # 10 @ close[0] = 10 costs 100 + fee 0.01*100 = 101 > cash 100.5 -> rejected
    s = make_scenario(SIX_BARS, entries=[1, 0, 0, 0, 0, 0], exits=[0, 0, 0, 0, 0, 0],
                      fill="close", cash=100.5, size=10, fee=0.01)
    r = run(s)
    check_fills(r, [])
    check_equity(r, [100.5] * 6)


def test_entry_costing_exactly_the_cash_fills():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[0, 0, 1, 0, 0, 0],
                      fill="close", cash=110, size=10)
    r = run(s)
    # 10 @ 11 = 110 = cash -> fills, cash 0; sell 10 @ 12 -> 120
    check_fills(r, [(1, "buy", 10, 11.0, 0.0), (2, "sell", 10, 12.0, 0.0)])
    check_equity(r, [110, 110, 120, 120, 120, 120])


# ------------------------------------------------------------------ rejections


@pytest.mark.parametrize("fill, bars_tried", [("close", [1, 3]), ("next_open", [2, 4])])
def test_entries_that_do_not_fit_are_reported_as_rejections(fill, bars_tried):
    # 10 units at ~10-11 cost more than 50 of cash: every entry is refused whole and reported on the
    # bar it would have filled on (close: the signal bar; next_open: the bar after)
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 1, 0, 0], exits=[0, 0, 0, 0, 0, 0], fill=fill, cash=50, size=10)
    r = run(s)
    assert r.fills == ()
    assert [(x.bar, x.side, x.size, x.reason) for x in r.rejections] == [(b, "buy", 10.0, "signal") for b in bars_tried]
    assert r.final_value == 50
