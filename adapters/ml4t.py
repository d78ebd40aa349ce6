"""The ml4t-backtest adapter: a scenario run through ml4t-backtest 0.2.0's own Engine and Broker.

ml4t-backtest (PyPI ``ml4t-backtest``, Python >= 3.12, its own virtualenv) is
event-driven: a ``DataFeed`` of bars, a ``Strategy`` whose ``on_data`` submits
orders, a ``Broker`` configured by ``BacktestConfig`` that fills them, and
position rules (``StopLoss``, ``TrailingStop``, ``TakeProfit``, ``TimeExit`` in
a ``RuleChain``) its risk engine evaluates at the start of every bar. This
module feeds the scenario in, places the orders the signals ask for and reads
back what ml4t did: its fill records (``BacktestResult.to_fills_dataframe``),
its equity curve (``to_equity_dataframe``) and the orders it refused
(``rejected_orders``). Nothing is post-processed: a fill is ml4t's quantity,
price, commission and exit reason.

``stock`` mode: ml4t as a user writes the scenario from its documentation,
public API only. Its departures from the contract are the behaviour knobs of
:data:`adapters._ml4t_profile.PROFILE`; the gate compares a stock run with the
reference engine under (scenario contract + PROFILE). Per knob:

* ``fill = "close"``: ``execution_mode=SAME_BAR`` with ``execution_price=CLOSE``
  (``SAME_BAR`` alone fills at the bar's open: the fill price source is
  ``execution_price``, default ``OPEN``, core/fill_engine.py:234);
  ``"next_open"``: the default ``NEXT_BAR`` (market orders fill at the next open).
  ``"next_close"`` (contract mode, signals without exit rules): ``NEXT_BAR`` with
  ``next_bar_execution_price=CLOSE``: the orders of bar t fill in the pass that
  opens bar t+1, at its close (core/fill_engine.py:232-233), before the strategy
  sees bar t+1.
* ``fee``: ``commission_type=PERCENTAGE``, ``commission_rate``; ``slippage``:
  ``slippage_type=PERCENTAGE``, ``slippage_rate`` (rule exits included).
  Contract mode, further (:func:`_costs`): ``fixed_fee`` as ``PER_ORDER``
  with ``commission_per_trade``, ``per_share``/``min_fee`` as ``PER_SHARE``
  when no percentage or fixed fee is set, ``slippage_abs`` as ``FIXED`` when
  no percentage slippage is; the other combinations are unsupported (one
  commission model, whose minimum covers the whole fee; one slippage model).
* ``[sizing] fixed``: ``broker.submit_order(asset, size)`` on an entry signal
  while flat with nothing pending, ``broker.close_position(asset)`` on an exit
  signal while long; ``share_type=FRACTIONAL`` (the default ``INTEGER`` would
  truncate a fractional size). Short positions (``[positions] sides``): a sell
  of ``size`` on a short entry, ``close_position`` on a short exit, with the
  account of :func:`adapters._ml4t_shorts.short_config`.
* Exit rules: ``broker.set_position_rules(RuleChain([...]))`` with the rules the
  scenario sets, hard stop first and time exit last: ``StopLoss(p)``,
  ``TrailingStop(p)``, ``TakeProfit(q)``, ``TimeExit(N)``.
  ``stop_reference = "fill_price"``: ``stop_level_basis`` and
  ``initial_hwm_source`` ``FILL_PRICE``; ``"close"`` in ``close`` mode: both
  ``SIGNAL_PRICE`` (the signal bar is the fill bar); ``"close"`` in
  ``next_open`` mode: ``initial_hwm_source=BAR_CLOSE`` for a trailing stop
  (a stop-loss or take-profit cannot be based on the fill bar's close there:
  unsupported). ``trail_source``: ``trail_hwm_source=BAR_EXTREME`` or ``CLOSE``.
* ``[sizing] target_weights``: ``broker.rebalance_to_weights(weights)`` on each
  rebalance bar, every listed asset named (0 where weights.csv has no row);
  ``share_type=INTEGER`` for ``units = "whole"``, else ``FRACTIONAL``.

``contract`` mode: ml4t made to follow the contract through its public
extension points (the witness table says how, knob by knob):

* the same feed, configuration and orders, with ``fill_ordering=FIFO``: the
  strategy submits a bar's exits before its entries, so a ``next_open`` bar's
  open exits fill before its open entries, and both before that bar's rule exits;
* one custom position rule (:class:`_ContractExits`, the documented
  ``PositionRule`` protocol) that evaluates the native ``StopLoss``,
  ``TrailingStop`` and ``TakeProfit`` on the position's state with the
  contract's reference as ``entry_price`` and the contract's hwm as
  ``high_water_mark``, and resolves their precedence as the contract does; it
  holds while an exit fills at the next open, takes the time exit from the
  native ``TimeExit`` count at the contract's bar (deferred to the next open
  with ``PositionAction(defer_fill=True)`` in ``next_open`` mode), and places
  the re-entry order of a bar whose position it closes in ``next_open`` mode
  (ml4t refuses any order for the asset later in that bar);
* rotation: the strategy sizes each order as the contract says from the
  broker's cash and positions and submits them in the contract's sequence;
* nothing is decided on the last bar.

What it cannot follow that way raises :class:`harness.engines.Unsupported`:
a buy that ml4t's 0.01 cash tolerance let through (``[costs] cash_slack``), an
entry ml4t refused after a rule exit (``[execution] reentry_block``), an order
ml4t drops as smaller than 1e-8 units.

Reasons come from ml4t's fill records (``exit_reason``: ``signal``,
``stop_loss``, ``take_profit``, ``trailing_stop``, ``time_stop`` ->
``time_exit``); entries are ``signal`` (``rebalance`` in rotation). A refused
order is a canonical rejection on the bar it would have filled on; the reason
of a refused rule exit (a sell the risk engine submitted) is the rule that
fired, seen by a pass-through wrapper around each native rule
(:class:`_Observed`: it returns the rule's own action object).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
from ml4t.backtest import (
    BacktestConfig,
    DataFeed,
    ExecutionMode,
    RuleChain,
    StopLoss,
    Strategy,
    TakeProfit,
    TrailingStop,
)
from ml4t.backtest import Engine as Ml4tEngine
from ml4t.backtest.config import (
    CommissionType,
    ExecutionPrice,
    FillOrdering,
    InitialHwmSource,
    ShareType,
    SlippageType,
    TrailStopTiming,
    WaterMarkSource,
)
from ml4t.backtest.risk import ActionType, PositionAction, PositionState, TimeExit
from ml4t.backtest.types import OrderSide, StopFillMode, StopLevelBasis

from adapters._ml4t_profile import EVIDENCE, PROFILE
from adapters._ml4t_shorts import (
    check_early_short_sales,
    check_short_sales,
    refuse_stock_reversals,
    SIDES_WITNESS,
    entry_side,
    exits_position,
    market_signals,
    short_config,
    signal_columns,
    stop_level,
    tighter,
    water_mark,
)
from harness.contract import POSITION_SIDES, Contract
from harness.engines import ANY, Engine, Output, Unsupported, make_fill, make_rejection
from harness.scenario import Scenario

__all__ = ["Ml4t"]


# ------------------------------------------------------------------------------ inputs


def _datetimes(timestamps: tuple[str, ...]) -> list[datetime]:
    out = [datetime.fromisoformat(text) for text in timestamps]
    if any(dt.tzinfo is not None for dt in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError("timestamps must be naive and strictly increasing")
    return out


def _frames(scenario: Scenario, stamps: list[datetime]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Long price (and signal) frames with a row only where the asset has a bar."""
    market = scenario.market
    rows_i, rows_j = np.nonzero(~np.isnan(market.close))
    order = np.lexsort((rows_j, rows_i))  # by bar, then asset column
    rows_i, rows_j = rows_i[order], rows_j[order]
    when = [stamps[i] for i in rows_i]
    names = [market.assets[j] for j in rows_j]
    prices = pl.DataFrame({
        "timestamp": when, "asset": names,
        "open": market.open[rows_i, rows_j], "high": market.high[rows_i, rows_j],
        "low": market.low[rows_i, rows_j], "close": market.close[rows_i, rows_j],
        "volume": market.volume[rows_i, rows_j],
    }, schema={"timestamp": pl.Datetime("us"), "asset": pl.String, "open": pl.Float64, "high": pl.Float64,
               "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64})
    if scenario.spec.contract.sizing_mode != "fixed":
        return prices, None
    flags = {"entry": market.entries[rows_i, rows_j].astype(np.int64),
             "exit": market.exits[rows_i, rows_j].astype(np.int64), **signal_columns(market, rows_i, rows_j)}
    signals = pl.DataFrame({"timestamp": when, "asset": names, **flags},
                           schema={"timestamp": pl.Datetime("us"), "asset": pl.String, **dict.fromkeys(flags, pl.Int64)})
    return prices, signals


def _check_market(scenario: Scenario) -> None:
    """What the loader already guarantees, checked again where the adapter relies on it."""
    market = scenario.market
    if np.any(market.entries & market.exits):
        raise ValueError(f"{scenario.name}: an entry and an exit on the same bar of the same asset")
    unlisted = np.isnan(market.close)
    if np.any(np.maximum.accumulate(~unlisted, axis=0) & unlisted):
        raise ValueError(f"{scenario.name}: an asset has no price on a bar after it listed")


# ------------------------------------------------------------------------------ config


def _costs(c: Contract) -> dict[str, Any]:
    """Commission and slippage settings. ``fixed_fee`` (no per-share commission): PER_ORDER, whose fee is
    max(q * 0 + |q * p| * rate + per_trade, 0) (models.py PerOrderCommission.quote); ``per_share`` with
    ``min_fee`` alone: PER_SHARE, max(|q| * c, m) (PerShareCommission). ``slippage_abs`` alone: FIXED,
    p +/- a (FixedSlippage). :meth:`Ml4t.check` refuses the other combinations."""
    costs: dict[str, Any] = dict(commission_type=CommissionType.PERCENTAGE if c.fee > 0.0 else CommissionType.NONE,
                                 commission_rate=c.fee,
                                 slippage_type=SlippageType.PERCENTAGE if c.slippage > 0.0 else SlippageType.NONE,
                                 slippage_rate=c.slippage)
    if c.per_share > 0.0:
        costs.update(commission_type=CommissionType.PER_SHARE, commission_per_share=c.per_share,
                     commission_minimum=c.min_fee)
    elif c.fixed_fee > 0.0:
        costs.update(commission_type=CommissionType.PER_ORDER, commission_per_trade=c.fixed_fee)
    if c.slippage_abs > 0.0:
        costs.update(slippage_type=SlippageType.FIXED, slippage_fixed=c.slippage_abs)
    return costs


def _config(c: Contract, mode: str) -> BacktestConfig:
    close_mode = c.fill == "close"
    kwargs: dict[str, Any] = dict(
        initial_cash=c.cash,
        execution_mode=ExecutionMode.SAME_BAR if close_mode else ExecutionMode.NEXT_BAR,
        execution_price=ExecutionPrice.CLOSE if close_mode else ExecutionPrice.OPEN,
        **_costs(c),
        share_type=ShareType.INTEGER if c.units == "whole" else ShareType.FRACTIONAL,
    )
    if c.fill == "next_close":
        kwargs["next_bar_execution_price"] = ExecutionPrice.CLOSE
    if mode == "contract":
        # Orders execute in submission order; the strategy submits exits before entries (and a
        # rotation in its contract sequence), so a bar's open entries come before its rule exits.
        kwargs["fill_ordering"] = FillOrdering.FIFO
    if c.sizing_mode == "fixed":
        kwargs.update(
            stop_fill_mode=StopFillMode.STOP_PRICE,
            trail_stop_timing=TrailStopTiming.LAGGED,
            trail_hwm_source=WaterMarkSource.BAR_EXTREME if c.trail_source == "high" else WaterMarkSource.CLOSE,
        )
        if c.stop_reference == "fill_price":
            kwargs.update(stop_level_basis=StopLevelBasis.FILL_PRICE, initial_hwm_source=InitialHwmSource.FILL_PRICE)
        elif close_mode:
            kwargs.update(stop_level_basis=StopLevelBasis.SIGNAL_PRICE,
                          initial_hwm_source=InitialHwmSource.SIGNAL_PRICE)
        else:
            kwargs.update(initial_hwm_source=InitialHwmSource.BAR_CLOSE)
    return BacktestConfig(**kwargs)


# ------------------------------------------------------------------------------ rules


class _Observed:
    """A native rule, unchanged; notes which rule fired for which (asset, bar time).

    ``evaluate`` returns the wrapped rule's own action object: the decision, the
    fill price and the order of evaluation stay ml4t's. The note only names the
    reason of a rule exit whose sell the broker refused (a refused order carries
    no public reason).
    """

    def __init__(self, rule, reason: str, log: dict):
        self.rule = rule
        self.reason = reason
        self.log = log

    def evaluate(self, state: PositionState) -> PositionAction:
        action = self.rule.evaluate(state)
        if action.action is not ActionType.HOLD:
            self.log[(state.asset, state.current_time)] = self.reason
        return action


def _stock_rules(c: Contract, log: dict) -> RuleChain | None:
    rules = []
    if c.stop_loss is not None:
        rules.append(_Observed(StopLoss(pct=c.stop_loss), "stop_loss", log))
    if c.trailing_stop is not None:
        rules.append(_Observed(TrailingStop(pct=c.trailing_stop), "trailing_stop", log))
    if c.take_profit is not None:
        rules.append(_Observed(TakeProfit(pct=c.take_profit), "take_profit", log))
    if c.max_bars is not None:
        rules.append(_Observed(TimeExit(max_bars=c.max_bars), "time_exit", log))
    return RuleChain(rules) if rules else None


# ------------------------------------------------------------------------------ strategies


@dataclass
class _Book:
    """What the adapter tracks across bars (shared by the strategy and the contract rule)."""

    scenario: Scenario
    contract: Contract
    mode: str
    bar_of: dict[datetime, int]
    col_of: dict[str, int]
    stamps: tuple[datetime, ...] = ()
    broker: Any = None
    own_orders: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # order id -> (asset, bar, reason)
    rule_log: dict = field(default_factory=dict)  # (asset, bar time) -> reason of the rule that fired
    blocked: list[tuple[str, int]] = field(default_factory=list)  # entries ml4t refused (returned no order)
    # contract mode
    close_ref: dict[str, float] = field(default_factory=dict)  # the fill bar's close, for stop_reference "close"
    ref: dict[str, float] = field(default_factory=dict)
    hwm: dict[str, float] = field(default_factory=dict)
    rule_entry_time: dict[str, datetime] = field(default_factory=dict)
    seen_entry_time: dict[str, datetime] = field(default_factory=dict)
    exit_pending: set[str] = field(default_factory=set)  # next_open: an exit fills at the next open
    early_entries: dict[tuple[str, int], str] = field(default_factory=dict)  # (asset, bar) -> order id

    @property
    def last_bar(self) -> int:
        return len(self.stamps) - 1


class _SignalStrategy(Strategy):
    """Entry and exit signals as orders; the exit rules are the broker's position rules."""

    def __init__(self, book: _Book, rules):
        self.book = book
        self.rules = rules
        self.size = book.contract.size

    def on_start(self, broker):
        self.book.broker = broker
        if self.rules is not None:
            broker.set_position_rules(self.rules)

    def on_data(self, timestamp, data, context, broker):
        book = self.book
        bar = book.bar_of[timestamp]
        if book.mode == "stock":
            # As a user writes it: per asset, exit the position on its side's exit signal, enter (long or
            # short) while flat, nothing pending either way.
            for asset, row in data.items():
                signals = row.get("signals", {})
                position = broker.get_position(asset)
                if position is not None:
                    if exits_position(signals, position.quantity < 0) and not broker.get_pending_orders(asset):
                        self._exit(asset, bar, broker)
                elif entry_side(signals) is not None and not broker.get_pending_orders(asset):
                    self._enter(asset, bar, broker, entry_side(signals))
            return
        # Contract: every exit is submitted before any entry (FIFO fill ordering keeps that order).
        next_open = book.contract.fill == "next_open"
        for asset, row in data.items():
            position = broker.get_position(asset)
            if position is None:
                continue
            if book.seen_entry_time.get(asset) != position.entry_time:
                book.seen_entry_time[asset] = position.entry_time
                book.exit_pending.discard(asset)
                if next_open:
                    book.close_ref[asset] = row["close"]  # the fill bar is this bar
            if bar == book.last_bar:
                continue  # nothing decided on the last bar fills
            if exits_position(row.get("signals", {}), position.quantity < 0) and not broker.get_pending_orders(asset):
                self._exit(asset, bar, broker)
                if next_open:
                    book.exit_pending.add(asset)
        if bar == book.last_bar:
            return
        for asset, row in data.items():
            side = entry_side(row.get("signals", {}))
            if side is None or broker.get_position(asset) is not None:
                continue
            if (asset, bar) in book.early_entries or broker.get_pending_orders(asset):
                continue
            if not next_open and (asset, timestamp) in book.rule_log:
                continue  # close mode: no entry on a bar where the asset's exit filled
            if self._enter(asset, bar, broker, side) is not None and not next_open:
                book.close_ref[asset] = row["close"]  # close mode: the fill bar is this bar

    def _exit(self, asset, bar, broker):
        order = broker.close_position(asset)
        if order is None:
            raise RuntimeError(f"{asset} bar {bar}: close_position returned no order for an open position")
        self.book.own_orders[order.order_id] = (self.book.col_of[asset], bar, "signal")

    def _enter(self, asset, bar, broker, side):
        order = broker.submit_order(asset, self.size, side)
        if order is None:
            self.book.blocked.append((asset, bar))
            return None
        self.book.own_orders[order.order_id] = (self.book.col_of[asset], bar, "signal")
        return order


_RULE_CONTEXT = {
    "stop_fill_mode": StopFillMode.STOP_PRICE,
    "stop_level_basis": StopLevelBasis.FILL_PRICE,
    "trail_stop_timing": TrailStopTiming.LAGGED,
}
_HOLD = PositionAction.hold()


class _ContractExits:
    """Contract mode: one ``PositionRule`` that follows the contract's exit rules.

    The triggers, levels and gap fills are the native rules' (``StopLoss``,
    ``TrailingStop``, ``TakeProfit`` evaluated on the position's state with the
    contract's reference as ``entry_price`` and the contract's hwm as
    ``high_water_mark``); the time exit count is the native ``TimeExit``'s
    (``bars_held``). The adapter supplies the reference (fill price, or the
    fill bar's close), the hwm (raised after each bar's check, from the bar after
    the entry fill), the precedence between the rules, holding while an exit
    fills at the next open, the time exit's timing (``close``: at the close of
    fill_bar + N unless an exit signal labels it; ``next_open``: decided on
    fill_bar + N - 1 and deferred to the next open with ``defer_fill``), and, in
    ``next_open`` mode, the entry order of a bar whose position a rule closes
    (ml4t refuses any order for that asset later in the bar).
    """

    def __init__(self, book: _Book):
        c = book.contract
        self.book = book
        self.c = c
        self.sl = StopLoss(pct=c.stop_loss) if c.stop_loss is not None else None
        self.ts = TrailingStop(pct=c.trailing_stop) if c.trailing_stop is not None else None
        self.tp = TakeProfit(pct=c.take_profit) if c.take_profit is not None else None
        self.time = TimeExit(max_bars=c.max_bars) if c.max_bars is not None else None

    def evaluate(self, state: PositionState) -> PositionAction:
        book, c = self.book, self.c
        asset = state.asset
        bar = book.bar_of[state.current_time]
        j = book.col_of[asset]
        market = book.scenario.market
        if book.rule_entry_time.get(asset) != state.entry_time:  # first evaluation of this position
            book.rule_entry_time[asset] = state.entry_time
            ref = state.entry_price if c.stop_reference == "fill_price" else book.close_ref[asset]
            book.ref[asset] = ref
            book.hwm[asset] = ref
        if asset in book.exit_pending:
            return _HOLD  # next_open: its exit fills at this bar's open, before any rule
        signals = market_signals(market, bar, j)
        action = self._stops(state, book.ref[asset], book.hwm[asset])
        if (action is None and self.time is not None and bar != book.last_bar
                and not exits_position(signals, not state.is_long)):
            if c.fill == "close":
                if self.time.evaluate(state).action is not ActionType.HOLD:
                    action = PositionAction.exit_full("time_exit")  # a market order: this bar's close
            elif self.time.evaluate(replace(state, bars_held=state.bars_held + 1)).action is not ActionType.HOLD:
                action = PositionAction.exit_full("time_exit", defer_fill=True)  # the next bar's open
        if action is None:
            if self.ts is not None:  # a long's hwm rises, a short's lwm falls
                book.hwm[asset] = water_mark(book.hwm[asset], state.bar_high, state.bar_low, state.current_price,
                                             c.trail_source, not state.is_long)
            return _HOLD
        book.rule_log[(asset, book.stamps[bar + 1] if action.defer_fill else state.current_time)] = action.reason
        side = entry_side(signals)
        if c.fill == "next_open" and not action.defer_fill and bar != book.last_bar and side is not None:
            # The contract re-enters (either side) on this bar's entry signal; ml4t refuses any order for
            # the asset once this exit is submitted (OrderBook.submit_order, stop_exits_this_bar), so the
            # entry order goes in now. It is eligible from the next open, as the strategy's would be.
            order = book.broker.submit_order(asset, c.size, side)
            if order is None:
                raise RuntimeError(f"{asset} bar {bar}: the re-entry order was refused")
            book.own_orders[order.order_id] = (j, bar, "signal")
            book.early_entries[(asset, bar)] = order.order_id
        return action

    def _stops(self, state: PositionState, ref: float, mark: float) -> PositionAction | None:
        """The stop exit of the bar; ``mark`` is the trailing stop's water mark (a long's hwm, a short's
        lwm: the native rules read high_water_mark for a long, low_water_mark for a short)."""
        short = not state.is_long
        st = replace(state, entry_price=ref, high_water_mark=mark, low_water_mark=mark, context=dict(_RULE_CONTEXT))
        stops = []  # (level, fill price, reason)
        if self.sl is not None:
            a = self.sl.evaluate(st)
            if a.action is not ActionType.HOLD:
                stops.append((stop_level(ref, self.sl.pct, short), a.fill_price, "stop_loss"))
        if self.ts is not None:
            a = self.ts.evaluate(st)
            if a.action is not ActionType.HOLD:
                stops.append((stop_level(mark, self.ts.pct, short), a.fill_price, "trailing_stop"))
        tp = None
        if self.tp is not None:
            a = self.tp.evaluate(st)
            if a.action is not ActionType.HOLD:
                tp = a.fill_price
        stop = None
        if stops:
            # One stop at the higher level (a short's: the lower); the trailing stop only when strictly
            # tighter (stop-loss is first).
            stop = stops[0]
            for other in stops[1:]:
                if tighter(other[0], stop[0], short):
                    stop = other
            if stop[1] == state.bar_open:  # gapped: the open
                return PositionAction.exit_full(stop[2], fill_price=stop[1])
        if tp is not None and tp == state.bar_open:  # take-profit gapped at the open
            return PositionAction.exit_full("take_profit", fill_price=tp)
        if stop is not None:
            return PositionAction.exit_full(stop[2], fill_price=stop[1])
        if tp is not None:
            return PositionAction.exit_full("take_profit", fill_price=tp)
        return None


class _RotationStrategy(Strategy):
    """Target weights on each rebalance bar (every listed asset; 0 where weights.csv has no row).

    Stock: ``broker.rebalance_to_weights(weights)``, which sizes, filters and orders the trades
    itself. Contract: the strategy sizes each order as the contract says (w * V / close[t] -
    position, V = cash + positions at close[t], floored for whole units) from the broker's own
    cash and positions, and submits them in ascending order of value change; the broker (FIFO
    fill ordering) executes them in that order and refuses a buy that does not fit.
    """

    def __init__(self, book: _Book):
        self.book = book

    def on_start(self, broker):
        self.book.broker = broker

    def on_data(self, timestamp, data, context, broker):
        book = self.book
        bar = book.bar_of[timestamp]
        market = book.scenario.market
        if not market.rebalance[bar]:
            return
        row = market.weights[bar]
        if book.mode == "stock":
            weights = {a: float(row[book.col_of[a]]) for a in data if not math.isnan(row[book.col_of[a]])}
            for order in broker.rebalance_to_weights(weights):
                book.own_orders[order.order_id] = (book.col_of[order.asset], bar, "rebalance")
            return
        if bar == book.last_bar:
            return  # nothing decided on the last bar fills
        close = market.close[bar]
        held = np.zeros(market.n_assets)
        for asset, position in broker.get_positions().items():
            held[book.col_of[asset]] = position.quantity
        value = broker.get_cash()
        for j in range(market.n_assets):
            if held[j] != 0.0:
                value += held[j] * close[j]
        orders = []
        for j in range(market.n_assets):
            if math.isnan(close[j]) or math.isnan(row[j]):
                continue
            size = row[j] * value / close[j] - held[j]
            if book.contract.units == "whole":
                size = math.floor(size) if size >= 0.0 else -math.floor(-size)
            orders.append((row[j] * value - held[j] * close[j], j, size))
        orders.sort(key=lambda o: o[0])  # stable: asset order on ties
        for _, j, size in orders:
            if size == 0.0:
                continue
            asset = market.assets[j]
            order = broker.submit_order(asset, abs(size), OrderSide.BUY if size > 0.0 else OrderSide.SELL)
            if order is None:
                raise Unsupported("[sizing] mode", f"{asset} bar {bar}: ml4t drops an order of {abs(size)!r} units "
                                  "(OrderBook._MIN_ORDER_SIZE = 1e-8); the contract trades it")
            book.own_orders[order.order_id] = (j, bar, "rebalance")


# ------------------------------------------------------------------------------ results


_REASON = {"signal": "signal", "stop_loss": "stop_loss", "take_profit": "take_profit",
           "trailing_stop": "trailing_stop", "time_stop": "time_exit"}


def _output(book: _Book, result) -> Output:
    """ml4t's own records in the canonical schema: its fills, the orders it refused, its equity."""
    scenario, c = book.scenario, book.contract
    rotation = c.sizing_mode == "target_weights"
    fills = []
    for row in result.to_fills_dataframe().iter_rows(named=True):
        asset = book.col_of[row["asset"]]
        bar = book.bar_of[row["timestamp"]]
        own = book.own_orders.get(row["order_id"])
        if row["multiplier"] != 1.0:
            raise RuntimeError(f"{row['asset']}: contract multiplier {row['multiplier']!r}")
        if rotation:
            if own is None:
                raise RuntimeError(f"fill of order {row['order_id']} the strategy did not submit")
            reason = "rebalance"
        elif not row["exit_reason"]:  # an entry: a buy, or a short sale
            if own is None or (row["side"] == "sell" and c.sides == "long"):
                raise RuntimeError(f"a {row['side']} entry the strategy did not submit ({row['order_id']})")
            reason = "signal"
        else:
            if row["exit_reason"] not in _REASON or (row["side"] == "buy" and c.sides == "long"):
                raise RuntimeError(f"a {row['side']} with exit reason {row['exit_reason']!r}")
            reason = _REASON[row["exit_reason"]]
            if (own is not None) != (reason == "signal"):
                raise RuntimeError(f"{row['asset']} bar {bar}: a {reason} sell from order {row['order_id']}")
            if own is None and book.rule_log.get((row["asset"], row["timestamp"])) != reason:
                raise RuntimeError(f"{row['asset']} bar {bar}: {reason} fill, but the rules fired "
                                   f"{book.rule_log.get((row['asset'], row['timestamp']))!r}")
        fills.append(make_fill(scenario, asset, bar, side=row["side"], size=row["quantity"], price=row["price"],
                               fee=row["commission"], reason=reason))
    rejections = []
    for order in result.rejected_orders:
        asset = book.col_of[order.asset]
        own = book.own_orders.get(order.order_id)
        if own is not None:
            _, signal_bar, reason = own
            bar = signal_bar if c.fill == "close" else signal_bar + 1  # where it would have filled
        else:
            # An exit the risk engine submitted for a rule: the bar it was submitted and refused on.
            if order.side.value != "sell" and c.sides == "long":
                raise RuntimeError(f"refused buy {order.order_id} the strategy did not submit")
            bar = book.bar_of[order.created_at]
            reason = book.rule_log.get((order.asset, order.created_at))
            if reason is None:
                raise RuntimeError(f"refused {order.side.value} {order.order_id} that no rule submitted")
        rejections.append(make_rejection(scenario, asset, bar, side=order.side.value,
                                         size=order.requested_quantity, reason=reason))
    frame = result.to_equity_dataframe()
    if frame.get_column("timestamp").to_list() != list(book.stamps):
        raise RuntimeError(f"the equity curve has {frame.height} bars, the scenario {scenario.market.n_bars}")
    equity = frame.get_column("equity").to_list()
    return Output(fills=fills, equity=equity, final_value=equity[-1], rejections=rejections)


def _contract_guards(book: _Book, result, out: Output) -> None:
    """Contract mode: raise where ml4t went where the public API cannot stop it."""
    c = book.contract
    if book.blocked:
        asset, bar = book.blocked[0]
        raise Unsupported("[execution] reentry_block", f"ml4t refused the entry order of {asset} on bar {bar}")
    # ml4t accepts a buy whose cost exceeds the cash by up to 0.01 (CASH_TOLERANCE); the contract does not.
    # A short sale the contract refuses leaves the cash below 0 too; a cover always fills.
    cash = c.cash
    fills = list(result.to_fills_dataframe().iter_rows(named=True))
    for row in fills:
        signed = row["quantity"] if row["side"] == "buy" else -row["quantity"]
        cash += -signed * row["price"] * 1.0 - row["commission"]
        if cash < 0.0 and not row["exit_reason"]:
            knob = "[costs] cash_slack" if row["side"] == "buy" else "[positions] sides"
            raise Unsupported(knob, f"{row['asset']} at {row['timestamp']}: a {row['side']} entry left the cash "
                              f"at {cash!r} (ml4t's cash check allows 0.01 over the cash)")
    # An entry placed early (a rule exit on its bar) is queued ahead of that bar's other orders.
    early_fill_bars = {bar + (1 if c.fill == "next_open" else 0) for _, bar in book.early_entries}
    for r in out.rejections:
        if r.side == "buy" and r.bar in early_fill_bars:
            raise Unsupported("[execution] reentry_block", f"bar {r.bar}: a refused buy on a bar whose re-entry "
                              "order was queued ahead of the bar's other orders")
    early = set(book.early_entries.values())
    check_early_short_sales([(row["asset"], book.col_of[row["asset"]], book.bar_of[row["timestamp"]], row["side"],
                              row["order_id"] in early) for row in fills if not row["exit_reason"]])


# ------------------------------------------------------------------------------ engine


def _run(scenario: Scenario, contract: Contract, mode: str) -> Output:
    _check_market(scenario)
    stamps = _datetimes(scenario.market.timestamps)
    prices, signals = _frames(scenario, stamps)
    book = _Book(scenario=scenario, contract=contract, mode=mode, bar_of={dt: i for i, dt in enumerate(stamps)},
                 col_of={a: j for j, a in enumerate(scenario.market.assets)}, stamps=tuple(stamps))
    if contract.sizing_mode == "fixed":
        if mode == "stock":
            rules = _stock_rules(contract, book.rule_log)
        else:
            rules = _ContractExits(book) if contract.has_exit_rules else None
        strategy = _SignalStrategy(book, rules)
        feed = DataFeed(prices_df=prices, signals_df=signals)
    else:
        strategy = _RotationStrategy(book)
        feed = DataFeed(prices_df=prices)
    result = Ml4tEngine(feed, strategy, short_config(_config(contract, mode), contract)).run()
    out = _output(book, result)
    check_short_sales(out)
    if mode == "contract":
        _contract_guards(book, result, out)
    return out


_EXPRESSED = {"fill": ("close", "next_open"), "cash": ANY, "sizing_mode": ("fixed", "target_weights"), "size": ANY,
              "units": ("fractional", "whole"), "fee": ANY, "slippage": ANY, "stop_loss": ANY, "take_profit": ANY,
              "stop_reference": ("close", "fill_price"), "trailing_stop": ANY, "trail_source": ("high", "close"),
              "max_bars": ANY}


class Ml4t(Engine):
    """ml4t-backtest's ``Engine`` and ``Broker`` fill every order (see the module docstring).

    ``contract`` mode: the contract through ml4t's extension points; ``stock`` mode: ml4t as
    documented, described by :data:`adapters._ml4t_profile.PROFILE`.
    """

    name = "ml4t"
    framework = "ml4t-backtest"
    fork_safe = False  # ml4t and this adapter run polars, whose thread pool deadlocks in a forked worker
    # the cost extras: contract mode only so far (stock runs not yet checked against the reference under the profile)
    capabilities = {"contract": {**_EXPRESSED, "fill": ("close", "next_open", "next_close"), "fixed_fee": ANY,
                                 "per_share": ANY, "min_fee": ANY, "slippage_abs": ANY, "sides": POSITION_SIDES},
                    "stock": {**_EXPRESSED, "sides": POSITION_SIDES}}
    profile = PROFILE
    profile_evidence = EVIDENCE
    witness = {
        "contract": {
            "fill": ("configured", "close: execution_mode=SAME_BAR + execution_price=CLOSE; next_open: the default "
                                   "NEXT_BAR; next_close: NEXT_BAR + next_bar_execution_price=CLOSE; "
                                   "fill_ordering=FIFO with the strategy submitting exits before entries"),
            "cash": ("configured", "initial_cash"),
            "sizing_mode": ("native", "fixed: submit_order(asset, size) / close_position(asset); target_weights: "
                                      "submit_order per asset (see units)"),
            "size": ("native", "the order quantity"),
            "units": ("computed", "the strategy sizes each rotation order (w * V / close - position, floored for "
                                  "whole units) from the broker's cash and positions and submits them in the "
                                  "contract's sequence; the broker executes them and refuses a buy that does not fit"),
            "fee": ("configured", "commission_type=PERCENTAGE, commission_rate"),
            "fixed_fee": ("configured", "commission_type=PER_ORDER, commission_rate, commission_per_trade (no "
                                        "per-share commission)"),
            "per_share": ("configured", "commission_type=PER_SHARE, commission_per_share (no percentage or fixed fee)"),
            "min_fee": ("configured", "commission_minimum of PER_SHARE (no percentage or fixed fee)"),
            "slippage": ("configured", "slippage_type=PERCENTAGE, slippage_rate"),
            "slippage_abs": ("configured", "slippage_type=FIXED, slippage_fixed (no percentage slippage)"),
            "sides": ("configured", SIDES_WITNESS["contract"]),
            "stop_loss": ("assisted", "the native StopLoss decides trigger, level and gap fill on a state carrying "
                                      "the contract's reference; the adapter's rule resolves the precedence"),
            "take_profit": ("assisted", "the native TakeProfit, as stop_loss"),
            "stop_reference": ("assisted", "the adapter's rule supplies ref: Position.entry_price, or the fill "
                                           "bar's close"),
            "trailing_stop": ("assisted", "the native TrailingStop on a state carrying the contract's hwm, which "
                                          "the adapter's rule keeps (from ref, raised after each bar's check)"),
            "trail_source": ("assisted", "the adapter's rule raises its hwm with each bar's high or close"),
            "max_bars": ("assisted", "the native TimeExit count (bars_held >= N); the adapter's rule yields to an "
                                     "exit signal on that bar and, in next_open mode, decides a bar early and "
                                     "defers the exit to the next open (defer_fill=True)"),
            "last_bar": ("computed", "skip: the strategy decides nothing on the last bar; the rule takes no time "
                                     "exit there"),
            "open_exit_rules": ("assisted", "skip: the adapter's rule holds while the position's exit fills at the "
                                            "next open"),
            "reentry_block": ("assisted", "exit_close: close mode, the strategy skips an entry on a bar whose exit "
                                          "filled; next_open, the rule places the bar's entry order before ml4t "
                                          "would refuse it"),
            "stops_before_open_entries": ("configured", "false: fill_ordering=FIFO, the strategy's open orders "
                                                        "submitted before the rule exits"),
            "stop_resolution": ("assisted", "higher_level: the adapter's rule picks the higher stop"),
            "gaps_first": ("assisted", "true: the adapter's rule fills a gapped stop or take-profit before any "
                                       "intrabar one"),
            "time_exit_first": ("assisted", "true: the time exit deferred to the next open fills before the bar's "
                                            "rules"),
            "time_signal_label": ("assisted", "signal: the adapter's rule yields to the bar's exit signal"),
            "trail_entry_bar": ("assisted", "skip: the adapter's own hwm starts at ref (ml4t's own rises with the "
                                            "entry bar's close)"),
            "rebalance_sequence": ("computed", "value_change: the strategy submits the orders in that sequence"),
        },
        "stock": {
            "fill": ("configured", "close: execution_mode=SAME_BAR + execution_price=CLOSE; next_open: the default "
                                   "NEXT_BAR (market orders at the next open)"),
            "cash": ("configured", "initial_cash"),
            "sizing_mode": ("native", "fixed: submit_order(asset, size) / close_position(asset); target_weights: "
                                      "Broker.rebalance_to_weights(weights)"),
            "size": ("native", "the order quantity"),
            "units": ("configured", "share_type=INTEGER (whole) or FRACTIONAL"),
            "fee": ("configured", "commission_type=PERCENTAGE, commission_rate"),
            "slippage": ("configured", "slippage_type=PERCENTAGE, slippage_rate (rule exits included)"),
            "sides": ("configured", SIDES_WITNESS["stock"]),
            "stop_loss": ("native", "StopLoss(pct) in a RuleChain"),
            "take_profit": ("native", "TakeProfit(pct) in a RuleChain"),
            "trailing_stop": ("native", "TrailingStop(pct) in a RuleChain, trail_stop_timing=LAGGED"),
            "stop_reference": ("configured", "fill_price: stop_level_basis and initial_hwm_source FILL_PRICE; close "
                                             "(close mode): SIGNAL_PRICE; close (next_open, trailing only): "
                                             "initial_hwm_source=BAR_CLOSE"),
            "trail_source": ("configured", "trail_hwm_source=BAR_EXTREME (high) or CLOSE"),
            "max_bars": ("native", "TimeExit(max_bars) in a RuleChain: Position.bars_held, 0 on the fill bar and "
                                   "raised at the start of each later bar, fires at >= N"),
            **{knob: ("native", evidence) for knob, evidence in EVIDENCE.items()},
        },
    }

    def check(self, scenario: Scenario, contract: Contract, mode: str) -> None:
        if contract.per_share > 0.0 and (contract.fee > 0.0 or contract.fixed_fee > 0.0):
            raise Unsupported("[costs] per_share", "with a percentage or fixed fee: ml4t's one commission model "
                              "that sums them, PerOrderCommission, applies the minimum to the whole fee "
                              "(models.py PerOrderCommission.quote), the contract to the per-share part")
        if contract.slippage_abs > 0.0 and contract.slippage > 0.0:
            raise Unsupported("[costs] slippage_abs", "with a percentage slippage: ml4t takes one slippage model "
                              "(slippage_type PERCENTAGE or FIXED)")
        if contract.sizing_mode == "target_weights" and (contract.fixed_fee or contract.per_share
                                                         or contract.slippage_abs):
            raise Unsupported("[costs] fixed_fee" if contract.fixed_fee else "[costs] per_share" if
                              contract.per_share else "[costs] slippage_abs", "rotations: not taught")
        if contract.fill == "next_close" and (contract.sizing_mode != "fixed" or contract.has_exit_rules):
            raise Unsupported("[execution] fill", "next_close: signal scenarios without exit rules only "
                                                  "(next_bar_execution_price=CLOSE)")
        if (mode == "stock" and contract.sizing_mode == "fixed" and contract.fill == "next_open"
                and contract.stop_reference == "close"
                and (contract.stop_loss is not None or contract.take_profit is not None)):
            raise Unsupported("[exits] stop_reference", "\"close\" with fill = \"next_open\": stop_level_basis offers "
                              "the fill price or the signal bar's close (SIGNAL_PRICE), not the fill bar's close")
        if mode == "stock":
            refuse_stock_reversals(contract)

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        return _run(scenario, contract, mode)

    def run_rotation(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        return _run(scenario, contract, mode)
