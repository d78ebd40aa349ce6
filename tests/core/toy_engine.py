"""A small pure-Python engine written from the README's rules alone, to prove the engine door works.

It runs fixed-size signal scenarios (every exit rule, both fill modes, several
assets sharing the cash) bar by bar in plain Python; rotations are outside its
capabilities. :class:`ToyTrailOnCloses` is the same engine with one rule changed:
its trailing stop always follows the closes, whatever ``trail_source`` says.
Both are registered only inside tests (tests/core/test_own_engine.py).
"""

from __future__ import annotations

import math

from harness.contract import Contract
from harness.engines import ANY, Engine, Output, make_fill, make_rejection
from harness.scenario import Scenario

CONTRACT_KNOBS = {
    "fill": ("close", "next_open"), "cash": ANY, "sizing_mode": ("fixed",), "size": ANY, "fee": ANY,
    "slippage": ANY, "stop_loss": ANY, "take_profit": ANY, "stop_reference": ("close", "fill_price"),
    "trailing_stop": ANY, "trail_source": ("high", "close"), "max_bars": ANY,
}


class Toy(Engine):
    name = "toy"
    framework = "numpy"  # a distribution that is installed wherever the harness runs
    capabilities = {"contract": CONTRACT_KNOBS}
    witness = {"contract": {"fill": ("native", "the toy loop"), "stop_loss": ("native", "the toy loop")}}
    # The rules a broken twin may change (each twin below changes exactly one).
    gaps_first = True  # a take-profit gapped at the open beats an intrabar stop
    time_exit_lag = 0  # bars added to max_bars
    swap_stop_reference = False
    slip_intrabar_take_profit = True
    entry_delay = 0  # extra bars before a next_open entry fills

    def trail_price(self, bar_high: float, bar_close: float, contract: Contract) -> float:
        return bar_high if contract.trail_source == "high" else bar_close

    def stop_hit(self, o: float, h: float, lo: float, stop: float, why: str, tp: float):
        """(raw price, reason, slipped?) of the stop exit on this bar, or None."""
        if self.gaps_first:
            checks = ((o <= stop, o, why), (o >= tp, o, "take_profit"), (lo <= stop, stop, why), (h >= tp, tp, "take_profit"))
        else:
            checks = ((o <= stop, o, why), (lo <= stop, stop, why), (o >= tp, o, "take_profit"), (h >= tp, tp, "take_profit"))
        for hit, price, reason in checks:
            if hit:
                intrabar_tp = reason == "take_profit" and price == tp and o < tp
                return price, reason, self.slip_intrabar_take_profit or not intrabar_tp
        return None

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        m = scenario.market
        n, k = m.n_bars, m.n_assets
        c = contract
        cash = c.cash
        pos = [0.0] * k
        entry_bar = [-1] * k
        ref = [0.0] * k
        hwm = [0.0] * k
        pending: list[tuple[str, str] | None] = [None] * k  # next_open: ("exit", reason) or ("entry", "signal")
        wait = [0] * k  # bars a pending entry still waits (entry_delay)
        max_bars = None if c.max_bars is None else c.max_bars + self.time_exit_lag
        by_fill = (c.stop_reference == "fill_price") != self.swap_stop_reference
        fills, rejections, equity = [], [], []

        def buy(j: int, i: int, raw: float) -> None:
            nonlocal cash
            price = raw * (1.0 + c.slippage)
            fee = c.fee * c.size * price
            if c.size * price + fee > cash:
                rejections.append(make_rejection(scenario, j, i, "buy", c.size, "signal"))
                return
            cash -= c.size * price + fee
            pos[j] = c.size
            fills.append(make_fill(scenario, j, i, "buy", c.size, price, fee, "signal"))
            entry_bar[j] = i
            ref[j] = price if by_fill else m.close[i, j]
            hwm[j] = ref[j]

        def sell(j: int, i: int, raw: float, reason: str, slipped: bool = True) -> None:
            nonlocal cash
            price = raw * (1.0 - c.slippage) if slipped else raw
            fee = c.fee * pos[j] * price
            cash += pos[j] * price - fee
            fills.append(make_fill(scenario, j, i, "sell", pos[j], price, fee, reason))
            pos[j] = 0.0

        for i in range(n):
            exited = [False] * k
            # 1. next_open: yesterday's decisions fill at this open, exits first
            for kind in ("exit", "entry"):
                for j in range(k):
                    if pending[j] is not None and pending[j][0] == kind:
                        if kind == "entry" and wait[j] > 0:
                            wait[j] -= 1
                            continue
                        _, reason = pending[j]
                        pending[j] = None
                        if kind == "exit" and pos[j] > 0:
                            sell(j, i, m.open[i, j], reason)
                            exited[j] = True
                        elif kind == "entry" and pos[j] == 0:
                            buy(j, i, m.open[i, j])
            # 2. stops, from the bar after the entry fill
            for j in range(k):
                if pos[j] <= 0 or i <= entry_bar[j]:
                    continue
                o, h, lo = m.open[i, j], m.high[i, j], m.low[i, j]
                sl = ref[j] * (1.0 - c.stop_loss) if c.stop_loss is not None else -math.inf
                tr = hwm[j] * (1.0 - c.trailing_stop) if c.trailing_stop is not None else -math.inf
                tp = ref[j] * (1.0 + c.take_profit) if c.take_profit is not None else math.inf
                stop, why = (tr, "trailing_stop") if tr > sl else (sl, "stop_loss")
                hit = self.stop_hit(o, h, lo, stop, why, tp)
                if hit:
                    sell(j, i, *hit)
                    exited[j] = True
                elif c.trailing_stop is not None:
                    hwm[j] = max(hwm[j], self.trail_price(h, m.close[i, j], c))
            if i < n - 1:  # nothing decided on the last bar fills
                # 3. exits: a signal, or a time exit due
                for j in range(k):
                    if pos[j] <= 0:
                        continue
                    due = max_bars is not None and i + (c.fill == "next_open") == entry_bar[j] + max_bars
                    if m.exits[i, j] or due:
                        reason = "signal" if m.exits[i, j] else "time_exit"
                        if c.fill == "next_open":
                            pending[j] = ("exit", reason)
                        else:
                            sell(j, i, m.close[i, j], reason)
                            exited[j] = True
                # 4. entries: not while long, not while pending, not (close) on an exit bar
                for j in range(k):
                    if not m.entries[i, j] or pos[j] != 0 or pending[j] is not None or math.isnan(m.close[i, j]):
                        continue
                    if c.fill == "next_open":
                        pending[j] = ("entry", "signal")
                        wait[j] = self.entry_delay
                    elif not exited[j]:
                        buy(j, i, m.close[i, j])
            equity.append(cash + sum(pos[j] * m.close[i, j] for j in range(k) if pos[j]))
        return Output(fills=fills, equity=equity, final_value=equity[-1], rejections=rejections)


# ---- broken twins: each changes one rule of the toy engine


class ToyTrailOnCloses(Toy):
    """The trailing stop follows closes, never highs."""

    name = "toy_trail_on_closes"

    def trail_price(self, bar_high: float, bar_close: float, contract: Contract) -> float:
        return bar_close


class ToyStopBeforeGappedTakeProfit(Toy):
    """The stop-loss is checked (gap and intrabar) before a take-profit gapped at the open."""

    name = "toy_stop_before_gapped_tp"
    gaps_first = False


class ToyTimeExitLate(Toy):
    """The time exit comes one bar late."""

    name = "toy_time_exit_late"
    time_exit_lag = 1


class ToyStopReferenceSwapped(Toy):
    """Stops are priced from the fill price where the scenario says the close, and the other way round."""

    name = "toy_stop_reference_swapped"
    swap_stop_reference = True


class ToyUnslippedTakeProfit(Toy):
    """A take-profit reached during the bar fills at its level, unslipped."""

    name = "toy_unslipped_tp"
    slip_intrabar_take_profit = False


class ToyLateEntry(Toy):
    """A next_open entry fills one bar late: no knob of the contract describes it."""

    name = "toy_late_entry"
    entry_delay = 1


class ToyCrash(Toy):
    """Kills its own interpreter on one scenario, as a segfault in a framework would."""

    name = "toy_crash"
    crash_on = "exit_sl_gap"

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        if scenario.name == self.crash_on:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        return super().run_signals(scenario, contract, mode)


class ToyNoFork(Toy):
    """Declares that it cannot run in a forked worker; it refuses to run anywhere but where it was made."""

    name = "toy_no_fork"
    fork_safe = False

    def __init__(self):
        import os

        self.pid = os.getpid()

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        import os

        if os.getpid() != self.pid:
            raise RuntimeError("run in a forked worker")
        return super().run_signals(scenario, contract, mode)
