"""vectorbt in ``fill = "next_close"`` mode (signals shifted one bar, price = close), on hand-built bars."""

from __future__ import annotations

import pytest

from adapters.vectorbt import Vectorbt
from harness.engines import Unsupported
from tests.builders import bars, make_scenario

run = Vectorbt().run

pytestmark = pytest.mark.vectorbt

SIX_BARS = bars(
    (10.0, 11.0, 9.0, 10.0),    # bar 0
    (10.2, 12.0, 10.0, 11.0),   # bar 1
    (11.3, 13.0, 11.0, 12.0),   # bar 2
    (11.8, 12.0, 10.0, 10.5),   # bar 3
    (10.1, 11.0, 9.0, 9.5),     # bar 4
    (9.6, 10.0, 9.0, 9.8),      # bar 5 (last)
)


def test_a_signal_fills_at_the_next_bars_close_slipped_with_its_fee():
    s = make_scenario(SIX_BARS, entries=[1, 0, 0, 0, 1, 0], exits=[0, 0, 1, 0, 0, 0], fill="next_close",
                      size=10, fee=0.001, slippage=0.002)
    r = run(s)
    buy, sell = 11.0 * (1 + 0.002), 10.5 * (1 - 0.002)
    assert [(f.bar, f.side, f.reason) for f in r.fills] == [(1, "buy", "signal"), (3, "sell", "signal"),
                                                           (5, "buy", "signal")]
    assert [f.price for f in r.fills] == pytest.approx([buy, sell, 9.8 * 1.002], rel=1e-12)
    assert [f.fee for f in r.fills] == pytest.approx([10 * buy * 0.001, 10 * sell * 0.001, 10 * 9.8 * 1.002 * 0.001],
                                                     rel=1e-9)


def test_a_signal_on_the_last_bar_never_fills():
    s = make_scenario(SIX_BARS, entries=[0, 0, 0, 0, 0, 1], exits=[0] * 6, fill="next_close")
    assert run(s).fills == ()


def test_a_buy_that_does_not_fit_at_the_next_close_is_rejected_on_that_bar():
    s = make_scenario(SIX_BARS, entries=[0, 1, 0, 0, 0, 0], exits=[0] * 6, fill="next_close", cash=100.0)
    r = run(s)  # 10 * close[2] = 120 > 100
    assert r.fills == () and [(x.bar, x.side, x.size) for x in r.rejections] == [(2, "buy", 10.0)]


def test_next_close_with_exit_rules_is_unsupported():
    s = make_scenario(SIX_BARS, entries=[1, 0, 0, 0, 0, 0], exits=[0] * 6, fill="next_close", stop_loss=0.05)
    with pytest.raises(Unsupported) as info:
        run(s)
    assert info.value.knob == "[execution] fill"
