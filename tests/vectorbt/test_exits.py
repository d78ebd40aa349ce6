"""Exit rules through vectorbt: hand-built bars, expected fills worked out by hand next to them.

Rules: harness/contract.py (KNOBS, EXIT_PRECEDENCE). Every test names the rule
it pins; bars are (open, high, low, close). Prices are compared to 1e-12
relative, sizes/fees/values to 1e-9 relative; bar, side and reason exactly.
A quiet bar Q = (100, 101, 99, 100) fills gaps where nothing may happen.
"""

from __future__ import annotations

import pytest

from adapters.vectorbt import Vectorbt

from tests.builders import bars, make_scenario

run = Vectorbt().run

pytestmark = pytest.mark.vectorbt

Q = (100.0, 101.0, 99.0, 100.0)


def sig(n, *on):
    """A 0/1 signal column of n bars, 1 on the given bars."""
    return [1 if i in on else 0 for i in range(n)]


def scenario(rows, entries=(), exits=(), **kw):
    kw.setdefault("cash", 10_000)
    kw.setdefault("size", 10)
    n = len(rows)
    return make_scenario(bars(*rows), entries=sig(n, *entries), exits=sig(n, *exits), **kw)


def check(result, expected, fee=0.0):
    """``expected``: (bar, side, price, reason); size 10 each, fee = fee * 10 * price."""
    got = [(f.bar, f.side, f.reason) for f in result.fills]
    assert got == [(bar, side, reason) for bar, side, _, reason in expected]
    for f, (_, _, price, _) in zip(result.fills, expected):
        assert f.price == pytest.approx(price, rel=1e-12, abs=0), (f.bar, f.side)
        assert f.size == pytest.approx(10.0, rel=1e-9, abs=0)
        assert f.fee == pytest.approx(fee * 10 * price, rel=1e-9, abs=1e-15)


def check_equity(result, expected):
    assert len(result.equity) == len(expected)
    for bar, (got, want) in enumerate(zip(result.equity, expected)):
        assert got == pytest.approx(want, rel=1e-9, abs=0), f"bar {bar}"
    assert result.final_value == result.equity[-1]


# ------------------------------------------------------------------ stop-loss


def test_stop_loss_intrabar_fills_at_the_level_and_skips_the_entry_bar():
    rows = [
        (100, 101, 90, 100),   # 0: entry at close 100 (ref 100, level 95); low 90 is the entry bar's: not checked
        (100, 101, 96, 97),    # 1: low 96 > 95
        (97, 98, 94, 96),      # 2: open 97 > 95, low 94 <= 95 -> sell @ 95
        (96, 97, 95, 96),      # 3
    ]
    r = run(scenario(rows, entries=[0], stop_loss=0.05))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 95, "stop_loss")])
    # cash after the buy 9000; after the sell 9000 + 950 = 9950
    check_equity(r, [10_000, 9_970, 9_950, 9_950])


def test_next_open_entry_bar_is_not_checked():
    rows = [
        Q,                     # 0: entry signal
        (100, 101, 90, 100),   # 1: buy @ open 100; ref close 100, level 95; this bar's low 90 is not checked
        (100, 101, 94, 96),    # 2: low 94 -> sell @ 95
        Q,
    ]
    r = run(scenario(rows, entries=[0], fill="next_open", stop_loss=0.05))
    check(r, [(1, "buy", 100, "signal"), (2, "sell", 95, "stop_loss")])


def test_stop_loss_gapped_fills_at_the_open():
    rows = [Q, (100, 101, 98, 99), (93, 96, 92, 95), Q]
    # ref 100, level 95; bar 2 opens at 93 <= 95 -> sell @ 93 (not at the level)
    r = run(scenario(rows, entries=[0], stop_loss=0.05))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 93, "stop_loss")])


# ---------------------------------------------------------------- take-profit


def test_take_profit_intrabar_fills_at_the_level():
    rows = [Q, (101, 109, 100, 108), (108, 112, 107, 111), Q]
    # ref 100, level 110; bar 1 high 109 < 110; bar 2 opens 108 < 110, high 112 -> sell @ 110
    r = run(scenario(rows, entries=[0], take_profit=0.10))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 110, "take_profit")])


def test_take_profit_gapped_fills_at_the_open():
    rows = [Q, (101, 109, 100, 108), (113, 115, 112, 114), Q]
    # bar 2 opens at 113 >= 110 -> sell @ 113
    r = run(scenario(rows, entries=[0], take_profit=0.10))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 113, "take_profit")])


def test_a_bar_reaching_both_levels_exits_at_the_stop():
    rows = [Q, (100, 111, 94, 105), Q]
    # levels 95 and 110; bar 1 opens between them, low 94 and high 111 reach both -> stop @ 95
    r = run(scenario(rows, entries=[0], stop_loss=0.05, take_profit=0.10))
    check(r, [(0, "buy", 100, "signal"), (1, "sell", 95, "stop_loss")])


def test_take_profit_gapped_beats_an_intrabar_stop_on_the_same_bar():
    rows = [Q, (111, 112, 94, 100), Q]
    # bar 1 opens at 111 >= 110 (take-profit gap) and its low 94 reaches the stop at 95:
    # the contract checks both gaps first -> take-profit @ 111. (vectorbt alone checks the
    # stop-loss completely first and would sell @ 95.)
    r = run(scenario(rows, entries=[0], stop_loss=0.05, take_profit=0.10))
    check(r, [(0, "buy", 100, "signal"), (1, "sell", 111, "take_profit")])


# ------------------------------------------------------------------- trailing

TRAIL_ROWS = [
    Q,                        # 0: entry at close 100: hwm 100
    (100, 120, 99, 105),      # 1: level 90, low 99: no exit. hwm -> 120 (high) / 105 (close)
    (109, 110, 107, 108),     # 2: high trail: level 108, open 109 > 108, low 107 -> sell @ 108
                              #    close trail: level 94.5: no exit; hwm -> 108
    (108, 109, 97, 98),       # 3: close trail: level 97.2, open 108 > 97.2, low 97 -> sell @ 97.2
    Q,
]


def test_trailing_stop_following_highs():
    r = run(scenario(TRAIL_ROWS, entries=[0], trailing_stop=0.10, trail_source="high"))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 120 * 0.9, "trailing_stop")])


def test_trailing_stop_following_closes():
    r = run(scenario(TRAIL_ROWS, entries=[0], trailing_stop=0.10, trail_source="close"))
    check(r, [(0, "buy", 100, "signal"), (3, "sell", 108 * 0.9, "trailing_stop")])


def test_close_trailing_checks_the_level_before_raising_the_hwm():
    rows = [
        Q,                     # 0: entry at 100; hwm 100, level 90
        (100, 130, 89, 125),   # 1: low 89 <= 90 -> exit @ 90, although the bar closes at 125
        Q,
    ]
    r = run(scenario(rows, entries=[0], trailing_stop=0.10, trail_source="close"))
    check(r, [(0, "buy", 100, "signal"), (1, "sell", 90, "trailing_stop")])


def test_close_trailing_in_next_open_mode():
    rows = [
        Q,                      # 0: entry signal
        (100, 104, 99, 102),    # 1: buy @ open 100; ref = close 102 (stop_reference close): hwm 102
        (103, 115, 102, 110),   # 2: level 91.8: no exit; hwm -> 110 (the high 115 does not count)
        (111, 112, 98, 100),    # 3: level 99, low 98 -> sell @ 99 (a high trail would sell at 103.5)
        Q,
    ]
    r = run(scenario(rows, entries=[0], fill="next_open", trailing_stop=0.10, trail_source="close"))
    check(r, [(1, "buy", 100, "signal"), (3, "sell", 110 * 0.9, "trailing_stop")])


# ------------------------------------------------------- stop-loss + trailing

def test_stop_loss_and_trailing_act_as_one_stop_labelled_by_the_higher_level():
    rows = [
        Q,                      # 0: trade A entry at 100: SL 95, trail 90 -> SL is the stop
        (100, 101, 94, 96),     # 1: low 94 -> sell @ 95, stop_loss
        Q,                      # 2: trade B entry at 100
        (100, 110, 99, 109),    # 3: stop 95 (trail 90): no exit; hwm -> 110: trail level 99 > 95
        (109, 110, 98, 100),    # 4: low 98 -> sell @ 99, trailing_stop
        Q,
    ]
    r = run(scenario(rows, entries=[0, 2], stop_loss=0.05, trailing_stop=0.10))
    check(r, [(0, "buy", 100, "signal"), (1, "sell", 95, "stop_loss"),
              (2, "buy", 100, "signal"), (4, "sell", 110 * 0.9, "trailing_stop")])


def test_equal_stop_loss_and_trailing_levels_are_labelled_stop_loss():
    rows = [Q, (100, 101, 89, 95), Q]
    # sl 10% and trail 10% from hwm = ref = 100: both levels 90, trailing not strictly above
    r = run(scenario(rows, entries=[0], stop_loss=0.10, trailing_stop=0.10))
    check(r, [(0, "buy", 100, "signal"), (1, "sell", 90, "stop_loss")])


def test_stop_loss_above_a_close_trail_keeps_its_level():
    rows = [
        Q,                      # 0: entry at 100: SL 97, close trail 90
        (100, 140, 99, 104),    # 1: no exit; close hwm 104 -> trail 93.6 < 97 (a high trail would be 126)
        (104, 105, 96, 97),     # 2: low 96 <= 97 -> sell @ 97, stop_loss
        Q,
    ]
    r = run(scenario(rows, entries=[0], stop_loss=0.03, trailing_stop=0.10, trail_source="close"))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 97, "stop_loss")])


# ------------------------------------------------------------ stop reference

REF_ROWS = [
    Q,                          # 0: close mode entry at close 100 -> fill 101 (1% slippage)
    (100, 101, 95.5, 100),      # 1: fill ref 101: level 95.95 reached (low 95.5); close ref 100: level 95 not
    (100, 101, 94, 100),        # 2: close ref: low 94 reaches 95
    Q,
]


def test_stop_reference_fill_price_uses_the_slipped_entry_price():
    r = run(scenario(REF_ROWS, entries=[0], stop_loss=0.05, stop_reference="fill_price", slippage=0.01,
                     fee=0.001))
    # buy @ 100 * 1.01 = 101; level 101 * 0.95 = 95.95; sell @ 95.95 * 0.99 (slippage on stop fills)
    check(r, [(0, "buy", 101, "signal"), (1, "sell", 101 * 0.95 * 0.99, "stop_loss")], fee=0.001)


def test_stop_reference_close_uses_the_fill_bars_close():
    r = run(scenario(REF_ROWS, entries=[0], stop_loss=0.05, stop_reference="close", slippage=0.01, fee=0.001))
    # level 100 * 0.95 = 95; bar 1's low 95.5 misses it; bar 2's low 94 -> sell @ 95 * 0.99
    check(r, [(0, "buy", 101, "signal"), (2, "sell", 95 * 0.99, "stop_loss")], fee=0.001)


NEXT_OPEN_REF_ROWS = [
    Q,                          # 0: entry signal
    (100, 103, 99, 102),        # 1: buy @ open 100 * 1.01 = 101; close 102
    (101, 102, 96, 99),         # 2: close ref 102: level 96.9, low 96 -> sell @ 96.9; fill ref 101: 95.95, not
    (99, 100, 95, 96),          # 3: fill ref: low 95 -> sell @ 95.95
    Q,
]


@pytest.mark.parametrize("ref, bar, level", [("close", 2, 102 * 0.95), ("fill_price", 3, 101 * 0.95)])
def test_stop_reference_in_next_open_mode(ref, bar, level):
    r = run(scenario(NEXT_OPEN_REF_ROWS, entries=[0], fill="next_open", stop_loss=0.05, stop_reference=ref,
                     slippage=0.01))
    check(r, [(1, "buy", 101, "signal"), (bar, "sell", level * 0.99, "stop_loss")])


def test_take_profit_gap_fill_takes_slippage_and_fee():
    rows = [Q, (113, 115, 112, 114), Q]
    r = run(scenario(rows, entries=[0], take_profit=0.10, slippage=0.002, fee=0.01))
    # buy @ 100.2 (ref close 100, TP 110); bar 1 gaps to 113 -> sell @ 113 * 0.998
    check(r, [(0, "buy", 100.2, "signal"), (1, "sell", 113 * 0.998, "take_profit")], fee=0.01)
    cash = 10_000 - 1002 - 10.02 + 10 * 113 * 0.998 - 0.01 * 10 * 113 * 0.998
    assert r.final_value == pytest.approx(cash, rel=1e-12)


# ---------------------------------------------------------------- time exits

TIME_ROWS = [
    (100, 101, 99, 100),   # 0
    (101, 102, 100, 101),  # 1: entry signal
    (102, 103, 101, 102),  # 2
    (103, 104, 102, 103),  # 3
    (104, 105, 103, 104),  # 4
    (105, 106, 104, 105),  # 5
    (106, 107, 105, 106),  # 6 (last)
]


def test_time_exit_close_mode_at_the_close_of_fill_bar_plus_n():
    r = run(scenario(TIME_ROWS, entries=[1], max_bars=3))
    # buy bar 1 @ 101; exit on bar 1 + 3 = 4 @ close 104
    check(r, [(1, "buy", 101, "signal"), (4, "sell", 104, "time_exit")])
    check_equity(r, [10_000, 10_000, 10_010, 10_020, 10_030, 10_030, 10_030])


def test_time_exit_next_open_mode_at_the_open_of_fill_bar_plus_n():
    r = run(scenario(TIME_ROWS, entries=[1], fill="next_open", max_bars=3))
    # buy bar 2 @ open 102; exit decided on bar 4, fills on bar 2 + 3 = 5 @ open 105
    check(r, [(2, "buy", 102, "signal"), (5, "sell", 105, "time_exit")])


def test_time_exit_one_bar_next_open():
    r = run(scenario(TIME_ROWS, entries=[1, 4], fill="next_open", max_bars=1))
    # buy bar 2 @ 102, sell bar 3 @ 103; entry signal on bar 4 -> buy bar 5 @ 105, sell bar 6 @ 106 (last bar's
    # open: decided on bar 5)
    check(r, [(2, "buy", 102, "signal"), (3, "sell", 103, "time_exit"),
              (5, "buy", 105, "signal"), (6, "sell", 106, "time_exit")])


def test_time_exit_due_at_the_last_close_does_not_fill():
    r = run(scenario(TIME_ROWS, entries=[1], max_bars=5))
    # due on bar 6 = the last bar, decided there: no fill; the position stays open
    check(r, [(1, "buy", 101, "signal")])


@pytest.mark.parametrize("fill, buy_bar, buy, sell_bar, sell", [("close", 1, 101, 3, 103),
                                                                 ("next_open", 2, 102, 4, 104)])
def test_exit_signal_that_is_also_a_time_exit_is_labelled_signal(fill, buy_bar, buy, sell_bar, sell):
    # close: time exit due on bar 1 + 2 = 3, exit signal on bar 3 too
    # next_open: time exit decided on bar 3 for bar 2 + 2 = 4, exit signal on bar 3 too
    r = run(scenario(TIME_ROWS, entries=[1], exits=[3], fill=fill, max_bars=2))
    check(r, [(buy_bar, "buy", buy, "signal"), (sell_bar, "sell", sell, "signal")])


def test_a_stop_before_n_bars_ends_the_trade_and_the_count():
    rows = [Q, (100, 101, 96, 97), (97, 98, 94, 96), Q, Q, Q, Q, Q]
    # max_bars 4 would exit on bar 4; the stop at 95 fires on bar 2. The entry signal on bar 3
    # opens a new trade (at close 100) whose time exit is bar 3 + 4 = 7, the last bar: no fill.
    r = run(scenario(rows, entries=[0, 3], stop_loss=0.05, max_bars=4))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 95, "stop_loss"), (3, "buy", 100, "signal")])


def test_stop_and_time_exit_on_the_same_bar_close_mode_stop_wins():
    rows = [Q, Q, (100, 101, 94, 96), Q]
    # time exit due at bar 2's close; bar 2's low 94 reaches the stop at 95 first -> stop @ 95
    r = run(scenario(rows, entries=[0], stop_loss=0.05, max_bars=2))
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 95, "stop_loss")])


def test_stop_and_time_exit_on_the_same_bar_next_open_mode_open_exit_wins():
    rows = [Q, Q, Q, (99, 100, 90, 91), Q]
    # buy bar 1 @ 100 (ref close 100, stop 95); time exit decided on bar 2 for bar 3's open;
    # bar 3's low 90 reaches the stop, but the exit at the open comes first -> sell @ 99
    r = run(scenario(rows, entries=[0], fill="next_open", stop_loss=0.05, max_bars=2))
    check(r, [(1, "buy", 100, "signal"), (3, "sell", 99, "time_exit")])


def test_take_profit_and_time_exit_on_the_same_bar_next_open_mode_open_exit_wins():
    rows = [Q, Q, Q, (100.5, 120, 100, 119), Q]
    # TP at 110: bar 3's high reaches it, but the time exit at the open (100.5) comes first
    r = run(scenario(rows, entries=[0], fill="next_open", take_profit=0.10, max_bars=2))
    check(r, [(1, "buy", 100, "signal"), (3, "sell", 100.5, "time_exit")])


# ----------------------------------------------- signals meeting stops


def test_next_open_exit_signal_beats_a_stop_on_the_fill_bar():
    rows = [Q, Q, Q, (98, 99, 90, 91), Q]
    # buy bar 1 @ 100 (stop 95); exit signal bar 2 -> sells at bar 3's open 98, before bar 3's
    # low 90 could reach the stop
    r = run(scenario(rows, entries=[0], exits=[2], fill="next_open", stop_loss=0.05))
    check(r, [(1, "buy", 100, "signal"), (3, "sell", 98, "signal")])


def test_next_open_exit_signal_on_a_bar_whose_stop_fires_exits_at_the_stop():
    rows = [Q, Q, (100, 101, 94, 96), Q, Q]
    # buy bar 1 @ 100; bar 2: exit signal (for bar 3's open), but bar 2's low 94 reaches 95 first
    # -> stop @ 95 on bar 2; the exit decided for bar 3 finds no position
    r = run(scenario(rows, entries=[0], exits=[2], fill="next_open", stop_loss=0.05))
    check(r, [(1, "buy", 100, "signal"), (2, "sell", 95, "stop_loss")])


def test_no_reentry_on_a_bar_where_a_stop_filled_close_mode():
    rows = [Q, (100, 101, 94, 96), Q, Q]
    # stop @ 95 on bar 1; the entry signal on bar 1 is ignored; bar 2's entry buys at 100
    r = run(scenario(rows, entries=[0, 1, 2], stop_loss=0.05))
    check(r, [(0, "buy", 100, "signal"), (1, "sell", 95, "stop_loss"), (2, "buy", 100, "signal")])


def test_entry_signal_on_a_stop_bar_fills_at_the_next_open_in_next_open_mode():
    rows = [Q, Q, (100, 101, 94, 96), (97, 98, 96, 97), Q]
    # buy bar 1 @ 100; stop @ 95 on bar 2; the entry signal on bar 2 is decided after it -> buy bar 3 @ 97
    r = run(scenario(rows, entries=[0, 2], fill="next_open", stop_loss=0.05))
    check(r, [(1, "buy", 100, "signal"), (2, "sell", 95, "stop_loss"), (3, "buy", 97, "signal")])


def test_intrabar_stop_on_the_last_bar_fills():
    rows = [Q, Q, (100, 101, 94, 96)]
    r = run(scenario(rows, entries=[0], stop_loss=0.05, max_bars=2))
    # bar 2 is the last: its time exit is not decided there, but its intrabar stop fills
    check(r, [(0, "buy", 100, "signal"), (2, "sell", 95, "stop_loss")])


# ---------------------------------------------------------------- all at once


def test_all_rules_combined_next_open():
    rows = [
        Q,                          # 0: entry signal
        (100, 102, 99, 101),        # 1: buy @ 101 (1% slip); ref = fill 101: SL 95.95, TP 121.2, trail 90.9
        (101, 110, 100, 109),       # 2: nothing; close hwm 109 -> trail level 98.1 > SL 95.95
        (109, 111, 97, 98),         # 3: low 97 <= 98.1 -> sell @ 98.1 * 0.99 (trailing; a high trail: 99)
                                    #    entry signal -> next open
        (99, 100, 98, 99),          # 4: buy @ 99 * 1.01 = 99.99: SL 94.9905, TP 119.988
        (100, 125, 99, 120),        # 5: high 125 -> sell @ 119.988 * 0.99 (take_profit); entry signal
        (120, 121, 119, 120),       # 6: buy @ 120 * 1.01 = 121.2: SL 115.14, TP 145.44; max 5 -> bar 11
        (120, 121, 119, 120),       # 7
        (120, 121, 119, 120),       # 8
        (120, 121, 119, 120),       # 9
        (120, 121, 119, 120),       # 10: time exit decided here for bar 11's open
        (118, 119, 110, 112),       # 11: sell @ 118 * 0.99 (time_exit), before the low 110 reaches SL 115.14;
                                    #     entry signal
        (112, 113, 111, 112),       # 12: buy @ 112 * 1.01 = 113.12: SL 107.464
        (112, 113, 111, 112),       # 13: exit signal
        (100, 101, 99, 100),        # 14: sell @ open 100 * 0.99 (signal; the SL would gap here too); entry signal
        (100, 101, 99, 100),        # 15 (last): buy @ 101
    ]
    r = run(scenario(rows, entries=[0, 3, 5, 11, 14], exits=[13], fill="next_open", slippage=0.01, fee=0.001,
                     stop_loss=0.05, take_profit=0.20, trailing_stop=0.10, trail_source="close",
                     stop_reference="fill_price", max_bars=5))
    expected = [
        (1, "buy", 101, "signal"),
        (3, "sell", 109 * 0.9 * 0.99, "trailing_stop"),
        (4, "buy", 99 * 1.01, "signal"),
        (5, "sell", 99 * 1.01 * 1.2 * 0.99, "take_profit"),
        (6, "buy", 121.2, "signal"),
        (11, "sell", 118 * 0.99, "time_exit"),
        (12, "buy", 113.12, "signal"),
        (14, "sell", 99.0, "signal"),
        (15, "buy", 101, "signal"),
    ]
    check(r, expected, fee=0.001)
    cash = 10_000.0
    for _, side, price, _ in expected:
        cash += (-1 if side == "buy" else 1) * 10 * price - 0.001 * 10 * price
    assert r.final_value == pytest.approx(cash + 10 * 100, rel=1e-12)


def test_all_rules_combined_close():
    rows = [
        Q,                          # 0: entry at close 100 (ref close): SL 95, TP 120, high trail 90
        (100, 112, 99, 111),        # 1: nothing; hwm -> 112: trail 100.8 > 95
        (111, 113, 100, 101),       # 2: low 100 <= 100.8 -> sell @ 100.8 (trailing_stop); entry ignored
        Q,                          # 3: entry at 100
        (101, 104, 100, 103),       # 4: hwm 104: trail 93.6 < SL 95
        (104, 122, 103, 121),       # 5: high 122 >= TP 120 -> sell @ 120 (take_profit)
        Q,                          # 6: entry at 100; max_bars 4 -> bar 10
        (100, 102, 98, 101),        # 7
        (101, 103, 99, 102),        # 8: hwm 103: trail 92.7
        (102, 103, 98, 99),         # 9
        (99, 101, 97, 100),         # 10: no stop (low 97 > 95) -> time exit @ close 100; entry ignored
        Q,                          # 11: entry at 100
        (99, 100, 93, 94),          # 12: low 93 -> sell @ 95 (stop_loss)
        Q,                          # 13 (last)
    ]
    r = run(scenario(rows, entries=[0, 2, 3, 6, 10, 11], stop_loss=0.05, take_profit=0.20, trailing_stop=0.10,
                     trail_source="high", max_bars=4))
    check(r, [
        (0, "buy", 100, "signal"), (2, "sell", 112 * 0.9, "trailing_stop"),
        (3, "buy", 100, "signal"), (5, "sell", 120, "take_profit"),
        (6, "buy", 100, "signal"), (10, "sell", 100, "time_exit"),
        (11, "buy", 100, "signal"), (12, "sell", 95, "stop_loss"),
    ])
