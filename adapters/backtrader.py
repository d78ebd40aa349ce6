"""The Backtrader adapter: a scenario run through Backtrader 1.9.78.123's own broker.

Backtrader does the execution: its ``BackBroker`` fills the orders, applies
slippage and commission and keeps cash and positions. This module only feeds
the scenario's bars in, turns the signals and exit rules into orders the way
the contract says, and reads back what the broker did. Per knob (see
``../shared/docs/semantics.md``, "Backtrader 1.9.78.123 recipe"):

* ``fill = "close"``: ``broker.set_coc(True)``; the order placed in ``next()``
  of bar t executes at close[t]. The broker processes it when bar t+1 arrives
  (``BackBroker._try_exec_market``: ``exprice = order.created.pclose``,
  ``dtcoc = order.created.dt``), so the fill's execution datetime is bar t.
* ``fill = "next_open"``: the default broker; an order placed in ``next()`` of
  bar t executes at open[t+1].
* ``fill = "next_close"`` (fixed-size signals): entries and exits are ``Close``
  orders, which the broker executes in its step of bar t+1 at that bar's close
  (``BackBroker._try_exec_close``, bbroker.py:872-896); the broker subclass
  slips that price as a market fill is slipped (the stock broker executes a
  ``Close`` order at the bare close). Protective orders are placed from
  ``notify_order`` as in ``next_open`` mode, and a bar's stops run before its
  ``Close`` fills.
* ``[sizing] mode = "fixed"``: an entry is ``buy(size=size)``; an exit sells
  the whole position (``sell(size=position.size)``).
* ``[sizing] mode = "percent_of_equity"`` / ``"target_value"`` (``close`` and
  ``next_open`` fills): the strategy sizes each entry in ``next()`` of its
  decision bar t, ``fraction * V / close[t]`` or ``value / close[t]``
  (``units = "whole"``: floored; 0 units: no order), and submits
  ``buy(size=q)``; the protective orders and the exit take the entry's size.
  V is the broker's ``getcash()`` plus each position * close[t] in asset
  order (checked against ``getvalue()`` to 1e-12). In ``close`` mode the
  bar's own exits fill at close[t] before its entries, but the broker books
  them one step later: their proceeds are added to the cash as the broker
  will book them (``size * price - fee``, the price from the broker's own
  ``_slip_down`` and the fee from its ``CommInfo``), and each such exit's
  real fill is checked against that price and fee. A buy that does not fit
  after costs is refused by the broker (``Margin``), as in ``fixed`` mode.
* ``fee``: ``setcommission(commission=f)``: percent-of-value commission
  (``COMM_PERC``, ``percabs=True``): ``abs(size) * f * price``.
* ``fixed_fee``, ``per_share``, ``min_fee``: a ``CommInfoBase`` subclass
  overriding ``_getcommission`` (``adapters._backtrader_costs``): the
  percentage term as above, ``+ max(c * size, m)``, ``+ fixed_fee``.
* ``slippage_abs`` a: ``set_slippage_fixed(a, ...)`` when ``slippage`` is 0;
  Backtrader applies ``slip_perc`` or ``slip_fixed``, never both, so with both
  set the broker subclass slips to ``p * (1 + s) + a`` / ``p * (1 - s) - a``
  (``adapters._backtrader_costs.SlipBothMixin``). The cost extras are
  realised on the signal path only; the rotation path refuses them.
* ``slippage``: ``set_slippage_perc(s, slip_open=True, slip_limit=True,
  slip_match=True, slip_out=True)``. ``slip_open`` is what enables slippage on
  Market orders (and on Stop/Limit fills at a gapped open) in both modes;
  ``slip_out`` stops the broker clamping the slipped price to the high/low of
  the bar it processes the order on (in ``close`` mode that is bar t+1, not the
  fill bar; for stops, a slipped price below the low).
* ``set_checksubmit(False)``: orders are accepted at once and the cash check
  happens at execution, at the real fill price. An entry that does not fit
  comes back with status ``Margin``: it is recorded as a rejection (logged,
  and listed by :func:`simulate`), never as a fill. (With the default ``True``
  an order sits in ``submitted`` until the next broker step and ``cancel()``
  silently does nothing to it: ``BackBroker.cancel`` only searches ``pending``,
  bbroker.py:391-395, 547-551.)

Exit rules (every exit is a Backtrader order the broker fills; a short's are the same orders on the buy
side, levels mirrored, see ``[positions] sides`` below):

* ``stop_loss`` p: a sell ``Stop`` at ``ref * (1.0 - p)``; ``take_profit`` q: a
  sell ``Limit`` at ``ref * (1.0 + q)``; ``trailing_stop`` p: a sell
  ``StopTrail(trailpercent=p)`` created at ``price=ref``. The levels use the
  kernel's own float expressions. Together they are one exit group, submitted
  stop-loss, trailing, take-profit (in that queue order):
  - ``close`` mode: as children of the entry (a bracket: ``parent=entry``,
    ``transmit`` on the last), in the same ``next()`` as the entry, so they
    die with the entry if the broker rejects it. The reference is known then:
    close[t], or the fill price close[t] * (1.0 + s) (checked against the real
    fill when it is notified).
  - ``next_open`` mode: from ``notify_order`` when the entry completes
    (reference: the fill price, or ``data.close[0]`` = close of the fill bar),
    linked with ``oco=`` the first of them. The broker first tries them in its
    step of the next bar, so the entry bar is never checked.
* Trailing: the broker itself ratchets a ``StopTrail`` on each bar's close
  after checking it (``BackBroker._try_exec_stop``: ``order.trailadjust(pclose)``),
  which is ``trail_source = "close"``. For ``"high"`` the strategy also calls
  ``order.trailadjust(data.high[0])`` in ``next()`` of each bar after the fill
  bar (after that bar's check, as the contract says).
* ``max_bars`` N: the strategy counts bars from the entry's fill bar and closes
  with a Market sell in ``next()`` of bar fill+N (``close``: fills at its close)
  or fill+N-1 (``next_open``: fills at the open of fill+N). An exit signal on
  that bar makes it a ``signal`` exit.
* Every Market exit (signal or time) first cancels the exit group, so no stop
  is checked on the bar its open exit fills (``next_open``), and no stop can
  fill in the broker step that books a ``close``-mode exit.
* Reasons come from which Backtrader order executed: Stop -> ``stop_loss``,
  StopTrail -> ``trailing_stop``, Limit -> ``take_profit``, Market -> the
  reason it was submitted for.
* ``[positions] sides``: a short entry is ``sell(size)``, its exit
  ``buy(-position)``; the broker's default ``shortcash=True`` credits the
  sale and refuses it only when the cash goes below 0 (bbroker.py:768-788).
  Its exit group: a buy ``Stop`` at ``ref * (1.0 + p)``, a buy ``StopTrail``
  (:class:`_TrailBuyOrder`, ``lwm * (1.0 + p)``, ratcheted down on closes by
  the broker and on lows by the strategy for ``trail_source = "high"``), a
  buy ``Limit`` at ``ref * (1.0 - q)``; the fill-price reference is the
  sale's ``_slip_down`` price.

The broker is :class:`_ContractBroker`, a ``BackBroker`` with these changes,
each where the stock broker's execution model differs from the contract:

* ``_try_exec_limit``: an intrabar Limit fill gets slippage (a sell
  ``ref * (1 + q) * (1 - s)``, a short's buy ``ref * (1 - q) * (1 + s)``);
  the stock broker fills it at the bare limit (bbroker.py:907-908, 917-919).
  A gapped Limit is slipped by the stock code already.
* ``_try_exec_stop``: a group's stop that would fill gives way (stays pending,
  and is cancelled by the OCO/bracket when its sibling fills) when a sibling
  stop stands strictly higher (stop-loss and trailing act as one stop at the
  higher level; a short's buy stops: strictly lower), or when its take-profit
  gapped at the open while the stop itself did not gap (the open comes before
  the intrabar path). First-in-first
  out alone (bbroker.py:933-939 fills a stop whenever ``plow <= pcreated``)
  would fill the stop-loss at its own lower level, and an intrabar stop ahead
  of a gapped take-profit.
* ``_bracketize``: in ``close`` mode the children of an entry are active at
  once in the broker step that books the entry (the entry is dated at the
  previous close); the stock broker activates them one step later
  (bbroker.py:607 queues them in ``_toactivate``, activated at 1178; inactive
  orders are skipped at 1210-1211), which would skip the first bar after the fill.
* ``sell`` / ``buy``: a ``StopTrail`` is a :class:`_TrailSellOrder` (a short's:
  :class:`_TrailBuyOrder`, ``price * (1.0 + p)``), whose ``trailadjust``
  computes the level as ``price * (1.0 - p)`` (the contract's
  ``hwm * (1.0 - p)``); Backtrader's own ``Order.trailadjust`` computes
  ``price - price * p`` (order.py:599, 611), which is 1 ulp off for about a
  quarter of round prices and so flips a fill when the low sits exactly on the
  level, or the label when stop-loss and trailing levels coincide. The ratchet
  (move only upwards) is Backtrader's logic unchanged; the broker still calls
  it with each bar's close (bbroker.py:943-944).
* ``next``: before each step the pending queue is ordered so the step runs in
  the contract's order: ``close`` mode: the previous bar's close fills (Market
  orders) first, exits before entries (by role, which the strategy marks on
  each entry: a cover is a buy, a short sale a sell), by asset, then this
  bar's stops; ``next_open`` mode: the same, this open's fills before the
  bar's stops.
  The stock queue is first-in-first-out by submission, so protective orders,
  submitted bars earlier, would come first. Queue order matters only for the
  cash an entry sees.

Equity is sampled from the broker where its state equals the contract's
definition (value at close[i] after bar i's fills): in ``next_open`` mode the
broker's own ``getvalue()`` in ``next()`` of bar i. In ``close`` mode the
broker books bar i's close fills in its step of bar i+1, and in that same step
also fills bar i+1's stops; the broker records its cash and position sizes
after the last Market (close) fill and before the first stop of the step, and
value[i] is that cash + size * close[i]. The last bar's value is the broker's
``getvalue()`` (no close fill can land on the last bar). Where a step books no
close fill, value[i] must equal the broker's own ``getvalue()`` of bar i: this
is checked on every run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np

from adapters import _backtrader_costs as costs
from adapters import _backtrader_feed as feed
from adapters._backtrader_stock_profile import EVIDENCE, PROFILE

from harness.contract import knob_key
from harness.engines import ANY, Engine, Output, Unsupported, make_fill, make_rejection
from harness.results import Fill
from harness.scenario import Scenario

__all__ = ["Backtrader", "simulate", "Rejection", "BacktraderRun"]


log = logging.getLogger(__name__)

# Contract knobs this adapter realises, and the values it accepts for the enumerated ones.
_SUPPORTED_KNOBS = frozenset({
    "fill", "cash", "sizing_mode", "size", "fraction", "value", "units",
    "fee", "slippage", "fixed_fee", "per_share", "min_fee", "slippage_abs",
    "stop_loss", "take_profit", "stop_reference", "trailing_stop", "trail_source", "max_bars", "sides",
})
_FILL_MODES = ("close", "next_open", "next_close")
_SIZING_MODES = ("fixed", "percent_of_equity", "target_value")
_SIZED_FILL_MODES = ("close", "next_open")  # percent_of_equity / target_value
_STOP_REFERENCES = ("close", "fill_price")
_TRAIL_SOURCES = ("high", "close")

# Exit-group roles: queue order (stop-loss first, take-profit last) and fill reason.
_ROLE_REASON = {"stop_loss": "stop_loss", "trailing_stop": "trailing_stop", "take_profit": "take_profit"}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Rejection:
    """An order the broker refused (not a fill)."""

    asset: str
    bar: int  # bar of the signal that placed the order
    side: str
    size: float
    status: str  # Backtrader's status name, e.g. "Margin"


@dataclass(frozen=True, slots=True)
class BacktraderRun:
    """One run of the signal path: what the broker did, and the orders it refused (with their status)."""

    output: Output
    rejections: tuple[Rejection, ...]
    scenario: Scenario

    @property
    def result(self):
        """The canonical result, as the engine door builds it (for tests that call :func:`simulate`)."""
        from harness.results import build_result

        return build_result(self.scenario, engine="backtrader", framework="backtrader", framework_version="test",
                            contract=self.scenario.spec.contract, fills=self.output.fills, equity=self.output.equity,
                            final_value=self.output.final_value, rejections=self.output.rejections)


# ------------------------------------------------------------------------------ feed


# ---------------------------------------------------------------------------- broker


class _TrailSellOrder(bt.order.SellOrder):
    """A sell StopTrail whose level is ``price * (1.0 - trailpercent)``, the contract's expression.

    Backtrader's ``Order.trailadjust`` (order.py:595-616: ``pamount = price *
    trailpercent; price -= pamount``) computes ``price - price * p``; the ratchet
    below is its logic for a sell (move only upwards), with the contract's arithmetic.
    """

    def trailadjust(self, price):
        level = price * (1.0 - self.trailpercent)
        if level > self.created.price:
            self.created.price = level


class _TrailBuyOrder(bt.order.BuyOrder):
    """A short's buy StopTrail whose level is ``price * (1.0 + trailpercent)`` (the contract's ``lwm * (1 +
    p)``); Backtrader's ratchet for a buy (order.py:605-609: ``price += pamount``, move only downwards)."""

    def trailadjust(self, price):
        level = price * (1.0 + self.trailpercent)
        if level < self.created.price:
            self.created.price = level


class _ExitGroup:
    """One position's protective orders (stop-loss, trailing, take-profit), in queue order."""

    __slots__ = ("orders",)

    def __init__(self):
        self.orders: list = []


class _ContractBroker(costs.SlipBothMixin, bt.brokers.BackBroker):
    """``BackBroker`` plus the contract's exit-group precedence (see the module docstring), and
    percentage and absolute slippage together (:class:`adapters._backtrader_costs.SlipBothMixin`)."""

    def init(self):
        super().init()
        self.asset_of: dict = {}  # data -> asset index (set by the strategy)
        self.next_close = False  # fill = "next_close": Close orders, after the bar's stops
        self.coc_state: tuple[float, dict] | None = None  # close mode: (cash, sizes) after the close fills

    # -- orders --------------------------------------------------------------------

    def sell(self, owner, data, size, **kwargs):
        return self._order(super().sell, _TrailSellOrder, owner, data, size, **kwargs)

    def buy(self, owner, data, size, **kwargs):
        return self._order(super().buy, _TrailBuyOrder, owner, data, size, **kwargs)

    def _order(self, stock, trail_class, owner, data, size, price=None, plimit=None, exectype=None, valid=None,
               tradeid=0, oco=None, trailamount=None, trailpercent=None, parent=None, transmit=True,
               histnotify=False, _checksubmit=True, **kwargs):
        """``BackBroker.buy`` / ``sell`` (``stock``), with a trailing-percent StopTrail of ``trail_class``."""
        if exectype != bt.Order.StopTrail or trailamount:
            return stock(owner, data, size, price=price, plimit=plimit, exectype=exectype, valid=valid,
                         tradeid=tradeid, oco=oco, trailamount=trailamount, trailpercent=trailpercent, parent=parent,
                         transmit=transmit, histnotify=histnotify, _checksubmit=_checksubmit, **kwargs)
        # BackBroker.buy / sell (bbroker.py:647-665) with the order class swapped.
        order = trail_class(owner=owner, data=data, size=size, price=price, pricelimit=plimit, exectype=exectype,
                            valid=valid, tradeid=tradeid, trailamount=trailamount, trailpercent=trailpercent,
                            parent=parent, transmit=transmit, histnotify=histnotify)
        order.addinfo(**kwargs)
        self._ocoize(order, oco)
        return self.submit(order, check=_checksubmit)

    # -- one broker step -----------------------------------------------------------

    def next(self):
        if self.pending:
            # The contract's time order (EXIT_PRECEDENCE): market orders first (the previous close's
            # fills in close mode, this open's in next_open mode), exits before entries (a long's buy or
            # a short sale: the strategy marks them), then every asset's intrabar stops. Stable: a group
            # keeps stop-loss, trailing, take-profit.
            def key(o):
                entry = getattr(o, "is_entry", False)
                if self.next_close:  # every stop (intrabar) before the Close fills
                    return (o.exectype == bt.Order.Close, entry, self.asset_of.get(o.data, 0))
                return (o.exectype != bt.Order.Market, entry, self.asset_of.get(o.data, 0))

            ordered = sorted(self.pending, key=key)
            self.pending.clear()
            self.pending.extend(ordered)
        self.coc_state = None
        super().next()
        if self.p.coc and self.coc_state is None:
            self.coc_state = self._state()

    def _state(self) -> tuple[float, dict]:
        return self.cash, {data: pos.size for data, pos in self.positions.items()}

    def _try_exec(self, order):
        if self.p.coc and self.coc_state is None and order.exectype != bt.Order.Market:
            # Every close fill of the previous bar is booked; this bar's stops come now.
            self.coc_state = self._state()
        super()._try_exec(order)

    def _bracketize(self, order, cancel=False):
        super()._bracketize(order, cancel=cancel)
        if self.p.coc:
            # The parent executed at the previous bar's close: its children guard this bar already.
            while self._toactivate:
                self._toactivate.popleft().activate()

    # -- execution rules -----------------------------------------------------------

    def _try_exec_stop(self, order, popen, phigh, plow, pcreated, pclose):
        group = getattr(order, "exit_group", None)
        if group is not None and self._gives_way(order, group, popen, phigh, plow, pcreated):
            return  # stays pending; the sibling's fill cancels it (OCO / bracket)
        super()._try_exec_stop(order, popen, phigh, plow, pcreated, pclose)

    @staticmethod
    def _gives_way(order, group, popen, phigh, plow, pcreated) -> bool:
        """Whether a group's stop that is reached on this bar leaves the fill to a sibling: a sibling stop
        nearer the price (a long's higher, a short's lower level: one stop), or a take-profit gapped at the
        open while this stop did not gap. A short's buy stop mirrors a long's sell stop."""
        sign = 1.0 if order.issell() else -1.0  # compare a short's prices negated, as the kernel does
        level, open_ = sign * pcreated, sign * popen
        if not (open_ <= level or sign * (plow if sign > 0 else phigh) <= level):
            return False
        for other in group.orders:
            if other is order or not other.alive():
                continue
            if other.exectype in (bt.Order.Stop, bt.Order.StopTrail) and sign * other.created.price > level:
                return True  # one stop at the nearer level: the sibling fills (later in the queue)
            if other.exectype == bt.Order.Limit and open_ > level and open_ >= sign * other.created.price:
                return True  # the take-profit gapped at the open, before this stop was reached
        return False

    def _try_exec_close(self, order, pclose):
        # next_close: the stock broker executes a Close order at the bare close (bbroker.py:879-892); the
        # contract slips it as any market fill. Anything but "the first bar after its creation" is left to
        # the stock code, whose fill then lands on a bar the strategy refuses.
        data = order.data
        if data.datetime[0] > order.created.dt and data.datetime[0] >= order.dteos and not order.pannotated:
            if order.isbuy():
                price = self._slip_up(data.high[0], pclose, doslip=self.p.slip_open)
            else:
                price = self._slip_down(data.low[0], pclose, doslip=self.p.slip_open)
            self._execute(order, ago=0, price=price)
            return
        super()._try_exec_close(order, pclose)

    def _try_exec_limit(self, order, popen, phigh, plow, plimit):
        # A limit reached during the bar: the stock broker fills it at plimit unslipped (bbroker.py:907-908,
        # 917-919); the contract slips it as a stop fill. A gapped limit is slipped by the stock code.
        if order.issell() and popen < plimit <= phigh:
            self._execute(order, ago=0, price=self._slip_down(plow, plimit, lim=True))
        elif order.isbuy() and popen > plimit >= plow:  # a short's take-profit
            self._execute(order, ago=0, price=self._slip_up(phigh, plimit, lim=True))
        else:
            super()._try_exec_limit(order, popen, phigh, plow, plimit)


# -------------------------------------------------------------------------- strategy


@dataclass(slots=True)
class _AssetBook:
    """What the strategy tracks for one asset (its position lives in the broker)."""

    index: int
    data: bt.feed.DataBase
    entries: np.ndarray  # bool per bar
    exits: np.ndarray
    short_entries: np.ndarray  # bool per bar ([positions] sides; all False when long only)
    short_exits: np.ndarray
    short: bool = False  # the current (or pending) position is a short
    entry_order: bt.Order | None = None  # pending entry
    exit_order: bt.Order | None = None  # pending exit (Market)
    group: _ExitGroup | None = None  # live protective orders
    trail: bt.Order | None = None  # the group's StopTrail, if any
    fill_bar: int = -1  # bar of the current position's entry fill
    expected_ref: float | None = None  # close mode: the stop reference the bracket was priced from
    last_exit_bar: int = -1  # bar on which the last exit filled
    expected_exit: tuple[float, float] | None = None  # close mode, sized entries: the exit (price, fee) V counted


@dataclass(slots=True)
class _Plan:
    """Everything the strategy needs, passed in as one parameter."""

    scenario: Scenario
    coc: bool
    bar_of_dt: dict[float, int]
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    refused: list = field(default_factory=list)  # the same rejections in the canonical schema
    broker_value: list[float] = field(default_factory=list)  # broker.getvalue() in next() of bar i
    broker_cash: list[float] = field(default_factory=list)  # broker.getcash() in next() of bar i
    post_fill_value: list[float] = field(default_factory=list)  # close mode: value[i] read at bar i+1
    post_fill_cash: list[float] = field(default_factory=list)  # close mode: the cash value[i] was read from
    coc_booked_at: set[int] = field(default_factory=set)  # close mode: steps that booked a close fill


class _SignalStrategy(bt.Strategy):
    params = (("plan", None),)

    def __init__(self):
        plan: _Plan = self.p.plan
        market = plan.scenario.market
        self.plan = plan
        self.contract = plan.scenario.spec.contract
        c = self.contract
        self.has_stops = c.stop_loss is not None or c.take_profit is not None or c.trailing_stop is not None
        self.last_bar = market.n_bars - 1
        no_shorts = np.zeros_like(market.entries)
        short_entries = market.short_entries if market.short_entries is not None else no_shorts
        short_exits = market.short_exits if market.short_exits is not None else no_shorts
        self.books = [
            _AssetBook(index=j, data=self.datas[j], entries=market.entries[:, j], exits=market.exits[:, j],
                       short_entries=short_entries[:, j], short_exits=short_exits[:, j])
            for j in range(market.n_assets)
        ]
        self.intent: dict[int, tuple[int, int, str, str]] = {}  # order.ref -> (asset, signal bar, role, reason)
        self.bar = -1

    def start(self):
        self.broker.asset_of = {book.data: book.index for book in self.books}

    # -- bar loop -----------------------------------------------------------------

    def next(self):
        self.bar += 1
        bar = self.bar
        if self.plan.bar_of_dt[self.datas[0].datetime[0]] != bar:
            raise RuntimeError(f"Backtrader delivered bar {self.datas[0].datetime[0]} out of step with bar {bar}")
        self._sample_equity(bar)
        for book in self.books:
            # Every Market order placed in next() of bar t is resolved by the broker step of bar t+1.
            if book.entry_order is not None or book.exit_order is not None:
                raise RuntimeError(f"asset {book.index}: an order from bar {bar - 1} is still pending at bar {bar}")
            if book.group is not None and self._position_size(book) == 0.0 and book.fill_bar >= 0:
                raise RuntimeError(f"asset {book.index}: protective orders alive without a position at bar {bar}")
        if bar == self.last_bar:
            return  # nothing decided on the last bar fills
        if self.contract.trailing_stop is not None and self.contract.trail_source == "high":
            for book in self.books:
                if book.trail is not None and book.trail.alive() and bar > book.fill_bar >= 0:
                    # after this bar's check, as the broker does with close; a short's lwm falls to the low
                    book.trail.trailadjust(book.data.low[0] if book.short else book.data.high[0])
        self._signal_orders(bar)

    def _sample_equity(self, bar: int) -> None:
        broker = self.broker
        self.plan.broker_value.append(broker.getvalue())
        self.plan.broker_cash.append(broker.getcash())
        if self.plan.coc and bar > 0:
            # State after bar-1's close fills (booked in this bar's broker step before its
            # stops); value it at close[bar-1].
            cash, sizes = broker.coc_state
            value = cash
            for book in self.books:
                size = sizes.get(book.data, 0.0)
                if size:
                    value += size * book.data.close[-1]
            self.plan.post_fill_value.append(value)
            self.plan.post_fill_cash.append(cash)

    def _signal_orders(self, bar: int) -> None:
        # Exits (signal or time) first, then entries; the broker orders its queue by asset.
        exiting = []
        for book in self.books:
            if self._position_size(book) != 0.0:
                reason = self._exit_reason(book, bar)
                if reason is not None:
                    self._submit_exit(book, bar, reason)
                    exiting.append(book)
        entering = [book for book in self.books
                    if (book.entries[bar] or book.short_entries[bar]) and self._position_size(book) == 0.0
                    and not (self.plan.coc and book.last_exit_bar == bar)]  # close: no re-entry on an exit bar
        if not entering:
            return
        value = self._entry_value(exiting) if self.contract.sizing_mode == "percent_of_equity" else 0.0
        for book in entering:
            size = self._entry_units(book, value)
            if size > 0.0:  # an entry of 0 units (whole units) places no order
                self._submit_entry(book, bar, size, short=bool(book.short_entries[bar]))

    def _entry_value(self, exiting: list[_AssetBook]) -> float:
        """``percent_of_equity``'s V: cash + each position * close[t] in asset order, after the bar's exits.

        The broker's cash and positions in ``next()`` of bar t are those after every fill up to this
        bar's stops. ``next_open``: this bar's exits fill at the next open, so that is the state V is
        taken from (checked against ``getvalue()``). ``close``: this bar's exits fill at close[t] in the
        broker's next step, before the entries; their proceeds are added here as the broker will book
        them (the broker's own slipped price and commission for the exit), and the fill is checked
        against them when it comes.
        """
        broker = self.broker
        cash = broker.getcash()
        sold = set()
        if self.plan.coc:
            for book in exiting:  # asset order
                size = self._position_size(book)
                if size < 0.0:  # a cover, a buy (the kernel's _cover)
                    price = broker._slip_up(math.inf, book.data.close[0])
                    fee = broker.getcommissioninfo(book.data).getcommission(-size, price)
                    cash = cash - (-size * price + fee)
                else:
                    price = broker._slip_down(-math.inf, book.data.close[0])
                    fee = broker.getcommissioninfo(book.data).getcommission(-size, price)
                    cash = cash + size * price - fee
                book.expected_exit = (price, fee)
                sold.add(book.index)
        value = cash
        for book in self.books:
            size = self._position_size(book)
            if size != 0.0 and book.index not in sold:
                value += size * book.data.close[0]
        if not sold:
            broker_value = broker.getvalue()
            if abs(value - broker_value) > 1e-12 * abs(broker_value):
                raise RuntimeError(f"value {value!r} != broker value {broker_value!r}")
        return value

    def _entry_units(self, book: _AssetBook, value: float) -> float:
        """The units an entry decided at this bar's close buys (``harness.contract``: ``[sizing]``)."""
        c = self.contract
        if c.sizing_mode == "fixed":
            return c.size
        close = book.data.close[0]
        q = c.fraction * value / close if c.sizing_mode == "percent_of_equity" else c.value / close
        if c.units == "whole":
            q = float(math.floor(q))
        return q

    def _exit_reason(self, book: _AssetBook, bar: int) -> str | None:
        if (book.short_exits if book.short else book.exits)[bar]:
            return "signal"
        n = self.contract.max_bars
        if n is not None:
            due = book.fill_bar + n  # the bar whose close (close) or open (next_open) the time exit fills at
            if (self.plan.coc and bar == due) or (not self.plan.coc and bar + 1 == due):
                return "time_exit"
        return None

    def _position_size(self, book: _AssetBook) -> float:
        # Look the position up without creating it: an unlisted asset (NaN close) must
        # not enter the broker's valuation.
        pos = self.broker.positions.get(book.data)
        return 0.0 if pos is None else pos.size

    def _market(self):
        """The order type of a signal's entry or exit: ``Close`` (next_close), else ``Market``."""
        return bt.Order.Close if self.contract.fill == "next_close" else bt.Order.Market

    def _submit_entry(self, book: _AssetBook, bar: int, size: float, short: bool) -> None:
        bracket = self.plan.coc and self.has_stops
        # a short entry is a plain sell: BackBroker's default shortcash=True credits its proceeds
        order = (self.sell if short else self.buy)(data=book.data, size=size, exectype=self._market(),
                                                   transmit=not bracket)
        order.is_entry = True  # the broker runs a bar's exits before its entries
        book.entry_order = order
        book.short = short
        self.intent[order.ref] = (book.index, bar, "entry", "signal")
        if bracket:
            # close mode: the exit group rides on the entry as its bracket children; the
            # reference is close[t] or the fill price the broker will compute from it.
            close = book.data.close[0]
            # the fill price: the broker's own slipped close (p * (1 + s), + a with slippage_abs; a short
            # sale p * (1 - s) - a)
            if self.contract.stop_reference == "close":
                ref = close
            else:
                ref = self.broker._slip_down(-math.inf, close) if short else self.broker._slip_up(math.inf, close)
            book.expected_ref = ref
            self._submit_exit_group(book, bar, ref, size, parent=order)

    def _submit_exit_group(self, book: _AssetBook, bar: int, ref: float, size: float, parent=None) -> None:
        """Stop-loss, trailing and take-profit orders for the position, in that queue order: sells for a
        long, buys for a short (levels mirrored: stop-loss ref * (1 + p), take-profit ref * (1 - q))."""
        c = self.contract
        side = -1.0 if book.short else 1.0
        specs = []
        if c.stop_loss is not None:
            specs.append(("stop_loss", dict(exectype=bt.Order.Stop, price=ref * (1.0 - side * c.stop_loss))))
        if c.trailing_stop is not None:
            specs.append(("trailing_stop", dict(exectype=bt.Order.StopTrail, price=ref, trailpercent=c.trailing_stop)))
        if c.take_profit is not None:
            specs.append(("take_profit", dict(exectype=bt.Order.Limit, price=ref * (1.0 + side * c.take_profit))))
        group = _ExitGroup()
        close_position = self.buy if book.short else self.sell
        for k, (role, kwargs) in enumerate(specs):
            if parent is not None:
                link = dict(parent=parent, transmit=k == len(specs) - 1)
            else:
                link = dict(oco=group.orders[0] if group.orders else None)
            order = close_position(data=book.data, size=size, **kwargs, **link)
            order.exit_group = group
            group.orders.append(order)
            self.intent[order.ref] = (book.index, bar, role, _ROLE_REASON[role])
            if role == "trailing_stop":
                book.trail = order
        book.group = group

    def _cancel_exit_group(self, book: _AssetBook) -> None:
        if book.group is not None:
            for order in book.group.orders:
                self.cancel(order)  # immediate (checksubmit off); a no-op for an order already gone
        book.group = None
        book.trail = None

    def _submit_exit(self, book: _AssetBook, bar: int, reason: str) -> None:
        self._cancel_exit_group(book)
        size = self._position_size(book)
        if size < 0.0:  # cover the short
            order = self.buy(data=book.data, size=-size, exectype=self._market())
        else:
            order = self.sell(data=book.data, size=size, exectype=self._market())
        book.exit_order = order
        self.intent[order.ref] = (book.index, bar, "exit", reason)

    # -- broker events ------------------------------------------------------------

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        asset, signal_bar, role, reason = self.intent[order.ref]
        book = self.books[asset]
        if order.status == order.Completed:
            bar = self._record_fill(order, book, signal_bar, role, reason)
            if role == "entry":
                book.entry_order = None
                book.fill_bar = bar
                self._on_entry_filled(book, order)
            else:
                if role == "exit":
                    book.exit_order = None
                else:  # a protective order: the OCO / bracket has cancelled its siblings
                    book.group = None
                    book.trail = None
                book.last_exit_bar = bar
            return
        if order.status == order.Canceled and role in _ROLE_REASON:
            return  # a protective order cancelled by its group, an exit, or a rejected entry
        if order.status in (order.Margin, order.Rejected, order.Canceled, order.Expired):
            if role != "entry":
                raise RuntimeError(f"asset {asset}: {role} order from bar {signal_bar} ended {order.getstatusname()}")
            book.entry_order = None
            book.group = None
            book.trail = None
            rejection = Rejection(asset=self.plan.scenario.market.assets[asset], bar=signal_bar,
                                  side="buy" if order.isbuy() else "sell", size=float(order.created.size),
                                  status=order.getstatusname())
            self.plan.rejections.append(rejection)
            fill_bar = signal_bar if self.plan.coc else signal_bar + 1  # the bar it would have filled on
            self.plan.refused.append(make_rejection(self.plan.scenario, asset, fill_bar, side=rejection.side,
                                                    size=rejection.size, reason=reason))
            log.debug("%s: %s", self.plan.scenario.name, rejection)
            return
        raise RuntimeError(f"asset {asset}: unexpected order status {order.getstatusname()} (partial fill?)")

    def _record_fill(self, order, book: _AssetBook, signal_bar: int, role: str, reason: str) -> int:
        bits = order.executed.exbits
        if len(bits) != 1:
            raise RuntimeError(f"order {order.ref} executed in {len(bits)} bits; partial fills are not in the contract")
        bit = bits[-1]
        bar = self.plan.bar_of_dt[bit.dt]
        step = len(book.data) - 1  # the broker step that booked it
        if role in ("entry", "exit"):
            expected = signal_bar if self.plan.coc else signal_bar + 1
            if self.plan.coc:
                self.plan.coc_booked_at.add(step)
        else:
            expected = step  # a stop fills on the bar the broker checked it against
        if bar != expected:
            raise RuntimeError(f"{role} order from bar {signal_bar} filled at bar {bar}, expected {expected}")
        if role == "exit" and book.expected_exit is not None:
            if (bit.price, bit.comm) != book.expected_exit:
                raise RuntimeError(f"asset {book.index}: exit filled at {(bit.price, bit.comm)!r}, the entries "
                                   f"were sized from {book.expected_exit!r}")
            book.expected_exit = None
        self.plan.fills.append(make_fill(
            self.plan.scenario, book.index, bar,
            side="buy" if order.isbuy() else "sell",
            size=abs(bit.size), price=bit.price, fee=bit.comm, reason=reason,
        ))
        return bar

    def _on_entry_filled(self, book: _AssetBook, order) -> None:
        """Arm the exit rules for the new position (stops are first checked on the next bar)."""
        if not self.has_stops:
            return
        price = order.executed.exbits[-1].price
        if self.plan.coc:
            # The bracket children went in with the entry; they were priced from this reference.
            ref = book.data.close[-1] if self.contract.stop_reference == "close" else price
            if ref != book.expected_ref:
                raise RuntimeError(f"asset {book.index}: stop reference {book.expected_ref!r} != {ref!r}")
            return
        ref = book.data.close[0] if self.contract.stop_reference == "close" else price
        self._submit_exit_group(book, book.fill_bar, ref, abs(order.executed.exbits[-1].size))


# ------------------------------------------------------------------------------- run


def _check_supported(scenario: Scenario) -> None:
    contract = scenario.spec.contract
    knobs = contract.as_dict()
    unknown = sorted(set(knobs) - _SUPPORTED_KNOBS)
    if unknown:
        raise NotImplementedError(f"{scenario.name}: the Backtrader adapter does not implement knob(s) {unknown}")
    if contract.fill not in _FILL_MODES:
        raise NotImplementedError(f"{scenario.name}: fill mode {contract.fill!r}")
    if contract.sizing_mode not in _SIZING_MODES:
        raise NotImplementedError(f"{scenario.name}: sizing mode {contract.sizing_mode!r}")
    if contract.sizing_mode != "fixed" and contract.fill not in _SIZED_FILL_MODES:
        raise NotImplementedError(f"{scenario.name}: {contract.sizing_mode} with fill {contract.fill!r}")
    if contract.stop_reference not in _STOP_REFERENCES:
        raise NotImplementedError(f"{scenario.name}: stop_reference {contract.stop_reference!r}")
    if contract.trail_source not in _TRAIL_SOURCES:
        raise NotImplementedError(f"{scenario.name}: trail_source {contract.trail_source!r}")
    for name in ("stop_loss", "trailing_stop"):
        value = getattr(contract, name)
        if value is not None and not (0.0 < value < 1.0):
            raise ValueError(f"{scenario.name}: {name} must be in (0, 1), got {value!r}")
    if contract.take_profit is not None and not (math.isfinite(contract.take_profit) and contract.take_profit > 0.0):
        raise ValueError(f"{scenario.name}: take_profit must be finite and positive, got {contract.take_profit!r}")
    n = contract.max_bars
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"{scenario.name}: max_bars must be an integer >= 1, got {n!r}")
    market = scenario.market
    if np.any(market.entries & market.exits):
        raise ValueError(f"{scenario.name}: an entry and an exit on the same bar of the same asset is invalid input")
    signals = market.entries | market.exits
    if market.short_entries is not None:
        if np.any(market.short_entries & (market.short_exits | market.entries)):
            raise ValueError(f"{scenario.name}: a short entry with a short exit or a long entry on the same bar "
                             "of the same asset is invalid input")
        signals = signals | market.short_entries | market.short_exits
    unlisted = np.isnan(market.close)
    if np.any(signals & unlisted):
        raise ValueError(f"{scenario.name}: a signal on a bar where the asset has no price")
    # As the loader: NaN bars only before an asset lists (a gap would void a time exit in the kernel).
    listed_before = np.maximum.accumulate(~unlisted, axis=0)
    if np.any(unlisted & listed_before):
        raise ValueError(f"{scenario.name}: an asset has no price on a bar after it listed")


def simulate(scenario: Scenario) -> BacktraderRun:
    """Run ``scenario`` through Backtrader; the result plus the orders the broker rejected."""
    _check_supported(scenario)
    contract = scenario.spec.contract
    market = scenario.market
    coc = contract.fill == "close"

    datenums = feed.datenums(market.timestamps)
    plan = _Plan(scenario=scenario, coc=coc, bar_of_dt={float(x): i for i, x in enumerate(datenums)})

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = _ContractBroker()
    feed.add_feeds(cerebro, market, datenums)
    cerebro.addstrategy(_SignalStrategy, plan=plan)

    broker = cerebro.broker
    feed.configure_broker(broker, contract)
    broker.next_close = contract.fill == "next_close"

    cerebro.run(stdstats=False)
    final_value = broker.getvalue()

    n = market.n_bars
    if len(plan.broker_value) != n:
        raise RuntimeError(f"strategy saw {len(plan.broker_value)} bars of {n}")
    if coc:
        if len(plan.post_fill_value) != n - 1:
            raise RuntimeError("close-mode equity sampling is out of step")
        equity = plan.post_fill_value + [plan.broker_value[-1]]
        for i in range(n - 1):
            if i + 1 in plan.coc_booked_at:
                continue
            # The step of bar i+1 booked no close fill: the sample was taken before anything in
            # that step moved the cash, and must be the broker's own state and value of bar i.
            if plan.post_fill_cash[i] != plan.broker_cash[i]:
                raise RuntimeError(f"bar {i}: sampled cash {plan.post_fill_cash[i]!r} != "
                                   f"broker cash {plan.broker_cash[i]!r}")
            if not math.isclose(equity[i], plan.broker_value[i], rel_tol=1e-12, abs_tol=0.0):
                raise RuntimeError(f"bar {i}: sampled value {equity[i]!r} != broker value {plan.broker_value[i]!r}")
    else:
        equity = list(plan.broker_value)
    if equity[-1] != final_value:
        raise RuntimeError(f"last-bar value {equity[-1]!r} != broker final value {final_value!r}")

    output = Output(fills=plan.fills, equity=equity, final_value=final_value, rejections=plan.refused)
    return BacktraderRun(output=output, rejections=tuple(plan.rejections), scenario=scenario)


_EXPRESSED = {"fill": ("close", "next_open"), "cash": ANY, "sizing_mode": ("fixed", "target_weights"), "size": ANY,
              "fee": ANY, "slippage": ANY, "stop_loss": ANY, "take_profit": ANY,
              "stop_reference": ("close", "fill_price"), "trailing_stop": ANY, "max_bars": ANY}


class Backtrader(Engine):
    """Backtrader's ``BackBroker`` fills every order.

    ``contract`` mode: this module (see its docstring for each knob). ``stock`` mode:
    :mod:`adapters._backtrader_stock`, the framework as its documentation says to use
    it, described by :data:`adapters._backtrader_stock_profile.PROFILE`.
    """

    name = "backtrader"
    framework = "backtrader"
    capabilities = {
        "contract": {**_EXPRESSED, "fill": ("close", "next_open", "next_close"), "units": ("fractional", "whole"),
                     "trail_source": ("high", "close"),
                     "sizing_mode": ("fixed", "target_weights", "percent_of_equity", "target_value"),
                     "fraction": ANY, "value": ANY,
                     "fixed_fee": ANY, "per_share": ANY, "min_fee": ANY, "slippage_abs": ANY, "sides": ANY},
        # order_target_percent sizes whole units only; a StopTrail ratchets on closes only
        "stock": {**_EXPRESSED, "units": ("fractional", "whole"), "trail_source": ("close",),
                  "sizing_mode": ("fixed", "target_weights", "percent_of_equity"), "fraction": ANY,
                  "fixed_fee": ANY, "per_share": ANY, "min_fee": ANY, "sides": ANY},
    }
    profile = PROFILE
    profile_evidence = EVIDENCE
    witness = {
        "contract": {
            "fill": ("configured", "set_coc(True) fills a Market order at the signal bar's close; next_open is the default broker; next_close: Close orders, slipped by the broker subclass"),
            "cash": ("configured", "set_cash; set_checksubmit(False) checks the cash at execution, at the fill price"),
            "sizing_mode": ("computed", "fixed: buy(size); target_weights: the adapter sizes each order from the broker's state and submits them in the contract's sequence; percent_of_equity, target_value: the strategy sizes each entry at the decision close"),
            "size": ("native", "buy(size=size)"),
            "fraction": ("computed", "the strategy buys fraction * V / close, V from the broker's getcash() and positions in next() (checked against getvalue()); close mode adds the bar's exits as the broker books them (its _slip_down and getcommission, checked at the fill)"),
            "value": ("computed", "the strategy buys value / close (close of the decision bar in next())"),
            "units": ("computed", "the adapter floors whole-unit rotation orders and sized entries"),
            "fee": ("configured", "setcommission(commission=f): percent of value"),
            "slippage": ("configured", "set_slippage_perc(s, slip_open=True, slip_out=True, ...)"),
            "fixed_fee": ("configured", "a CommInfoBase subclass overriding _getcommission (broker.addcommissioninfo): percent term + fixed_fee"),
            "per_share": ("configured", "the same CommInfoBase subclass: percent term + max(c * size, min_fee)"),
            "min_fee": ("configured", "the same CommInfoBase subclass: the minimum of the per-share term only"),
            "slippage_abs": ("assisted", "slippage = 0: set_slippage_fixed(a) (configured); with slippage > 0 the broker subclass's _slip_up/_slip_down give p * (1 + s) + a, since Backtrader applies slip_perc or slip_fixed, never both"),
            "stop_loss": ("assisted", "a Stop order at ref*(1-p); a broker subclass lets it give way to a higher trailing stop or a gapped take-profit"),
            "take_profit": ("assisted", "a Limit order at ref*(1+q); the broker subclass slips its intrabar fill"),
            "stop_reference": ("assisted", "the strategy prices the exit orders from the entry bar's close or fill price"),
            "trailing_stop": ("assisted", "a StopTrail order; its level uses the contract's product arithmetic (order subclass)"),
            "trail_source": ("assisted", "close: the broker ratchets on closes; high: the strategy calls trailadjust(high)"),
            "max_bars": ("computed", "the strategy counts bars from the entry fill and submits a Market exit"),
            "sides": ("native", "a short entry is sell(size), a cover buy(size); BackBroker's default shortcash=True credits the proceeds and refuses a sale only when cash + proceeds - commission < 0 (bbroker.py:768-788), a cover always fills; the exit group is the same orders on the buy side (their precedence assisted as for a long)"),
            "stop_resolution": ("assisted", "higher_level: the broker subclass makes the stop farther from the price give way"),
            "gaps_first": ("assisted", "true: the broker subclass withholds a stop when the take-profit gapped"),
            "stops_from": ("assisted", "after_fill: the broker subclass activates close-mode bracket children at once"),
            "slip_take_profit": ("assisted", "true: the broker subclass slips intrabar Limit fills"),
            "rebalance_sequence": ("computed", "value_change: the adapter submits the orders in that sequence"),
        },
        "stock": {
            "fill": ("configured", "set_coc(True) for close fills (Cheat-On-Close); next_open is the default broker"),
            "cash": ("configured", "set_cash; the stock broker's own cash checks"),
            "sizing_mode": ("native", "fixed: buy(size=...); target_weights: order_target_percent"),
            "size": ("native", "buy(size=size)"),
            "units": ("native", "order_target_percent sizes whole units (CommInfoBase.getsize)"),
            "fee": ("configured", "setcommission(commission=f)"),
            "fixed_fee": ("configured", "a CommInfoBase subclass overriding _getcommission (User Defined Commissions): percent term + fixed_fee"),
            "per_share": ("configured", "the same CommInfoBase subclass: percent term + max(c * size, min_fee)"),
            "min_fee": ("configured", "the same CommInfoBase subclass: the minimum of the per-share term only"),
            "slippage": ("configured", "set_slippage_perc(s) with its defaults"),
            "stop_loss": ("native", "a Stop order at ref*(1-p), placed when the entry completes"),
            "take_profit": ("native", "a Limit order at ref*(1+q), OCO with the stops"),
            "stop_reference": ("native", "data.close of the fill bar, or order.executed.price"),
            "trailing_stop": ("native", "a StopTrail(trailpercent=p) order"),
            "trail_source": ("native", "close: the broker ratchets a StopTrail on each close"),
            "max_bars": ("computed", "the strategy counts bars and closes the position"),
            "stop_resolution": ("native", "queue: the broker tries the OCO group oldest first"),
            "gaps_first": ("native", "false: each order tried completely, the take-profit Limit last"),
            "trail_arithmetic": ("native", "difference: Order.trailadjust computes price - price * p"),
            "stops_from": ("native", "after_booking: orders placed in notify_order are accepted a step later"),
            "early_exit": ("native", "after_stops: cancel() cannot reach an order still in submitted"),
            "fill_ref": ("native", "size_weighted: order.executed.price is (size * price) / size"),
            "submit_check": ("native", "true: checksubmit pseudo-executes new orders at their creation price"),
            "slip_take_profit": ("native", "false: an intrabar Limit fills at its price"),
            "slippage_cap": ("native", "bar: slip_match caps slipped prices at the bar's high/low"),
            "whole_rounding": ("native", "value_floor_div: order_target_value sizes int(value // price)"),
            "rebalance_sequence": ("computed", "sells_then_assets: the strategy submits sells first, each group in asset order"),
            "percent_base": ("native", "cash: cerebro.addsizer(PercentSizer(Int), percents=100 * p) sizes from "
                                       "broker.getcash()"),
            "fraction": ("native", "PercentSizer's percents = 100 * p"),
        },
    }

    def check(self, scenario: Scenario, contract, mode: str) -> None:
        if mode == "stock":
            if contract.sizing_mode == "target_weights" and contract.units == "fractional":
                raise Unsupported(knob_key("units"), "order_target_percent -> order_target_value -> getsize returns "
                                                     "int(...) (comminfo.py:192-197): whole units only")
            if contract.sizing_mode == "target_weights" and costs.has_commission_extras(contract):
                extras = [n for n in costs.COST_EXTRAS if getattr(contract, n) != 0.0]
                raise Unsupported(knob_key(extras[0]), "stock mode takes the commission extras on signal "
                                                       "scenarios only")
            if contract.fill == "close" and contract.has_exit_rules and scenario.market.n_assets > 1:
                # Found by multi_signals_large (the run errs after about 20 minutes): read the equity first.
                raise Unsupported("scenario assets", f"{scenario.market.n_assets} assets with exit rules, close fills: "
                                  "the broker books a bar's close fills (coc) in the next bar's step together with "
                                  "other assets' stop fills of that bar, so the stock strategy cannot read the equity "
                                  "of the bar between (_backtrader_stock.py _equity)")
            return
        if contract.fill == "next_close" and contract.sizing_mode != "fixed":
            raise Unsupported(knob_key("fill"), "next_close: fixed-size signal scenarios only (the rotation path "
                                                "fills at the close or the next open; sized entries are "
                                                "realised for close and next_open fills)")
        if contract.sizing_mode == "target_weights":
            extras = [name for name in costs.COST_EXTRAS if getattr(contract, name) != 0.0]
            if extras:
                raise Unsupported(knob_key(extras[0]), "the rotation path realises fee and slippage only")

    def run_signals(self, scenario: Scenario, contract, mode: str) -> Output:
        if mode == "stock":
            from adapters._backtrader_stock import simulate_stock

            return simulate_stock(scenario).output
        return simulate(scenario).output

    def run_rotation(self, scenario: Scenario, contract, mode: str) -> Output:
        if mode == "stock":
            from adapters._backtrader_stock import simulate_stock

            return simulate_stock(scenario).output
        from adapters._backtrader_rotation import run_rotation

        return run_rotation(scenario)
