"""Target-weight rotation through Backtrader 1.9.78.123's own broker.

``run_rotation(scenario)`` runs a ``[sizing] mode = "target_weights"``
scenario; ``adapters.backtrader`` dispatches to it. Backtrader's stock
``BackBroker`` does every execution and every cash check; this module feeds
the bars in, turns each rebalance bar's target weights into orders the way the
contract says (``harness.contract.KNOBS``, ``[sizing] units``) and reads back
what the broker did. Per knob:

* Order sizes: on a rebalance bar t (not the last) the strategy's ``next()``
  reads the broker's cash and position sizes, after the broker's step of bar
  t (which booked that step's fills), and takes V = cash + the sum of
  position * close[t] in asset order, the contract's value at close[t]. The
  broker's own ``getvalue()`` is the same number up to rounding (checked to
  1e-12 on every rebalance): it sums each position as ``(size*close -
  unrealized) + unrealized`` in the order the positions were opened
  (``BackBroker._get_value``), which can land 1 ulp away, and at 100 %
  investment 1 ulp of V decides whether the last buy fits (e.g. closes
  100/50 then 120.98/30.08, weights [0.5, 0.5] then [0, 1]: getvalue() is
  905.7, the contract's sum 905.6999999999999, and B's buy sized from
  getvalue() is refused). Each listed asset's order is ``w * V / close[t] -
  position`` (``whole``: the magnitude floored). The orders are submitted in
  ascending order of the value change ``w * V - position * close[t]``, a
  stable sort (ties keep asset order): sells first, then the smallest buys.
  The broker executes its pending queue in submission order, from one cash
  pool, so each buy sees the cash the sells and smaller buys before it left.

  ``order_target_percent`` is *not* used: it takes V from ``getvalue()``
  (above) and sizes through ``order_target_value`` as
  ``comminfo.getsize(price, |w*V - position*close|)`` = ``int(amount //
  price)``: whole units only (fractions need a ``CommInfoBase.getsize``
  override), and a different float expression than the contract's, one unit
  apart when ``w*V/close`` lands on an integer (w 0.1, V 8450.6, close
  13.63, position 40: the contract buys floor(62.0 - 40) = 22 units,
  ``(845.06 - 545.2) // 13.63`` gives 21). It also submits each order on its
  own, so the sequence would still have to be imposed by the caller.
* ``units``: ``fractional`` orders are submitted as float sizes (the broker
  and ``Position`` take them as they are; no sizer or ``getsize`` is involved
  since every order has an explicit size); ``whole`` floors the magnitude.
* A buy that does not fit is rejected whole: ``broker.set_checksubmit(False)``
  accepts every order at once, and the cash check happens at execution
  (``BackBroker._execute``: ``cash -= size*price; cash -= comm; if cash < 0``),
  at the real fill price, after the sells and smaller buys executed before it
  in the same step. A refused order ends with status ``Margin``: it becomes a
  canonical rejection (bar = the bar it would have filled on). With the
  default ``checksubmit=True`` the broker would pre-check every order against
  the cash *before* the step (``check_submitted``, at the order's creation
  price: close[t], not the next open).
* ``fill = "close"``: ``broker.set_coc(True)``; an order from ``next()`` of
  bar t executes at close[t] (``_try_exec_market``: ``exprice =
  order.created.pclose``, execution dated ``order.created.dt``) when the
  broker steps into bar t+1. ``fill = "next_open"``: the default broker; the
  order executes at open[t+1] in the step of bar t+1.
* ``fee``: ``setcommission(commission=f)``: stock-like ``COMM_PERC`` with
  ``percabs=True``, ``abs(size) * f * price`` at the slipped price.
* ``slippage``: ``set_slippage_perc(s, slip_open=True, slip_limit=True,
  slip_match=True, slip_out=True)``, as in ``adapters.backtrader``.
  ``slip_open`` is what applies slippage to Market orders at all;
  ``slip_match`` + ``slip_out`` make ``_slip_up``/``_slip_down`` return the
  slipped price even when it lies outside the high/low of the bar the broker
  processes the order on (without ``slip_match`` it returns ``None`` and the
  order stays pending; without ``slip_out`` the price is clamped, and in
  ``close`` mode that is the range of bar t+1, not the fill bar).
* Late listings: every feed carries every bar, NaN before the asset lists. An
  asset with a NaN close or a NaN weight on a rebalance bar gets no order, and
  its position is looked up with ``broker.positions.get`` (never
  ``getposition``, which would create a zero ``Position`` that the broker then
  values at a NaN close). The run checks that no unlisted asset ever enters
  the broker's positions and that every sampled value is finite.

Read-back: fills from ``order.executed.exbits[-1]`` (price, size, comm; the
bit's datetime gives the fill bar); ``Margin`` orders are rejections; any
other end state (``Rejected``, ``Canceled``, ``Expired``, a partial fill) is
an error. Equity is the value at close[i] after bar i's fills:

* ``next_open``: ``broker.getvalue()`` in ``next()`` of bar i.
* ``close``: the broker books bar i's close fills in its step of bar i+1, so
  ``getvalue()`` in ``next()`` of bar i lags on rebalance bars. On a bar whose
  fills were booked in step i+1, value[i] is the broker's cash and position
  sizes read in ``next()`` of bar i+1 (nothing else moves them in that step)
  marked at close[i]; on every other bar it is the broker's own
  ``getvalue()`` of bar i, and the run checks that the broker's cash did not
  change in step i+1 there. The last bar's value is the broker's final value.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np

from adapters import _backtrader_feed as feed

from harness.engines import Output, make_fill, make_rejection
from harness.results import Fill, Rejection
from harness.scenario import Scenario

__all__ = ["run_rotation"]

REASON = "rebalance"

log = logging.getLogger(__name__)

_SUPPORTED_KNOBS = frozenset({"fill", "cash", "sizing_mode", "units", "fee", "slippage"})
_FILL_MODES = ("close", "next_open")
_UNITS = ("fractional", "whole")


# ------------------------------------------------------------------------------ feed


# -------------------------------------------------------------------------- strategy


@dataclass(slots=True)
class _Plan:
    """Everything the strategy needs and everything it reads back, passed in as one parameter."""

    scenario: Scenario
    coc: bool
    whole: bool
    bar_of_dt: dict[float, int]
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    broker_value: list[float] = field(default_factory=list)  # broker.getvalue() in next() of bar i
    broker_cash: list[float] = field(default_factory=list)  # broker.getcash() in next() of bar i
    # close mode: value[i] for bars whose fills the broker booked in step i+1 (read in next() of bar i+1).
    post_fill_value: dict[int, float] = field(default_factory=dict)
    booked_at: set[int] = field(default_factory=set)  # broker steps (bars) that booked at least one fill
    submitted: list[tuple[int, int, float]] = field(default_factory=list)  # (decision bar, asset, signed size)


class _RotationStrategy(bt.Strategy):
    params = (("plan", None),)

    def __init__(self):
        plan: _Plan = self.p.plan
        market = plan.scenario.market
        self.plan = plan
        self.close_ = np.asarray(market.close, dtype=np.float64)
        self.weights = np.asarray(market.weights, dtype=np.float64)
        self.rebalance = np.asarray(market.rebalance, dtype=np.bool_)
        self.listed = ~np.isnan(self.close_)
        self.last_bar = market.n_bars - 1
        self.n_assets = market.n_assets
        self.asset_of = {data: j for j, data in enumerate(self.datas)}
        self.intent: dict[int, tuple[int, int]] = {}  # order.ref -> (asset, decision bar)
        self.open_orders: set[int] = set()
        self.bar = -1

    # -- bar loop -----------------------------------------------------------------

    def next(self):
        self.bar += 1
        bar = self.bar
        if self.plan.bar_of_dt[self.datas[0].datetime[0]] != bar:
            raise RuntimeError(f"Backtrader delivered bar {self.datas[0].datetime[0]} out of step with bar {bar}")
        if self.open_orders:
            raise RuntimeError(f"orders {sorted(self.open_orders)} from bar {bar - 1} still pending at bar {bar}")
        self._check_positions(bar)
        self._sample_equity(bar)
        if self.rebalance[bar] and bar != self.last_bar:  # nothing decided on the last bar fills
            self._rebalance(bar)

    def _check_positions(self, bar: int) -> None:
        for data in self.broker.positions:
            j = self.asset_of[data]
            if not self.listed[bar, j]:
                raise RuntimeError(f"asset {j} has a broker position on bar {bar}, before it lists")

    def _position_sizes(self) -> np.ndarray:
        # Look positions up without creating them: a new Position on an unlisted asset
        # (NaN close) would make the broker's value NaN.
        sizes = np.zeros(self.n_assets)
        for data, pos in self.broker.positions.items():
            sizes[self.asset_of[data]] = pos.size
        return sizes

    def _sample_equity(self, bar: int) -> None:
        broker = self.broker
        value = broker.getvalue()
        if not math.isfinite(value):
            raise RuntimeError(f"broker value {value!r} on bar {bar}")
        self.plan.broker_value.append(value)
        self.plan.broker_cash.append(broker.getcash())
        if self.plan.coc and bar in self.plan.booked_at:
            # This step booked bar-1's close fills (and nothing else): the broker's cash and
            # positions now are its state after them; mark them at close[bar-1].
            prev = bar - 1
            sizes = self._position_sizes()
            total = broker.getcash()
            for j in range(self.n_assets):
                if sizes[j] != 0.0:
                    total += sizes[j] * self.close_[prev, j]
            self.plan.post_fill_value[prev] = total

    def _rebalance(self, bar: int) -> None:
        """Size every listed asset's order from the broker's value and positions; submit them in sequence."""
        position = self._position_sizes()
        close = self.close_[bar]
        weights = self.weights[bar]
        # V: the broker's cash plus its positions at close[bar], summed in asset order as the contract
        # does; the broker's own getvalue() is the same number up to rounding (checked).
        value = self.broker.getcash()
        for j in range(self.n_assets):
            if position[j] != 0.0:
                value += position[j] * close[j]
        broker_value = self.broker.getvalue()
        if abs(value - broker_value) > 1e-12 * abs(broker_value):
            raise RuntimeError(f"bar {bar}: value {value!r} != broker value {broker_value!r}")
        orders = []
        for j in range(self.n_assets):
            if np.isnan(close[j]) or np.isnan(weights[j]):
                continue  # not listed (or no target): no order, no part in the sequence
            size = weights[j] * value / close[j] - position[j]
            if self.plan.whole:
                size = math.floor(size) if size >= 0.0 else -math.floor(-size)
            key = weights[j] * value - position[j] * close[j]
            orders.append((key, j, float(size)))
        orders.sort(key=lambda o: o[0])  # stable: equal value changes keep asset order
        for _, j, size in orders:
            data = self.datas[j]
            if size < 0.0:
                order = self.sell(data=data, size=-size, exectype=bt.Order.Market)
            elif size > 0.0:
                order = self.buy(data=data, size=size, exectype=bt.Order.Market)
            else:
                continue
            self.intent[order.ref] = (j, bar)
            self.open_orders.add(order.ref)
            self.plan.submitted.append((bar, j, size))

    # -- broker events ------------------------------------------------------------

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        asset, decision_bar = self.intent[order.ref]
        self.open_orders.discard(order.ref)
        fill_bar = decision_bar if self.plan.coc else decision_bar + 1
        step = self.plan.bar_of_dt[order.data.datetime[0]]  # the broker step that resolved it
        if step != decision_bar + 1:
            raise RuntimeError(f"order {order.ref} from bar {decision_bar} resolved in the step of bar {step}")
        side = "buy" if order.isbuy() else "sell"
        if order.status == order.Completed:
            bits = order.executed.exbits
            if len(bits) != 1:
                raise RuntimeError(f"order {order.ref} executed in {len(bits)} bits; partial fills are not in the contract")
            bit = bits[-1]
            bar = self.plan.bar_of_dt[bit.dt]
            if bar != fill_bar:
                raise RuntimeError(f"order {order.ref} from bar {decision_bar} filled at bar {bar}, expected {fill_bar}")
            if abs(bit.size) != abs(order.created.size):
                raise RuntimeError(f"order {order.ref}: executed {bit.size!r} of {order.created.size!r}")
            self.plan.booked_at.add(step)
            self.plan.fills.append(make_fill(self.plan.scenario, asset, bar, side, abs(bit.size), bit.price,
                                             bit.comm, REASON))
            return
        if order.status == order.Margin and side == "buy":
            # Not enough cash at execution: the broker refused the whole order.
            self.plan.rejections.append(make_rejection(self.plan.scenario, asset, fill_bar, side,
                                                       abs(order.created.size), REASON))
            log.info("%s: buy of %r units of asset %d on bar %d rejected (Margin)",
                     self.plan.scenario.name, abs(order.created.size), asset, fill_bar)
            return
        raise RuntimeError(f"asset {asset}: {side} order from bar {decision_bar} ended {order.getstatusname()}")


# ------------------------------------------------------------------------------- run


def _check_supported(scenario: Scenario) -> None:
    contract = scenario.spec.contract
    if contract.sizing_mode != "target_weights":
        raise NotImplementedError(f"{scenario.name}: run_rotation runs target_weights scenarios, "
                                  f"not sizing mode {contract.sizing_mode!r}")
    unknown = sorted(set(contract.as_dict()) - _SUPPORTED_KNOBS)
    if unknown or contract.has_exit_rules:
        raise NotImplementedError(f"{scenario.name}: the Backtrader rotation does not implement knob(s) {unknown}")
    if contract.fill not in _FILL_MODES:
        raise NotImplementedError(f"{scenario.name}: fill mode {contract.fill!r}")
    if contract.units not in _UNITS:
        raise NotImplementedError(f"{scenario.name}: units {contract.units!r}")
    market = scenario.market
    if market.weights is None or market.weights.shape != market.close.shape:
        raise ValueError(f"{scenario.name}: target weights must be an (n_bars, n_assets) array")
    w = market.weights[~np.isnan(market.weights)]
    if np.any((w < 0.0) | (w > 1.0)):
        raise ValueError(f"{scenario.name}: target weights must be in [0, 1]")
    if np.any(~np.isnan(market.weights) & np.isnan(market.close)):
        raise ValueError(f"{scenario.name}: a target weight on a bar where the asset has no price")


def run_rotation(scenario: Scenario) -> Output:
    """Run a target-weight rotation through Backtrader's broker; refused buys come back as rejections."""
    _check_supported(scenario)
    contract = scenario.spec.contract
    market = scenario.market
    coc = contract.fill == "close"

    datenums = feed.datenums(market.timestamps)
    plan = _Plan(scenario=scenario, coc=coc, whole=contract.units == "whole",
                 bar_of_dt={float(x): i for i, x in enumerate(datenums)})

    cerebro = bt.Cerebro(stdstats=False)
    feed.add_feeds(cerebro, market, datenums)
    cerebro.addstrategy(_RotationStrategy, plan=plan)

    broker = cerebro.broker
    feed.configure_broker(broker, contract)

    (strategy,) = cerebro.run(stdstats=False)
    if strategy.open_orders:
        raise RuntimeError(f"orders {sorted(strategy.open_orders)} never resolved (decided on the last bar?)")
    final_value = broker.getvalue()

    n = market.n_bars
    if len(plan.broker_value) != n:
        raise RuntimeError(f"strategy saw {len(plan.broker_value)} bars of {n}")
    if coc:
        equity = []
        for i in range(n - 1):
            if i + 1 in plan.booked_at:
                equity.append(plan.post_fill_value[i])
                continue
            # Step i+1 booked no fill: the broker's state is the one it valued at close[i].
            if plan.broker_cash[i + 1] != plan.broker_cash[i]:
                raise RuntimeError(f"bar {i}: broker cash moved from {plan.broker_cash[i]!r} to "
                                   f"{plan.broker_cash[i + 1]!r} in a step that booked no fill")
            equity.append(plan.broker_value[i])
        equity.append(plan.broker_value[-1])
    else:
        equity = list(plan.broker_value)
    if equity[-1] != final_value:
        raise RuntimeError(f"last-bar value {equity[-1]!r} != broker final value {final_value!r}")
    if not all(math.isfinite(v) for v in equity):
        raise RuntimeError("non-finite equity")

    return Output(fills=plan.fills, equity=equity, final_value=final_value, rejections=plan.rejections)
