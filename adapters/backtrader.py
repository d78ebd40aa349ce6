"""The Backtrader adapter: a scenario run through Backtrader 1.9.78.123's own broker.

Backtrader does the execution: its ``BackBroker`` fills the orders, applies
slippage and commission and keeps cash and positions. This module only feeds
the scenario's bars in, turns the signals into orders the way the contract
says, and reads back what the broker did. Per knob (see
``../shared/docs/semantics.md``, "Backtrader 1.9.78.123 recipe"):

* ``fill = "close"``: ``broker.set_coc(True)``; the order placed in ``next()``
  of bar t executes at close[t]. The broker processes it when bar t+1 arrives
  (``BackBroker._try_exec_market``: ``exprice = order.created.pclose``,
  ``dtcoc = order.created.dt``), so the fill's execution datetime is bar t.
* ``fill = "next_open"``: the default broker; an order placed in ``next()`` of
  bar t executes at open[t+1].
* ``[sizing] mode = "fixed"``: an entry is ``buy(size=size)``; an exit sells
  the whole position (``sell(size=position.size)``).
* ``fee``: ``setcommission(commission=f)``: percent-of-value commission
  (``COMM_PERC``, ``percabs=True``): ``abs(size) * f * price``.
* ``slippage``: ``set_slippage_perc(s, slip_open=True, slip_limit=True,
  slip_match=True, slip_out=True)``. ``slip_open`` is what enables slippage on
  Market orders in both modes; ``slip_out`` stops the broker clamping the
  slipped price to the high/low of the bar it processes the order on (in
  ``close`` mode that is bar t+1, not the fill bar).
* ``set_checksubmit(False)``: orders are accepted at once and the cash check
  happens at execution, at the real fill price. An entry that does not fit
  comes back with status ``Margin``: it is recorded as a rejection (logged,
  and listed by :func:`simulate`), never as a fill.

Equity is sampled from the broker where its state equals the contract's
definition (value at close[i] after bar i's fills): in ``next_open`` mode the
broker's own ``getvalue()`` in ``next()`` of bar i; in ``close`` mode the
broker books bar i's fills when bar i+1 arrives, so value[i] is read in
``next()`` of bar i+1 as broker cash + position size * close[i], and the last
bar's value is the broker's ``getvalue()`` (no fill can land on the last bar).

Extension points (not implemented yet): stop-loss / take-profit / trailing /
time exits hang off :class:`_AssetBook` (protective orders submitted from
``_on_entry_filled``, exits through ``_submit_exit``); rotation replaces
``_signal_orders`` (sells are already submitted before buys).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version

import backtrader as bt
import numpy as np

from harness.engines import build_result, make_fill
from harness.results import Fill, RunResult
from harness.scenario import Scenario

__all__ = ["ENGINE", "FRAMEWORK", "framework_version", "run", "simulate", "Rejection", "BacktraderRun"]

ENGINE = "backtrader"
FRAMEWORK = "backtrader"

log = logging.getLogger(__name__)

# Contract knobs this adapter realises, and the values it accepts for the enumerated ones.
_SUPPORTED_KNOBS = frozenset({"fill", "cash", "sizing_mode", "size", "fee", "slippage"})
_FILL_MODES = ("close", "next_open")
_SIZING_MODES = ("fixed",)


def framework_version() -> str:
    return version("backtrader")


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
    result: RunResult
    rejections: tuple[Rejection, ...]


# ------------------------------------------------------------------------------ feed


def _datenums(timestamps: tuple[str, ...]) -> np.ndarray:
    """Backtrader's float datetimes for the scenario's bar grid, strictly increasing."""
    nums = np.empty(len(timestamps))
    for i, text in enumerate(timestamps):
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is not None:
            dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
        nums[i] = bt.date2num(dt)
    if not np.all(np.diff(nums) > 0.0):
        raise ValueError("timestamps do not map to strictly increasing Backtrader datetimes")
    return nums


class _ArrayFeed(bt.feed.DataBase):
    """One asset's column of the scenario's (n_bars, n_assets) arrays, bar by bar.

    Every feed carries every bar of the grid, so all feeds advance together and
    bar i is the i-th bar of each. Bars before an asset lists are NaN (the
    strategy never touches the asset there).
    """

    params = (("columns", None),)  # dict: datetime, open, high, low, close, volume -> 1-D float64

    def start(self):
        super().start()
        self._i = 0
        self._n = len(self.p.columns["datetime"])

    def _load(self):
        i = self._i
        if i >= self._n:
            return False
        cols = self.p.columns
        lines = self.lines
        lines.datetime[0] = cols["datetime"][i]
        lines.open[0] = cols["open"][i]
        lines.high[0] = cols["high"][i]
        lines.low[0] = cols["low"][i]
        lines.close[0] = cols["close"][i]
        lines.volume[0] = cols["volume"][i]
        lines.openinterest[0] = 0.0
        self._i = i + 1
        return True


# -------------------------------------------------------------------------- strategy


@dataclass(slots=True)
class _AssetBook:
    """What the strategy tracks for one asset (its position lives in the broker)."""

    index: int
    data: bt.feed.DataBase
    entries: np.ndarray  # bool per bar
    exits: np.ndarray
    entry_order: bt.Order | None = None  # pending entry
    exit_order: bt.Order | None = None  # pending exit


@dataclass(slots=True)
class _Plan:
    """Everything the strategy needs, passed in as one parameter."""

    scenario: Scenario
    coc: bool
    bar_of_dt: dict[float, int]
    fills: list[Fill] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    broker_value: list[float] = field(default_factory=list)  # broker.getvalue() in next() of bar i
    post_fill_value: list[float] = field(default_factory=list)  # close mode: value[i] read at bar i+1
    fills_booked_at: set[int] = field(default_factory=set)  # bars in whose broker step a fill was booked


class _SignalStrategy(bt.Strategy):
    params = (("plan", None),)

    def __init__(self):
        plan: _Plan = self.p.plan
        market = plan.scenario.market
        self.plan = plan
        self.contract = plan.scenario.spec.contract
        self.last_bar = market.n_bars - 1
        self.books = [
            _AssetBook(index=j, data=self.datas[j], entries=market.entries[:, j], exits=market.exits[:, j])
            for j in range(market.n_assets)
        ]
        self.book_of_data = {id(b.data): b for b in self.books}
        self.intent: dict[int, tuple[int, int, str, str]] = {}  # order.ref -> (asset, signal bar, role, reason)
        self.bar = -1

    # -- bar loop -----------------------------------------------------------------

    def next(self):
        self.bar += 1
        bar = self.bar
        if self.plan.bar_of_dt[self.datas[0].datetime[0]] != bar:
            raise RuntimeError(f"Backtrader delivered bar {self.datas[0].datetime[0]} out of step with bar {bar}")
        self._sample_equity(bar)
        for book in self.books:
            # Every order placed in next() of bar t is resolved by the broker step of bar t+1.
            if book.entry_order is not None or book.exit_order is not None:
                raise RuntimeError(f"asset {book.index}: an order from bar {bar - 1} is still pending at bar {bar}")
        if bar == self.last_bar:
            return  # a signal on the last bar never fills
        self._signal_orders(bar)

    def _sample_equity(self, bar: int) -> None:
        broker = self.broker
        self.plan.broker_value.append(broker.getvalue())
        if self.plan.coc and bar > 0:
            # The broker step of this bar booked bar-1's close fills: cash and positions now
            # are the state after bar-1's fills; value it at close[bar-1].
            value = broker.getcash()
            for book in self.books:
                size = broker.positions[book.data].size if book.data in broker.positions else 0.0
                if size:
                    value += size * book.data.close[-1]
            self.plan.post_fill_value.append(value)

    def _signal_orders(self, bar: int) -> None:
        # Exits first, then entries: sells go before buys on a bar.
        for book in self.books:
            if book.exits[bar] and self._position_size(book) > 0.0:
                self._submit_exit(book, bar, "signal")
        for book in self.books:
            if book.entries[bar] and self._position_size(book) == 0.0:
                self._submit_entry(book, bar)

    def _position_size(self, book: _AssetBook) -> float:
        # Look the position up without creating it: an unlisted asset (NaN close) must
        # not enter the broker's valuation.
        pos = self.broker.positions.get(book.data)
        return 0.0 if pos is None else pos.size

    def _submit_entry(self, book: _AssetBook, bar: int) -> None:
        order = self.buy(data=book.data, size=self.contract.size, exectype=bt.Order.Market)
        book.entry_order = order
        self.intent[order.ref] = (book.index, bar, "entry", "signal")

    def _submit_exit(self, book: _AssetBook, bar: int, reason: str) -> None:
        size = self._position_size(book)
        order = self.sell(data=book.data, size=size, exectype=bt.Order.Market)
        book.exit_order = order
        self.intent[order.ref] = (book.index, bar, "exit", reason)

    # -- broker events ------------------------------------------------------------

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        asset, signal_bar, role, reason = self.intent[order.ref]
        book = self.books[asset]
        if order.status == order.Completed:
            self._record_fill(order, book, signal_bar, reason)
            if role == "entry":
                book.entry_order = None
                self._on_entry_filled(book, order)
            else:
                book.exit_order = None
            return
        if order.status in (order.Margin, order.Rejected, order.Canceled, order.Expired):
            if role != "entry":
                raise RuntimeError(f"asset {asset}: exit order from bar {signal_bar} ended {order.getstatusname()}")
            book.entry_order = None
            rejection = Rejection(asset=self.plan.scenario.market.assets[asset], bar=signal_bar,
                                  side="buy" if order.isbuy() else "sell", size=float(order.created.size),
                                  status=order.getstatusname())
            self.plan.rejections.append(rejection)
            log.warning("%s: %s", self.plan.scenario.name, rejection)
            return
        raise RuntimeError(f"asset {asset}: unexpected order status {order.getstatusname()} (partial fill?)")

    def _record_fill(self, order, book: _AssetBook, signal_bar: int, reason: str) -> None:
        bits = order.executed.exbits
        if len(bits) != 1:
            raise RuntimeError(f"order {order.ref} executed in {len(bits)} bits; partial fills are not in the contract")
        bit = bits[-1]
        bar = self.plan.bar_of_dt[bit.dt]
        expected = signal_bar if self.plan.coc else signal_bar + 1
        if bar != expected:
            raise RuntimeError(f"order from bar {signal_bar} filled at bar {bar}, expected {expected}")
        self.plan.fills_booked_at.add(len(book.data) - 1)
        self.plan.fills.append(make_fill(
            self.plan.scenario, book.index, bar,
            side="buy" if order.isbuy() else "sell",
            size=abs(bit.size), price=bit.price, fee=bit.comm, reason=reason,
        ))

    def _on_entry_filled(self, book: _AssetBook, order) -> None:
        """Hook for protective exits (stop-loss, take-profit, trailing, time): none yet."""


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
    for name in ("cash", "size"):
        value = getattr(contract, name)
        if not (math.isfinite(value) and value > 0.0):
            raise ValueError(f"{scenario.name}: {name} must be finite and positive, got {value!r}")
    for name in ("fee", "slippage"):
        value = getattr(contract, name)
        if not (math.isfinite(value) and 0.0 <= value < 1.0):
            raise ValueError(f"{scenario.name}: {name} must be in [0, 1), got {value!r}")
    market = scenario.market
    if np.any(market.entries & market.exits):
        raise ValueError(f"{scenario.name}: an entry and an exit on the same bar of the same asset is invalid input")
    unlisted = np.isnan(market.close)
    if np.any((market.entries | market.exits) & unlisted):
        raise ValueError(f"{scenario.name}: a signal on a bar where the asset has no price")


def simulate(scenario: Scenario) -> BacktraderRun:
    """Run ``scenario`` through Backtrader; the result plus the orders the broker rejected."""
    _check_supported(scenario)
    contract = scenario.spec.contract
    market = scenario.market
    coc = contract.fill == "close"

    datenums = _datenums(market.timestamps)
    plan = _Plan(scenario=scenario, coc=coc, bar_of_dt={float(x): i for i, x in enumerate(datenums)})

    cerebro = bt.Cerebro(stdstats=False)
    for j, asset in enumerate(market.assets):
        columns = {
            "datetime": datenums,
            "open": np.asarray(market.open[:, j], dtype=np.float64),
            "high": np.asarray(market.high[:, j], dtype=np.float64),
            "low": np.asarray(market.low[:, j], dtype=np.float64),
            "close": np.asarray(market.close[:, j], dtype=np.float64),
            "volume": np.asarray(market.volume[:, j], dtype=np.float64),
        }
        cerebro.adddata(_ArrayFeed(columns=columns), name=asset)
    cerebro.addstrategy(_SignalStrategy, plan=plan)

    broker = cerebro.broker
    broker.set_cash(contract.cash)
    broker.set_checksubmit(False)
    broker.set_coc(coc)
    broker.setcommission(commission=contract.fee)
    broker.set_slippage_perc(contract.slippage, slip_open=True, slip_limit=True, slip_match=True, slip_out=True)

    cerebro.run(stdstats=False)
    final_value = broker.getvalue()

    n = market.n_bars
    if len(plan.broker_value) != n:
        raise RuntimeError(f"strategy saw {len(plan.broker_value)} bars of {n}")
    if coc:
        if len(plan.post_fill_value) != n - 1:
            raise RuntimeError("close-mode equity sampling is out of step")
        equity = plan.post_fill_value + [plan.broker_value[-1]]
        # Where no fill was booked the broker's own valuation of bar i must agree.
        for i in range(n - 1):
            if (i + 1) not in plan.fills_booked_at and not math.isclose(
                    equity[i], plan.broker_value[i], rel_tol=1e-12, abs_tol=0.0):
                raise RuntimeError(f"bar {i}: sampled value {equity[i]!r} != broker value {plan.broker_value[i]!r}")
    else:
        equity = list(plan.broker_value)
    if equity[-1] != final_value:
        raise RuntimeError(f"last-bar value {equity[-1]!r} != broker final value {final_value!r}")

    result = build_result(
        scenario,
        engine=ENGINE,
        framework=FRAMEWORK,
        framework_version=framework_version(),
        fills=plan.fills,
        equity=equity,
        final_value=final_value,
    )
    return BacktraderRun(result=result, rejections=tuple(plan.rejections))


def run(scenario: Scenario) -> RunResult:
    """Run ``scenario`` through Backtrader. Rejected orders are logged and never appear as fills."""
    return simulate(scenario).result
