"""The Zipline adapter: a scenario run through zipline-reloaded 3.2.1's own algorithm, blotter and ledger.

Zipline (PyPI ``zipline-reloaded``, its own virtualenv) is event-driven on
daily sessions: ``run_algorithm`` reads the bars of an ingested bundle
(:mod:`adapters._zipline_bundle`, kept under ``reports/zipline-bundles/``), and
on every session first lets its blotter fill the open orders at that session's
close (slippage and commission models decide price and fee), then calls
``handle_data``, where the strategy places new orders (gens/tradesimulation.py:
127-141). A market order placed on bar t therefore fills at close[t+1]: Zipline
runs the contract's ``fill = "next_close"`` and nothing else (it has no order
that fills at the open, nor at the close of the bar that decides it).

This module writes the strategy a user writes (public API only: ``order``,
``order_target_percent``, ``cancel_order``, ``get_order``, ``set_slippage``,
``set_commission``, ``run_algorithm``) and reads back what Zipline did: its
transactions (price, amount, session) and each order's commission from the
performance frame, the portfolio value in ``handle_data`` of every session.
Nothing is post-processed: a fill is Zipline's amount, price and commission.

Both modes, per knob:

* ``fill = "next_close"``: a market ``order`` placed in ``handle_data`` of the
  signal bar; nothing is decided on the last bar.
* ``cash``: ``capital_base``; ``fee``: ``set_commission(PerDollar(cost=f))``
  (fee = |amount| * (price * f), finance/commission.py:385-390); ``slippage``:
  ``set_slippage(FixedBasisPointsSlippage(basis_points=s * 1e4))`` (price +
  price * (bp / 1e4 * direction), finance/slippage.py:663-676; its default
  volume limit, 10% of the bar's volume, is kept: a fixed size above it on some
  bar is unsupported, and any order that does not fill whole on its bar raises).
* ``[sizing] fixed``: ``order(asset, size)`` on an entry signal while flat with
  no order open; ``order(asset, -position)`` on an exit signal while long.
* ``percent_of_equity``, ``target_value``: stock ``order_percent(asset, p)``,
  ``order_value(asset, value)`` (amount p * portfolio_value / price, value /
  price, rounded by ``round_order``); contract: the adapter floors the same
  amount to whole units and places it with ``order``.
* ``per_share``, ``min_fee``, ``fixed_fee``: ``PerShare(c, min_trade_cost=m)``
  and ``PerTrade(fixed)`` added after ``PerDollar(f)`` by a ``CommissionModel``
  subclass (Zipline calls ``calculate`` per transaction; the minimum and the
  flat cost are charged on an order's first one, and every order fills whole).
* ``[positions] sides``: ``order(asset, -size)`` on a short entry signal while
  flat, ``order(asset, -position)`` (a buy) on a short exit signal while short;
  Zipline's ledger credits the sale's proceeds to the cash.
* ``max_bars``: the strategy counts sessions from the entry fill and places the
  exit on bar fill_bar + N - 1 (filling at close[fill_bar + N]).

``stock`` mode, further: stop-loss ``order(asset, -position, stop_price=ref * (1
- p))`` and take-profit ``order(asset, -position, limit_price=ref * (1 + q))``,
placed in ``handle_data`` of the entry-fill bar (ref: that bar's close), the
survivor cancelled when one fills or an exit is decided; rotation
``order_target_percent(asset, w)`` for every asset with a weight on a rebalance
bar, in asset order. Zipline's departures from the contract are the behaviour
knobs of :data:`adapters._zipline_profile.PROFILE` (stops triggered on the
close, levels on a 0.01 tick, no cash check, whole units).

``contract`` mode: no exit orders (Zipline's stop and limit orders trigger on
the close only: stops are unsupported), rotation orders sized by the adapter
from Zipline's portfolio (``w * V / close - position``, floored, placed as whole
``order`` amounts); fixed sizes must be whole. Zipline has no cash check, so
after a contract run every session's cash must be at least 0 (then no buy
the contract would refuse was made; cash below 0, or too close to 0 to tell,
is :class:`harness.engines.Unsupported` naming ``[portfolio] cash_check``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
import numpy as np
import pandas as pd
from zipline import run_algorithm
from zipline.api import (
    cancel_order,
    get_order,
    order,
    order_percent,
    order_target_percent,
    order_value,
    set_commission,
    set_slippage,
    sid,
)
from zipline.finance.commission import CommissionModel, PerDollar, PerShare, PerTrade
from zipline.finance.slippage import FixedBasisPointsSlippage

from adapters import _zipline_bundle as zbundle
from adapters._zipline_profile import EVIDENCE, PROFILE
from harness.contract import Contract
from harness.engines import ANY, Engine, Output, Unsupported, make_fill
from harness.scenario import Scenario

__all__ = ["Zipline"]

VOLUME_LIMIT = 0.1  # FixedBasisPointsSlippage's default volume_limit (finance/slippage.py:645)
CASH_MARGIN = 1e-6  # contract mode: a session's cash closer to 0 than this cannot tell a fit from a refusal


class _Commissions(CommissionModel):
    """Zipline's own commission models added up, in the contract's order: ``PerDollar(f)``, then
    ``PerShare(c, min_trade_cost=m)``, then ``PerTrade(fixed)`` (the documented way to charge several
    kinds of commission: a CommissionModel subclass whose ``calculate`` Zipline calls per transaction)."""

    def __init__(self, models: list[CommissionModel]):
        self.models = models

    def calculate(self, order, transaction):
        total = 0.0
        for model in self.models:
            total += model.calculate(order, transaction)
        return total


def commission_model(c: Contract) -> CommissionModel:
    """``fee`` alone: ``PerDollar``; with ``per_share``/``min_fee``/``fixed_fee``: the models added up."""
    if c.per_share == 0.0 and c.min_fee == 0.0 and c.fixed_fee == 0.0:
        return PerDollar(cost=c.fee)
    models: list[CommissionModel] = [PerDollar(cost=c.fee)]
    if c.per_share != 0.0 or c.min_fee != 0.0:
        models.append(PerShare(cost=c.per_share, min_trade_cost=c.min_fee))
    if c.fixed_fee != 0.0:
        models.append(PerTrade(cost=c.fixed_fee))
    return _Commissions(models)


@dataclass
class _Book:
    """One asset's orders and position, as the strategy tracks them."""

    index: int
    fill_bar: int = -1  # the entry's fill bar while long
    protective: dict[str, str] = field(default_factory=dict)  # open stop/limit order id -> reason


@dataclass
class _Run:
    scenario: Scenario
    contract: Contract
    mode: str
    sessions: pd.DatetimeIndex
    books: list[_Book] = field(default_factory=list)
    reasons: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # order id -> (asset, reason, placed bar)
    equity: list[float] = field(default_factory=list)
    cash: list[float] = field(default_factory=list)
    bar: int = -1
    placed: list[str] = field(default_factory=list)  # market orders placed on the previous bar

    # -- shared ------------------------------------------------------------------------

    def initialize(self, context) -> None:
        c = self.contract
        set_slippage(us_equities=FixedBasisPointsSlippage(basis_points=c.slippage * 10000.0))
        set_commission(us_equities=commission_model(c))
        context.assets = [sid(j) for j in range(self.scenario.market.n_assets)]
        self.books = [_Book(j) for j in range(self.scenario.market.n_assets)]

    def _place(self, asset_index: int, amount: float, reason: str, **prices) -> str | None:
        oid = order(self.assets[asset_index], amount, **prices)
        self._note(oid, asset_index, reason, market=not prices)
        return oid

    def _note(self, oid: str | None, asset_index: int, reason: str, market: bool = True) -> None:
        if oid is not None:
            self.reasons[oid] = (asset_index, reason, self.bar)
            if market:
                self.placed.append(oid)

    def _settled(self) -> None:
        """Every market order placed on the previous bar has filled whole on this one."""
        for oid in self.placed:
            o = get_order(oid)
            if o.filled != o.amount:
                j, reason, _ = self.reasons[oid]
                raise Unsupported("prices.csv volume", f"bar {self.bar}: Zipline filled {o.filled} of {o.amount} "
                                  f"units of a {reason} order of {self.scenario.market.assets[j]} (volume limit "
                                  f"{VOLUME_LIMIT} of the bar's volume, or no volume)")
        self.placed = []

    def handle_data(self, context, data) -> None:
        self.bar += 1
        i = self.bar
        if context.get_datetime().normalize().tz_localize(None) != self.sessions[i]:
            raise RuntimeError(f"bar {i} delivered out of step: {context.get_datetime()}")
        self.assets = context.assets
        self._settled()
        portfolio = context.portfolio
        self.equity.append(float(portfolio.portfolio_value))
        self.cash.append(float(portfolio.cash))
        if self.contract.sizing_mode == "target_weights":
            self._rebalance(context, data, i)
        else:
            self._signals(context, data, i)

    # -- fixed-size signals --------------------------------------------------------------

    def _signals(self, context, data, i: int) -> None:
        c = self.contract
        market = self.scenario.market
        last = market.n_bars - 1
        positions = context.portfolio.positions
        shorts = c.sides != "long"
        for b in self.books:
            held = positions[self.assets[b.index]].amount if self.assets[b.index] in positions else 0
            if held < 0 and not shorts:
                raise RuntimeError(f"bar {i}: short position {held} in {market.assets[b.index]}")
            if held == 0:
                if b.fill_bar >= 0:  # a stop or take-profit closed it on this bar: cancel the survivors
                    for oid in list(b.protective):
                        if get_order(oid).filled == 0:
                            cancel_order(oid)
                    b.protective.clear()
                    b.fill_bar = -1
                continue
            if b.fill_bar < 0:  # the entry filled on this bar
                b.fill_bar = i
                if i != last:
                    self._protect(b, held, float(data.current(self.assets[b.index], "close")))
            if i == last:
                continue
            reason = ""
            exits = market.exits if held > 0 else market.short_exits
            if exits[i, b.index]:
                reason = "signal"
            elif c.max_bars is not None and i == b.fill_bar + c.max_bars - 1:
                reason = "time_exit"
            if reason:
                for oid in list(b.protective):
                    cancel_order(oid)
                b.protective.clear()
                self._place(b.index, -held, reason)
        if i == last:
            return
        for b in self.books:
            asset = self.assets[b.index]
            held = positions[asset].amount if asset in positions else 0
            if held != 0 or b.fill_bar >= 0:
                continue
            if market.entries[i, b.index]:
                self._enter(context, data, b.index, 1.0)
            elif shorts and market.short_entries[i, b.index]:
                self._enter(context, data, b.index, -1.0)

    def _enter(self, context, data, j: int, d: float) -> None:
        """An entry of side ``d`` (1 long, -1 short), sized by ``[sizing] mode``. Stock mode: ``order``,
        ``order_value`` or ``order_percent`` as users write them (Zipline rounds the amount); contract mode:
        whole units floored by the adapter from the decision close (and, percent_of_equity, Zipline's
        portfolio value there), placed with ``order``."""
        c = self.contract
        asset = self.assets[j]
        if c.sizing_mode == "fixed":
            self._place(j, d * c.size, "signal")
            return
        if self.mode == "stock":
            if c.sizing_mode == "target_value":
                oid = order_value(asset, d * c.value)
            else:
                oid = order_percent(asset, d * c.fraction)
            self._note(oid, j, "signal")
            return
        close = float(data.current(asset, "close"))
        if c.sizing_mode == "target_value":
            units = math.floor(c.value / close)
        else:
            units = math.floor(c.fraction * float(context.portfolio.portfolio_value) / close)
        if units > 0:
            self._place(j, d * units, "signal")

    def _protect(self, b: _Book, held: float, ref: float) -> None:
        """The stop-loss and take-profit orders of a position (a short's: a buy stop above, a buy limit below)."""
        c = self.contract
        d = 1.0 if held > 0 else -1.0
        if c.stop_loss is not None:
            oid = self._place(b.index, -held, "stop_loss", stop_price=ref * (1.0 - d * c.stop_loss))
            b.protective[oid] = "stop_loss"
        if c.take_profit is not None:
            oid = self._place(b.index, -held, "take_profit", limit_price=ref * (1.0 + d * c.take_profit))
            b.protective[oid] = "take_profit"

    # -- rotation ------------------------------------------------------------------------------

    def _rebalance(self, context, data, i: int) -> None:
        market = self.scenario.market
        if not market.rebalance[i] or i == market.n_bars - 1:
            return
        weights = market.weights[i]
        if self.mode == "stock":
            for j, asset in enumerate(self.assets):
                if not math.isnan(weights[j]):
                    self._note(order_target_percent(asset, float(weights[j])), j, "rebalance")
            return
        portfolio = context.portfolio
        value = portfolio.portfolio_value
        for j, asset in enumerate(self.assets):
            if math.isnan(weights[j]):
                continue
            held = portfolio.positions[asset].amount if asset in portfolio.positions else 0
            size = float(weights[j]) * value / float(data.current(asset, "close")) - held
            size = math.floor(size) if size >= 0.0 else -math.floor(-size)
            if size != 0:
                self._place(j, size, "rebalance")

    # -- read-back ---------------------------------------------------------------------------

    def output(self, perf: pd.DataFrame) -> Output:
        scenario = self.scenario
        bar_of = {day: k for k, day in enumerate(self.sessions)}
        final: dict[str, dict] = {}  # each order as the last session that changed it left it
        for day_orders in perf["orders"]:
            for o in day_orders:
                final[o["id"]] = o
        fills = []
        seen: set[str] = set()
        for day_txns in perf["transactions"]:
            for t in day_txns:
                oid = t["order_id"]
                if oid in seen:
                    raise Unsupported("prices.csv volume", f"order {oid} filled in several transactions (volume limit)")
                seen.add(oid)
                if final[oid]["filled"] != final[oid]["amount"]:
                    raise Unsupported("prices.csv volume", f"order {oid} filled {final[oid]['filled']} of "
                                      f"{final[oid]['amount']} units (volume limit)")
                j, reason, placed = self.reasons[oid]
                bar = bar_of[pd.Timestamp(t["dt"]).normalize().tz_localize(None)]
                if reason not in ("stop_loss", "take_profit") and bar != placed + 1:
                    raise RuntimeError(f"a {reason} order placed on bar {placed} filled on bar {bar}")
                amount = int(t["amount"])
                fills.append(make_fill(scenario, j, bar, "buy" if amount > 0 else "sell", abs(amount),
                                       float(t["price"]), float(final[oid]["commission"] or 0.0), reason))
        if len(self.equity) != scenario.market.n_bars:
            raise RuntimeError(f"the algorithm saw {len(self.equity)} sessions of {scenario.market.n_bars}")
        final = float(perf["portfolio_value"].iloc[-1])
        if final != self.equity[-1]:
            raise RuntimeError(f"final portfolio value {final!r} != the last session's {self.equity[-1]!r}")
        if self.mode == "contract":
            for k, cash in enumerate(self.cash):
                if cash < CASH_MARGIN:
                    raise Unsupported("[portfolio] cash_check",
                                      f"bar {k}: Zipline's cash is {cash!r} after its fills; Zipline has no cash check, "
                                      "so whether the contract would have refused a buy cannot be told")
        return Output(fills=fills, equity=self.equity, final_value=final, rejections=())


def _simulate(scenario: Scenario, contract: Contract, mode: str) -> Output:
    bundle = zbundle.prepare(scenario)
    sessions = bundle.sessions
    run = _Run(scenario=scenario, contract=contract, mode=mode, sessions=sessions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        perf = run_algorithm(
            start=sessions[0], end=sessions[-1], initialize=run.initialize, handle_data=run.handle_data,
            capital_base=contract.cash, data_frequency="daily", bundle=bundle.name,
            trading_calendar=bundle.calendar(), benchmark_returns=pd.Series(0.0, index=sessions.tz_localize("UTC")),
            environ=bundle.environ, metrics_set="default")
    return run.output(perf)


_COMMON = {
    "fill": ("next_close",), "cash": ANY, "size": ANY, "fee": ANY, "slippage": ANY, "max_bars": ANY, "sides": ANY,
    "sizing_mode": ("fixed", "target_weights", "percent_of_equity", "target_value"), "fraction": ANY, "value": ANY,
    "fixed_fee": ANY, "per_share": ANY, "min_fee": ANY,
}


# Both modes charge the commission extras the same way.
_COST_WITNESS = {
    "fixed_fee": ("configured", "PerTrade(cost=fixed_fee), added to the other models by a CommissionModel subclass"),
    "per_share": ("configured", "PerShare(cost=c, min_trade_cost=m), added to the other models"),
    "min_fee": ("configured", "PerShare's min_trade_cost: charged on an order's first transaction, and every order "
                              "fills whole in one"),
}


class Zipline(Engine):
    """zipline-reloaded's ``run_algorithm`` fills every order (see the module docstring)."""

    name = "zipline"
    framework = "zipline-reloaded"
    fork_safe = False  # bcolz/blosc and sqlite handles: each scenario in one process, one after the other
    capabilities = {
        "contract": {**_COMMON, "units": ("whole",)},
        "stock": {**_COMMON, "units": ("fractional", "whole"), "stop_loss": ANY, "take_profit": ANY,
                  "stop_reference": ("close",)},
    }
    profile = PROFILE
    profile_evidence = EVIDENCE
    witness = {
        "contract": {
            "fill": ("native", "a market order placed in handle_data fills at the next session's close"),
            "cash": ("configured", "run_algorithm(capital_base=cash)"),
            "sizing_mode": ("computed", "fixed: order(asset, size); target_weights, percent_of_equity, target_value: "
                                        "the adapter sizes each order from the decision close (and Zipline's "
                                        "portfolio value) and places whole amounts"),
            "fraction": ("computed", "floor(p * portfolio_value / close), placed with order"),
            "value": ("computed", "floor(value / close), placed with order"),
            **_COST_WITNESS,
            "size": ("native", "order(asset, size)"),
            "units": ("computed", "the adapter floors each rotation order to whole units"),
            "fee": ("configured", "set_commission(PerDollar(cost=f)), alone or first of the added models"),
            "slippage": ("configured", "set_slippage(FixedBasisPointsSlippage(basis_points=s * 1e4))"),
            "max_bars": ("computed", "the strategy counts sessions from the entry fill and places a market exit"),
            "sides": ("native", "order(asset, -size) sells short, order(asset, -position) covers; Zipline's ledger "
                                "credits a short sale's proceeds to the cash"),
        },
        "stock": {
            "fill": ("native", "a market order placed in handle_data fills at the next session's close"),
            "cash": ("configured", "run_algorithm(capital_base=cash)"),
            "sizing_mode": ("native", "order(asset, size); order_target_percent(asset, w); order_value(asset, "
                                      "value); order_percent(asset, p)"),
            "fraction": ("native", "order_percent(asset, p): p * portfolio_value / price, rounded by round_order"),
            "value": ("native", "order_value(asset, value): value / price, rounded by round_order"),
            **_COST_WITNESS,
            "size": ("native", "order(asset, size)"),
            "units": ("native", "order_target_percent, whole units (round_order)"),
            "fee": ("configured", "set_commission(PerDollar(cost=f)), alone or first of the added models"),
            "slippage": ("configured", "set_slippage(FixedBasisPointsSlippage(basis_points=s * 1e4))"),
            "stop_loss": ("native", "order(asset, -n, stop_price=ref * (1 - p))"),
            "take_profit": ("native", "order(asset, -n, limit_price=ref * (1 + q))"),
            "stop_reference": ("configured", "ref = data.current(asset, 'close') on the entry-fill bar"),
            "max_bars": ("computed", "the strategy counts sessions from the entry fill and places a market exit"),
            "sides": ("native", "order(asset, -size) sells short, order(asset, -position) covers; Zipline's ledger "
                                "credits a short sale's proceeds to the cash"),
            "stop_trigger": ("native", "stop and limit orders trigger on the session's close"),
            "level_tick": ("native", "stop and limit prices rounded to the asset's tick_size, 0.01"),
            "cash_check": ("native", "the blotter fills every triggered order; the cash may go below 0"),
            "order_rounding": ("native", "round_order: int(round_if_near_integer(amount))"),
        },
    }

    def check(self, scenario: Scenario, contract: Contract, mode: str) -> None:
        zbundle.check_market(scenario)
        if contract.sizing_mode == "fixed":
            if mode == "contract" and contract.size != math.floor(contract.size):
                raise Unsupported("[sizing] size", f"Zipline orders whole units; the scenario buys {contract.size!r}")
            volume = np.asarray(scenario.market.volume)
            listed = ~np.isnan(np.asarray(scenario.market.close))
            cap = np.floor(VOLUME_LIMIT * volume[listed])
            if np.any(cap < math.floor(contract.size)):
                raise Unsupported("prices.csv volume", f"a bar's volume lets FixedBasisPointsSlippage fill fewer "
                                                       f"than {contract.size!r} units ({VOLUME_LIMIT} of the volume)")

    def run_signals(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        return _simulate(scenario, contract, mode)

    def run_rotation(self, scenario: Scenario, contract: Contract, mode: str) -> Output:
        return _simulate(scenario, contract, mode)
