"""Backtrader ``stock`` mode: every scenario as a competent user writes it from Backtrader's documentation.

``run_stock(scenario)`` runs a stored scenario through Backtrader 1.9.78.123
with its public API only: ``bt.Cerebro()`` and the broker it creates (a stock
``BackBroker``: no subclass, no patching, no reordering of its queue, no
order-class overrides, no post-processing of fills). It is not the contract
adapter (``adapters/backtrader.py``): whatever the stock broker does
differently from the contract is returned as it is, and is explained by the
profile :data:`PROFILE` (behaviour knobs of ``harness.contract``) under which
the reference engine reproduces it. What the public API cannot express at all
raises :class:`Unsupported`, naming the knob.

Broker settings, each the documented call for the scenario's knob:

* ``broker.set_cash(cash)``; ``broker.setcommission(commission=fee)``:
  percentage commission (``COMM_PERC``, ``percabs=True``): ``|size| * fee *
  price`` at the fill price. With ``fixed_fee``, ``per_share`` or ``min_fee``
  (signal scenarios): ``broker.addcommissioninfo`` of a ``CommInfoBase``
  subclass overriding ``_getcommission`` (the documented "User Defined
  Commissions" recipe; ``adapters._backtrader_costs.ContractCommInfo``): the
  same percentage term, ``+ max(c * |size|, m)``, ``+ fixed_fee``. The broker
  uses it for the fill's commission and for the ``checksubmit``
  pseudo-execution alike. ``slippage_abs`` is not taken: ``set_slippage_fixed``
  replaces the percentage slippage rather than adding to it.
* ``broker.set_slippage_perc(slippage)`` with its defaults (``slip_open=True,
  slip_limit=True, slip_match=True, slip_out=False``, bbroker.py:326-335).
  The Slippage page: ``slip_open`` is "whether to slip prices for order
  execution which would specifically used the opening price of the next bar.
  An example would be Market order"; the scenario asks for slipped market
  fills, and ``set_slippage_perc`` turns it on by default. ``slip_match``: "If
  True the broker will offer a match by capping slippage at high/low prices in
  case they would be exceeded"; ``slip_out``: "Provide slippage even if the
  price falls outside the high - low range". A user who asks for realistic
  fills has no reason to ask for prices outside the bar, so ``slip_out`` stays
  off, and the cap is part of the profile (``slippage_cap = "bar"``).
* ``fill = "close"``: ``broker.set_coc(True)``: the documented Cheat-On-Close
  ("matching a Market order to the closing price of the bar in which the order
  was issued"). ``fill = "next_open"``: the default broker.
* ``checksubmit`` stays at its default ``True`` ("check margin/cash before
  accepting an order into the system"): the broker reference gives no reason
  to change it. Its effects are in the profile: every new order is
  pseudo-executed at its creation price (the signal bar's close) before the
  broker's next step (``submit_check``), and an order placed during a step
  is only tried from the next one (``stops_from``, ``early_exit``).
* ``cerebro = bt.Cerebro()`` with its default observers; one data feed per
  asset (:mod:`adapters._backtrader_feed`, a ``DataBase`` subclass: the
  documented way to feed arrays).

Strategy code (what a user writes; the signals are read from the scenario):

* ``percent_of_equity``: ``cerebro.addsizer(bt.sizers.PercentSizer, percents=100 * p)``
  (``PercentSizerInt`` for whole units) and entries without a size: the sizer
  computes ``cash / data.close[0] * (percents / 100)`` from ``broker.getcash()``
  when the order is created (sizers/percents_sizer.py:39-47, sizer.py:50-52):
  the profile's ``percent_base = "cash"``.
* Entry: ``self.buy(data=d, size=size)`` (a Market order; a short entry
  ``self.sell(data=d, size=size)``, the broker's default ``shortcash=True``
  crediting the sale) when flat, no order is pending and (``close`` mode) no
  exit filled on this bar. A short's protective orders are buys: ``Stop`` at
  ``ref * (1.0 + p)``, ``StopTrail``, ``Limit`` at ``ref * (1.0 - q)``;
  ``close()`` covers it. A run in which stock behaviour no profile knob
  describes decides something for a short raises :class:`Unsupported`
  (``[positions] sides``; adapters/README.md says which).
* Exit rules: when the entry is notified ``Completed`` (``notify_order``), the
  protective orders go in for the filled size, in this order, linked with
  ``oco=`` the first (the OCO page: the execution, cancellation or expiry of
  any order of the group cancels the others):
  stop-loss ``sell(exectype=Stop, price=ref * (1.0 - p))``; trailing stop
  ``sell(exectype=StopTrail, trailpercent=p, price=ref)``; take-profit
  ``sell(exectype=Limit, price=ref * (1.0 + q))``. ref is the close of the
  entry-fill bar or ``order.executed.price`` (the documented attribute, an
  average: ``fill_ref``). Placing them from ``notify_order`` is what works
  for both references in both fill modes (a ``buy_bracket`` needs its prices
  when the entry is submitted, before the fill price is known, and has a low
  and a high side, not three exits; its children would also be activated
  only a step after the entry executes, as these are).
* Signal and time exits: ``self.cancel(o)`` for each live protective order,
  then ``self.close(data=d, oco=<first protective order>)``. The ``oco=``
  guards the position: with ``checksubmit`` an order placed in this bar's
  ``notify_order`` is not yet in the broker's pending queue, ``cancel`` does
  nothing to it (bbroker.py:391-396), and without the link a stop and the
  exit could both sell.
* Time exit: the strategy counts bars from the entry's fill bar (the executed
  datetime) and closes on bar fill + N (``close``: fills at its close) or
  fill + N - 1 (``next_open``: fills at the open of fill + N).
* Rotation: on a rebalance bar, ``order_target_percent(d, target=w)`` for
  each listed asset, first every asset whose target value is below its
  current value (sells), then the others (buys), each group in asset order, as
  Backtrader's rebalancing examples do. ``order_target_percent`` sizes through
  ``CommInfoBase.getsize``, ``int(cash // price)``: whole units only.

Unsupported (raised as :class:`Unsupported`, never approximated):

* ``[exits] trail_source = "high"``: the broker ratchets a StopTrail on each
  bar's close (bbroker.py:942-944; the StopTrail page describes the stop
  being recomputed from the latest close). Ratcheting on highs would need
  ``Order.trailadjust`` (order.py:595), which neither the StopTrail page nor
  the Order reference offers to users (order.py:559-563 lists ``isbuy``,
  ``issell``, ``alive`` as the user methods).
* ``[sizing] units = "fractional"`` in a rotation: ``order_target_percent`` ->
  ``order_target_value`` -> ``getsize`` returns ``int(...)``
  (comminfo.py:192-197).

Read-back: fills from each completed order's execution bit (price, size,
commission; its datetime gives the bar), ``Margin`` entries as rejections.
Equity at bar i is the broker's cash and position sizes after every fill
dated at or before bar i, marked at close[i] (read in ``next()``: in
``close`` mode the broker books bar i's close fills in its step of bar i+1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np

from adapters import _backtrader_costs as costs
from adapters import _backtrader_feed as feed
from harness.engines import Output, Unsupported, make_fill, make_rejection
from harness.results import Fill, Rejection
from harness.scenario import Scenario

__all__ = ["simulate_stock", "StockRun"]


def check_stock(scenario: Scenario) -> None:
    """What the capability table cannot say: the market shapes the stock strategies handle."""
    market = scenario.market
    if scenario.spec.contract.sizing_mode == "fixed" and np.any(np.isnan(market.close)):
        raise NotImplementedError(f"{scenario.name}: signal scenarios with unlisted bars are not run in stock mode")


# ----------------------------------------------------------------------------- shared


@dataclass(slots=True)
class _Plan:
    scenario: Scenario
    coc: bool
    bar_of_dt: dict[float, int]
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # Broker state read in next() of bar i: cash and position sizes (asset order) after its step.
    cash: list[float] = field(default_factory=list)
    sizes: list[np.ndarray] = field(default_factory=list)
    broker_value: list[float] = field(default_factory=list)
    # step (bar) -> set of fill bars the step booked
    booked: dict[int, set[int]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)  # notable broker decisions, for the check script

    def book(self, step: int, fill_bar: int) -> None:
        self.booked.setdefault(step, set()).add(fill_bar)


def _sizes(broker, datas) -> np.ndarray:
    out = np.zeros(len(datas))
    for j, d in enumerate(datas):
        pos = broker.positions.get(d)  # never create a Position (an unlisted asset would poison getvalue)
        if pos is not None:
            out[j] = pos.size
    return out


def _equity(plan: _Plan, close: np.ndarray, final_value: float) -> list[float]:
    """value[i] = cash + sum(size * close[i]) after every fill dated <= i."""
    n = close.shape[0]
    if len(plan.cash) != n:
        raise RuntimeError(f"the strategy saw {len(plan.cash)} bars of {n}")
    equity = []
    for i in range(n):
        if plan.coc and i + 1 < n and i in plan.booked.get(i + 1, ()):
            if i + 1 in plan.booked[i + 1]:
                raise RuntimeError(f"step {i + 1} booked fills of bars {i} and {i + 1}: state cannot be split")
            k = i + 1  # the step that booked bar i's close fills (nothing else)
        else:
            k = i
            if i in plan.booked.get(i + 1, ()) and not plan.coc:
                raise RuntimeError(f"next_open: step {i + 1} booked a fill of bar {i}")
        value = plan.cash[k]
        for j in range(close.shape[1]):
            size = plan.sizes[k][j]
            if size != 0.0:
                value += size * close[i, j]
        if not math.isfinite(value):
            raise RuntimeError(f"bar {i}: non-finite value {value!r}")
        if k == i and not math.isclose(value, plan.broker_value[i], rel_tol=1e-12, abs_tol=0.0):
            raise RuntimeError(f"bar {i}: value {value!r} != broker value {plan.broker_value[i]!r}")
        equity.append(value)
    if not math.isclose(equity[-1], final_value, rel_tol=1e-12, abs_tol=0.0):
        raise RuntimeError(f"last value {equity[-1]!r} != broker final value {final_value!r}")
    return equity


def _configure(cerebro: bt.Cerebro, contract) -> None:
    broker = cerebro.broker
    broker.set_cash(contract.cash)
    if costs.has_commission_extras(contract):
        # "User Defined Commissions": a CommInfoBase subclass overriding _getcommission
        broker.addcommissioninfo(costs.ContractCommInfo(commission=contract.fee, per_share=contract.per_share,
                                                        min_fee=contract.min_fee, fixed_fee=contract.fixed_fee))
    else:
        broker.setcommission(commission=contract.fee)
    broker.set_slippage_perc(contract.slippage)
    if contract.fill == "close":
        broker.set_coc(True)
    if contract.sizing_mode == "percent_of_equity":
        sizer = bt.sizers.PercentSizerInt if contract.units == "whole" else bt.sizers.PercentSizer
        cerebro.addsizer(sizer, percents=100.0 * contract.fraction)


class _Base(bt.Strategy):
    params = (("plan", None),)

    def _sample(self) -> int:
        plan: _Plan = self.p.plan
        bar = len(self) - 1
        if plan.bar_of_dt[self.datas[0].datetime[0]] != bar:
            raise RuntimeError(f"bar {bar} delivered out of step")
        plan.cash.append(self.broker.getcash())
        plan.sizes.append(_sizes(self.broker, self.datas))
        plan.broker_value.append(self.broker.getvalue())
        return bar

    def _fill(self, order, asset: int, reason: str) -> int:
        """Record a completed order; return its fill bar."""
        plan: _Plan = self.p.plan
        bits = order.executed.exbits
        if len(bits) != 1:
            raise RuntimeError(f"order {order.ref} executed in {len(bits)} bits")
        bit = bits[0]
        fill_bar = plan.bar_of_dt[bit.dt]
        plan.book(len(self) - 1, fill_bar)
        plan.fills.append(make_fill(plan.scenario, asset, fill_bar, "buy" if order.isbuy() else "sell",
                                    abs(bit.size), bit.price, bit.comm, reason))
        return fill_bar


# ---------------------------------------------------------------------------- signals

_ROLE_REASON = {"stop": "stop_loss", "trail": "trailing_stop", "limit": "take_profit"}


@dataclass(slots=True)
class _Book:
    index: int
    data: object
    entry: object = None  # pending entry order
    exit: object = None  # pending Market exit
    exit_reason: str = ""
    exit_bar_decided: int = -1
    protective: list = field(default_factory=list)  # live Stop / StopTrail / Limit orders
    fill_bar: int = -1
    last_exit_bar: int = -1
    short: bool = False  # the current (or pending) position is a short


class _StockSignals(_Base):
    def __init__(self):
        plan: _Plan = self.p.plan
        self.c = plan.scenario.spec.contract
        m = plan.scenario.market
        self.entries = np.asarray(m.entries)
        self.exits = np.asarray(m.exits)
        no_shorts = np.zeros_like(self.entries)
        self.short_entries = np.asarray(m.short_entries) if m.short_entries is not None else no_shorts
        self.short_exits = np.asarray(m.short_exits) if m.short_exits is not None else no_shorts
        self.last = m.n_bars - 1
        self.books = [_Book(j, d) for j, d in enumerate(self.datas)]
        self.roles: dict[int, tuple[int, str]] = {}  # order.ref -> (asset, role)
        self.short_protected_at: set[int] = set()  # steps in which a short's protective buys were placed

    def next(self):
        bar = self._sample()
        if bar == self.last:
            return  # an order placed on the last bar could never fill
        for b in self.books:
            if self._position(b) != 0.0 and b.exit is None:
                reason = self._exit_reason(b, bar)
                if reason:
                    self._exit(b, bar, reason)
        for b in self.books:
            short = bool(self.short_entries[bar, b.index])
            if not (self.entries[bar, b.index] or short) or self._position(b) != 0.0 or b.entry is not None \
                    or b.exit is not None:
                continue
            if self.p.plan.coc and b.last_exit_bar == bar:
                continue  # close mode: no re-entry on a bar where this asset's exit filled
            # a short entry is a plain sell while flat (the broker's default shortcash=True)
            size = self.c.size if self.c.sizing_mode == "fixed" else None  # None: the cerebro's sizer decides
            b.entry = (self.sell if short else self.buy)(data=b.data, size=size)
            b.short = short
            self.roles[b.entry.ref] = (b.index, "entry")

    def _position(self, b: _Book) -> float:
        pos = self.broker.positions.get(b.data)
        return 0.0 if pos is None else pos.size

    def _exit_reason(self, b: _Book, bar: int) -> str:
        if (self.short_exits if b.short else self.exits)[bar, b.index]:
            return "signal"
        n = self.c.max_bars
        if n is not None:
            due = b.fill_bar + n
            if bar == (due if self.p.plan.coc else due - 1):
                return "time_exit"
        return ""

    def _exit(self, b: _Book, bar: int, reason: str) -> None:
        leader = b.protective[0] if b.protective else None
        for o in b.protective:
            self.cancel(o)
        b.exit = self.close(data=b.data, oco=leader)
        b.exit_reason = reason
        b.exit_bar_decided = bar
        self.roles[b.exit.ref] = (b.index, "exit")

    def _protect(self, b: _Book, order, fill_bar: int) -> None:
        c = self.c
        if c.stop_loss is None and c.trailing_stop is None and c.take_profit is None:
            return
        if c.stop_reference == "fill_price":
            ref = order.executed.price
        else:
            ref = b.data.close[fill_bar - (len(self) - 1)]  # the entry-fill bar's close
        size = abs(order.executed.size)
        leader = None
        specs = []
        if b.short:  # a short's protective orders are buys: stop above, take-profit below
            if c.stop_loss is not None:
                specs.append(("stop", dict(exectype=bt.Order.Stop, price=ref * (1.0 + c.stop_loss))))
            if c.trailing_stop is not None:
                specs.append(("trail", dict(exectype=bt.Order.StopTrail, price=ref, trailpercent=c.trailing_stop)))
            if c.take_profit is not None:
                specs.append(("limit", dict(exectype=bt.Order.Limit, price=ref * (1.0 - c.take_profit))))
        else:
            if c.stop_loss is not None:
                specs.append(("stop", dict(exectype=bt.Order.Stop, price=ref * (1.0 - c.stop_loss))))
            if c.trailing_stop is not None:
                specs.append(("trail", dict(exectype=bt.Order.StopTrail, price=ref, trailpercent=c.trailing_stop)))
            if c.take_profit is not None:
                specs.append(("limit", dict(exectype=bt.Order.Limit, price=ref * (1.0 + c.take_profit))))
        protect = self.buy if b.short else self.sell
        if b.short:
            self.short_protected_at.add(len(self) - 1)
        for role, kwargs in specs:
            o = protect(data=b.data, size=size, oco=leader, **kwargs)
            leader = leader or o
            b.protective.append(o)
            self.roles[o.ref] = (b.index, role)

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        asset, role = self.roles[order.ref]
        b = self.books[asset]
        plan: _Plan = self.p.plan
        step = len(self) - 1
        if order.status == order.Completed:
            if role == "entry":
                b.entry = None
                b.fill_bar = self._fill(order, asset, "signal")
                self._protect(b, order, b.fill_bar)
            elif role == "exit":
                b.exit = None
                b.last_exit_bar = self._fill(order, asset, b.exit_reason)
            else:
                if role == "limit" and order.isbuy():
                    self._check_short_take_profit(order, asset, step)
                b.last_exit_bar = self._fill(order, asset, _ROLE_REASON[role])
                b.protective = []
            return
        if order.status == order.Canceled:
            if role in _ROLE_REASON:
                b.protective = [o for o in b.protective if o.ref != order.ref]
                return
            if role == "exit":  # a protective order of its OCO group executed first
                plan.events.append(f"bar {step}: {b.exit_reason} exit decided on bar {b.exit_bar_decided} "
                                   f"cancelled by a stop")
                b.exit = None
                return
        if order.status == order.Margin and role == "entry":
            if step - 1 in self.short_protected_at:
                # checksubmit pseudo-executed a short's protective buys (placed in the previous step) ahead of
                # this entry, each taking its cost from the running cash (bbroker.py:558-583); the reference's
                # submit_check counts the bar's exits and entries only.
                raise Unsupported("[positions] sides", f"bar {step}: stock Backtrader refused asset {asset}'s "
                                  "entry (Margin) in a checksubmit pass that also pseudo-executed a short's "
                                  "protective buys; no behaviour knob counts protective orders in the cash check")
            b.entry = None
            fill_bar = step - 1 if plan.coc else step
            plan.rejections.append(make_rejection(plan.scenario, asset, fill_bar, "buy" if order.isbuy() else "sell",
                                                  abs(order.created.size), "signal"))
            return
        if order.status == order.Margin and order.isbuy() and role != "entry":
            # checksubmit pseudo-executes every new order against the running cash and a copy of the
            # position as the earlier ones leave it (bbroker.py:558-583): a short's second and third
            # protective buys open a long there, and a cover is checked like a buy. No behaviour knob
            # refuses a cover or a protective order (submit_check checks entries only).
            raise Unsupported("[positions] sides", f"bar {step}: stock Backtrader's checksubmit refused the "
                              f"{role} order of asset {asset}'s short (Margin: its pseudo-execution took the "
                              "running cash below 0); no behaviour knob describes a refused cover or stop")
        raise RuntimeError(f"asset {asset}: {role} order {order.ref} ended {order.getstatusname()} at bar {step}")

    def _check_short_take_profit(self, order, asset: int, step: int) -> None:
        """A short's take-profit gapped at the open: the broker caps its slipped price at min(high, level)
        (bbroker.py:903-907, ``pmax = min(phigh, plimit)``) where a long's is capped at its level only
        (bbroker.py:914-916 passes ``plimit``); the profile's ``slippage_cap = "bar"`` mirrors the long rule.
        Refuse the run when the two differ on this fill: the open slipped above the high, the high below the
        level."""
        data, level = order.data, order.created.price
        popen, phigh = data.open[0], data.high[0]
        slipped = self.broker._slip_up(math.inf, popen)
        if popen <= level and phigh < level and slipped > phigh:
            raise Unsupported("[positions] sides", f"bar {step}: asset {asset}'s short take-profit gapped at the "
                              f"open {popen!r}, slipped to {slipped!r} above the bar's high {phigh!r} (below the "
                              f"level {level!r}): stock Backtrader fills at the high; slippage_cap = 'bar' caps "
                              "a gapped take-profit at its level only")

    def stop(self):
        for b in self.books:
            if b.protective and self._position(b) == 0.0:
                raise RuntimeError(f"asset {b.index}: protective orders alive while flat")
            if self._position(b) < 0.0 and self.p.plan.scenario.spec.contract.sides == "long":
                raise RuntimeError(f"asset {b.index}: short position")


# --------------------------------------------------------------------------- rotation


class _StockRotation(_Base):
    def __init__(self):
        plan: _Plan = self.p.plan
        m = plan.scenario.market
        self.close_ = np.asarray(m.close)
        self.weights = np.asarray(m.weights)
        self.rebalance = np.asarray(m.rebalance)
        self.last = m.n_bars - 1
        self.asset_of = {d: j for j, d in enumerate(self.datas)}
        self.open_orders: set[int] = set()

    def next(self):
        bar = self._sample()
        if self.open_orders:
            raise RuntimeError(f"orders {sorted(self.open_orders)} still open at bar {bar}")
        if not self.rebalance[bar] or bar == self.last:
            return
        total = self.broker.getvalue()
        sells, buys = [], []
        for j, d in enumerate(self.datas):
            w = self.weights[bar, j]
            if math.isnan(self.close_[bar, j]) or math.isnan(w):
                continue  # not listed, or no target on this bar
            # The same comparison order_target_value makes (strategy.py:1309-1325).
            current = self.broker.getvalue(datas=[d])
            (sells if w * total < current else buys).append((d, w))
        for d, w in sells + buys:
            o = self.order_target_percent(data=d, target=w)
            if o is not None:
                self.open_orders.add(o.ref)

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        plan: _Plan = self.p.plan
        asset = self.asset_of[order.data]
        self.open_orders.discard(order.ref)
        step = len(self) - 1
        if order.status == order.Completed:
            self._fill(order, asset, "rebalance")
            return
        if order.status == order.Margin and order.isbuy():
            fill_bar = step - 1 if plan.coc else step
            plan.rejections.append(make_rejection(plan.scenario, asset, fill_bar, "buy",
                                                  abs(order.created.size), "rebalance"))
            return
        raise RuntimeError(f"asset {asset}: order {order.ref} ended {order.getstatusname()} at bar {step}")


# -------------------------------------------------------------------------------- run


@dataclass(frozen=True, slots=True)
class StockRun:
    output: Output
    events: tuple[str, ...]  # notable broker decisions (rejections, cancellations), for tests


def simulate_stock(scenario: Scenario) -> StockRun:
    """Run ``scenario`` through stock Backtrader (the Engine door has checked the capabilities)."""
    check_stock(scenario)
    c = scenario.spec.contract
    market = scenario.market
    nums = feed.datenums(market.timestamps)
    plan = _Plan(scenario=scenario, coc=c.fill == "close", bar_of_dt={float(x): i for i, x in enumerate(nums)})
    cerebro = bt.Cerebro()
    feed.add_feeds(cerebro, market, nums)
    cerebro.addstrategy(_StockRotation if c.sizing_mode == "target_weights" else _StockSignals, plan=plan)
    _configure(cerebro, c)
    cerebro.run()
    final_value = cerebro.broker.getvalue()
    equity = _equity(plan, np.asarray(market.close), final_value)
    output = Output(fills=plan.fills, equity=equity, final_value=final_value, rejections=plan.rejections)
    return StockRun(output=output, events=tuple(plan.events))
