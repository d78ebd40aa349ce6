"""The vectorbt adapter: the contract realised with vectorbt 1.2.0's own simulation.

``run(scenario)`` configures ``vbt.Portfolio.from_signals`` (numba engine) so
that vectorbt's fills are the contract's fills, then reads them back from
vectorbt's order records. Nothing here re-implements vectorbt's fill logic:
the adapter only shapes the inputs (signal timing), passes every setting
explicitly, and audits vectorbt's order log afterwards so that any order
vectorbt treated differently from the contract raises instead of passing
silently.

Knob by knob (see /work/shared/docs/semantics.md, "vectorbt 1.2.0 recipe"):

- ``fill = "close"``: signals as given, ``price = close``. A last-bar signal is
  dropped before the hand-over (vectorbt would fill it at the last close).
- ``fill = "next_open"``: entries and exits shifted forward one bar,
  ``price = open``; the order's ``idx`` is then the fill bar t+1, and a last-bar
  signal falls off the end of the shifted arrays.
- ``fill = "next_close"`` (signals without exit rules only): shifted the same
  way, ``price = close``. With exit rules vectorbt would check the stops of a
  position on the bar its shifted exit fills (the contract has them off from
  the exit's decision on), so those scenarios are unsupported.
- ``[sizing] mode = "fixed"``: ``size = size``, ``size_type = "amount"``,
  ``accumulate = False``, ``upon_opposite_entry = "ignore"`` (entries of either
  side while a position is held and exits while flat are ignored; an exit
  closes the whole position).
- ``[sizing] mode = "target_value"``: ``size = value``, ``size_type = "value"``,
  ``val_price`` the decision bar's close (:func:`_entry_sizing`); whole units
  through ``size_granularity = 1``, a buy vectorbt's cash check cuts short
  withheld and rerun as a rejection (:func:`_cut_buy`).
- ``[positions] sides``: the four signal arrays ``entries``/``exits``/
  ``short_entries``/``short_exits`` (short ones all False for a long-only
  scenario), timed alike. A short sale credits ``size * price - fee`` without a
  cash check (``lock_cash = False``, portfolio/nb.py:215-340 ``sell_nb``); a
  cover vectorbt cannot pay for is refused (``buy_nb``), which the contract
  never does: :func:`_audit_orders` raises. vectorbt mirrors every stop for a
  short itself (``get_stop_price_nb``, nb.py:1882-1888: level ``init * (1 + p)``,
  gap ``level <= open``; take-profit ``init * (1 - q)``, gap ``open <= level``)
  and trails a short's lows (nb.py:2669-2672; static simulator 2124-2128); the callbacks below mirror their
  own level choices (a short's one stop is the lower level).
- ``fee``: ``fees = f`` (fee = f * size * fill price, after slippage);
  ``fixed_fee``: ``fixed_fees`` (vectorbt's fee is (size * price) * f +
  fixed_fees, nb.py:149, 311: the same terms, the product associated
  differently, an ulp at most). No per-share commission, minimum or absolute
  slippage exists in vectorbt 1.2.0, and no size type that is a fraction of
  the equity at the decision close: those knobs are unsupported.
- ``slippage``: ``slippage = s`` (buys at p*(1+s), sells at p*(1-s)).
- ``cash``: ``init_cash``; an entry that does not fit is rejected whole
  (``allow_partial = False``; vectorbt's PartialFill/NoCashLong rejections).
- Several assets (``close`` and ``next_open``): one portfolio, ``group_by = True``,
  ``cash_sharing = True``, and a static ``call_seq`` array the adapter computes
  so that each bar's orders execute in EXIT_PRECEDENCE's order (see "call
  order" below: :func:`_simulate_shared_cash`). ``next_close`` with several
  assets is unsupported.

Exit rules (``[exits]``; EXIT_PRECEDENCE in harness/contract.py). Every exit
is vectorbt's own: its stop machinery (``sl_stop``/``sl_trail``/``tp_stop``
checked by ``get_stop_price_nb`` before the bar's own order, so never on the
entry bar) and ``signal_func_nb``; the three module-level callbacks below only
choose, bar by bar, which stop vectorbt should hold, and record what they saw.

- ``stop_reference``: ``stop_entry_price = "close"`` (close of the fill bar) or
  ``"fillprice"`` (the fill price after slippage); vectorbt hands it to the
  callbacks as ``init_price``.
- ``stop_loss`` p: vectorbt's SL slot at ``init_price * (1 - p)``;
  ``stop_exit_price = "stopmarket"`` so slippage applies to stop fills.
- ``take_profit`` q: ``tp_stop = q`` (level ``init_price * (1 + q)``).
- ``trailing_stop`` p: ``sl_trail = True``; vectorbt's ``curr_price`` is then
  its high-water mark (max of the entry price and the highs of the bars after
  it, raised after each bar's check). High trail: the fraction p itself. Close
  trail and stop-loss + trailing: vectorbt has one SL slot, so
  :func:`_adjust_sl_nb` returns the fraction s with ``curr_price * (1 - s)``
  equal to the effective level (the higher of the stop-loss level and
  ``hwm * (1 - p)``, hwm from the closes for a close trail), solved to the
  bit where a float allows it.
- Gap order: vectorbt checks the SL slot completely (gap and intrabar) before
  the take-profit; the contract checks both gaps first. On a bar opening at or
  above the take-profit level :func:`_adjust_sl_nb` returns NaN (no SL on this
  bar) so vectorbt's take-profit fills at the open.
- ``max_bars`` N: :func:`_signal_func_nb` counts bars since the entry fill
  (the first bar it sees the position, minus one) and returns a long exit on
  bar fill_bar + N (not on the last bar in ``close`` mode); vectorbt calls it
  only when no stop fired, so a stop on that bar wins.
- ``next_open``: an exit at the open (shifted exit signal, or time exit due)
  beats every stop on that bar: both adjust callbacks return NaN on such bars.
- Reasons: entries (the log's position before the order is 0) are "signal";
  an exit on a bar where :func:`_signal_func_nb` returned one carries the
  reason it recorded ("signal" wins over "time_exit"); an exit on a bar where
  vectorbt did not call it was a stop signal: vectorbt's stop price (log
  ``req_price``) at or beyond the SL-slot level the callback set (below a
  long's, above a short's) -> that slot's kind (``stop_loss`` or
  ``trailing_stop``), at or beyond the take-profit level -> ``take_profit``.

Layout:

- :func:`_check_supported` refuses every contract value this adapter has not
  been taught (an unknown knob included);
- :func:`_prepare` builds the simulation inputs: :func:`_signal_timing` for
  the fill mode, :func:`_order_settings` for sizing and costs,
  :func:`_stop_settings` for stops, :func:`_exit_callbacks` for the callbacks;
- :func:`_simulate` is the single ``from_signals`` call;
- :func:`_audit_orders` checks vectorbt's order log against the contract;
- :func:`_fills` turns order records into canonical fills, with a reason per
  order from :func:`_reasons`; :func:`_rejections` reports the entries
  vectorbt refused for lack of cash (its log records).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import vectorbt as vbt
from numba import njit
from vectorbt.portfolio.enums import OrderSide, OrderStatus, OrderStatusInfo, SizeType

from adapters._vectorbt_common import ContractDivergence, requested_units
from adapters._vectorbt_profile import EVIDENCE as _STOCK_EVIDENCE, PROFILE as _STOCK_PROFILE
from adapters._vectorbt_shorts import short_signals, sl_fraction_short_nb
from harness.contract import FILL_MODES, REASON_CODE, REASONS, STOP_REFERENCES, TRAIL_SOURCES, knob_key
from harness.engines import ANY, Engine, Output, Unsupported, make_fill, make_rejection
from harness.results import Fill, Rejection
from harness.scenario import Scenario

__all__ = ["Vectorbt", "ContractDivergence"]


# The contract fields this adapter realises. A Contract field not listed here
# (a knob added after this adapter was written) makes run() raise.
_HANDLED_KNOBS = frozenset({"fill", "cash", "sizing_mode", "size", "fee", "slippage",
                            "stop_loss", "take_profit", "stop_reference", "trailing_stop",
                            "trail_source", "max_bars", "fixed_fee", "value", "units", "sides"})

# vectorbt's order log statuses the contract allows for a rejected buy: the
# cost (size * price + fee) does not fit in the cash and the order is refused
# whole (allow_partial=False turns a would-be partial fill into PartialFill).
_CASH_REJECTIONS = frozenset({OrderStatusInfo.PartialFill, OrderStatusInfo.NoCashLong,
                              OrderStatusInfo.CantCoverFees})

# The bar spacing only feeds vectorbt's annualised statistics, which the
# adapter never reads; set it so vectorbt does not warn.
_FREQ = "1D"




# ----------------------------------------------------------------------- checks


def _check_supported(scenario: Scenario) -> None:
    """Raise on any contract value or market shape this adapter does not realise."""
    contract = scenario.spec.contract
    unknown = set(contract.as_dict()) - _HANDLED_KNOBS
    if unknown:
        raise NotImplementedError(
            f"vectorbt adapter: contract knob(s) {', '.join(sorted(unknown))} are not supported yet"
        )
    if contract.fill not in FILL_MODES:
        raise NotImplementedError(f"vectorbt adapter: fill mode {contract.fill!r} is not supported")
    if contract.sizing_mode not in ("fixed", "target_value"):
        raise NotImplementedError(f"vectorbt adapter: sizing mode {contract.sizing_mode!r} is not supported")
    if contract.sizing_mode == "fixed" and contract.units is not None:
        raise NotImplementedError(f"vectorbt adapter: knob units = {contract.units!r} with fixed sizes")
    _check_exit_knobs(contract)

    market = scenario.market
    if market.n_assets != 1 and contract.fill == "next_close":
        # several assets share ONE cash pool (group_by=True, cash_sharing=True and the call order
        # of _run_signals); next_close is refused by Vectorbt.check() for every multi-asset scenario
        raise NotImplementedError(
            f"vectorbt adapter: {market.n_assets} assets with fill = 'next_close' are not supported"
        )
    if market.n_bars < 1:
        raise ValueError("vectorbt adapter: the scenario has no bars")
    for name in ("open", "high", "low", "close"):
        if not np.all(np.isfinite(getattr(market, name))):
            raise NotImplementedError(
                f"vectorbt adapter: non-finite {name} prices (bars where an asset is not listed) are not supported yet"
            )
    if contract.has_exit_rules:
        # vectorbt's get_stop_price_nb fills an intrabar stop only if low <= level <= high
        # (the contract: low <= level, or high >= take-profit level); on a consistent bar
        # the two agree. The close-trail fraction also needs high >= close.
        o, h, l, c = market.open, market.high, market.low, market.close
        bad = (h < np.maximum(o, c)) | (l > np.minimum(o, c))
        if np.any(bad):
            bar, col = np.argwhere(bad)[0]
            raise NotImplementedError(
                f"vectorbt adapter: bar {market.timestamps[bar]} of {market.assets[col]} has high/low outside "
                "open/close; exit rules need low <= min(open, close) <= max(open, close) <= high"
            )
    if np.any(market.entries & market.exits):
        bar, col = np.argwhere(market.entries & market.exits)[0]
        raise ValueError(
            f"vectorbt adapter: entry and exit on the same bar ({market.timestamps[bar]}, "
            f"{market.assets[col]}) is invalid input"
        )


def _check_exit_knobs(contract) -> None:
    for name, high_open in (("stop_loss", True), ("trailing_stop", True), ("take_profit", False)):
        value = getattr(contract, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                or not (value > 0 and (value < 1 or not high_open)):
            bound = "(0, 1)" if high_open else "(0, inf)"
            raise ValueError(f"vectorbt adapter: {name} must be in {bound}, got {value!r}")
    if contract.max_bars is not None:
        if isinstance(contract.max_bars, bool) or not isinstance(contract.max_bars, (int, np.integer)) \
                or contract.max_bars < 1:
            raise ValueError(f"vectorbt adapter: max_bars must be an integer >= 1, got {contract.max_bars!r}")
    if contract.stop_reference not in STOP_REFERENCES:
        raise NotImplementedError(f"vectorbt adapter: stop_reference {contract.stop_reference!r} is not supported")
    if contract.trail_source not in TRAIL_SOURCES:
        raise NotImplementedError(f"vectorbt adapter: trail_source {contract.trail_source!r} is not supported")


# ----------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything handed to from_signals: (n_bars, n_assets) float64/bool arrays plus settings."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    entries: np.ndarray
    exits: np.ndarray
    short_entries: np.ndarray  # all False for a long-only scenario
    short_exits: np.ndarray
    price: np.ndarray
    settings: dict[str, Any]
    # exit rules only: signal_func_nb/adjust_*_func_nb and their args, and what the callbacks record
    callbacks: dict[str, Any] | None = None
    observed: _Observed | None = None


def _f64(a: np.ndarray) -> np.ndarray:
    """A private, writeable, C-contiguous float64 copy (market arrays are read-only)."""
    return np.array(a, dtype=np.float64, order="C", copy=True)


def _signal_timing(fill: str, open_: np.ndarray, close: np.ndarray,
                   entries: np.ndarray, exits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(entries, exits, price) such that vectorbt fills a signal of bar t where the contract does.

    ``close``: fill on bar t at close[t]. vectorbt would also fill a signal on the
    last bar; the contract never does, so last-bar signals are dropped here.
    ``next_open``: a signal of bar t becomes an order on bar t+1 at open[t+1]; the
    shift pushes a last-bar signal past the end, so it never fills. ``next_close``:
    the same shift, at close[t+1].
    """
    entries = np.array(entries, dtype=np.bool_, order="C", copy=True)
    exits = np.array(exits, dtype=np.bool_, order="C", copy=True)
    if fill == "close":
        entries[-1, :] = False
        exits[-1, :] = False
        return entries, exits, close.copy()
    if fill in ("next_open", "next_close"):
        shifted_entries = np.zeros_like(entries)
        shifted_exits = np.zeros_like(exits)
        shifted_entries[1:] = entries[:-1]
        shifted_exits[1:] = exits[:-1]
        return shifted_entries, shifted_exits, (open_ if fill == "next_open" else close).copy()
    raise NotImplementedError(f"vectorbt adapter: fill mode {fill!r} is not supported")


def _order_settings(scenario: Scenario) -> dict[str, Any]:
    """Sizing, costs and cash: every setting passed explicitly, none from vbt.settings."""
    contract = scenario.spec.contract
    return dict(
        **_entry_sizing(contract),
        direction="longonly",
        accumulate=False,
        fees=float(contract.fee),
        fixed_fees=float(contract.fixed_fee),
        slippage=float(contract.slippage),
        init_cash=float(contract.cash),
        raise_reject=False,
        # vbt's default min_size (1e-8) would silently drop small orders; the contract has no minimum.
        min_size=0.0,
        max_size=np.inf,
        reject_prob=0.0,
        lock_cash=False,
        upon_long_conflict="ignore",
        upon_short_conflict="ignore",
        upon_dir_conflict="ignore",
        upon_opposite_entry="ignore",
        ffill_val_price=True,
        update_value=False,
        cash_sharing=False,
        call_seq="default",
    )


def _entry_sizing(contract) -> dict[str, Any]:
    """What an entry buys. ``fixed``: ``size`` units. ``target_value``: ``size_type="value"``, which
    vectorbt turns into value / val_price units (nb.py:436-445) with ``val_price`` the decision bar's close:
    the order price in ``close`` mode (``np.inf``), the previous close in ``next_open`` mode (``-np.inf``,
    nb.py:2062-2068, 2581-2587). Whole units: ``size_granularity=1`` floors the units (buy_nb, nb.py:144-145), and
    ``allow_partial=True`` because vectorbt would otherwise refuse every floored order as a partial fill of
    the unfloored one (nb.py:187); a buy vectorbt's cash check cuts short is withheld and the simulation
    rerun (:func:`_withhold_cut_buys`)."""
    if contract.sizing_mode == "fixed":
        return dict(size=float(contract.size), size_type="amount", val_price=np.inf,
                    size_granularity=np.nan, allow_partial=False)
    whole = contract.units == "whole"
    return dict(size=float(contract.value), size_type="value",
                val_price=np.inf if contract.fill == "close" else -np.inf,
                size_granularity=1.0 if whole else np.nan, allow_partial=whole)


def _stop_settings(scenario: Scenario) -> dict[str, Any]:
    """vectorbt's stop arguments: the values it sets when a position opens (the callbacks then adjust them)."""
    contract = scenario.spec.contract
    stops = [p for p in (contract.stop_loss, contract.trailing_stop) if p is not None]
    use_stops = bool(stops) or contract.take_profit is not None
    return dict(
        # at the entry the hwm is the entry price, so the higher of the two levels is the smaller fraction
        sl_stop=float(min(stops)) if stops else np.nan,
        sl_trail=contract.trailing_stop is not None,
        tp_stop=np.nan if contract.take_profit is None else float(contract.take_profit),
        stop_entry_price="fillprice" if contract.stop_reference == "fill_price" else "close",
        stop_exit_price="stopmarket",  # the stop price, with slippage (stoplimit would drop it)
        upon_stop_exit="close",
        upon_stop_update="override",
        use_stops=use_stops,
    )


# -------------------------------------------------------------- exit callbacks
#
# Three numba callbacks, defined once at module level: vectorbt compiles
# simulate_from_signal_func_nb around them once per process (it is not cached).
# All rule parameters travel in one float64 array so every exit scenario has
# the same argument types (one compilation).

_P_SL, _P_TP, _P_TRAIL, _P_TRAIL_ON_CLOSE, _P_MAX_BARS, _P_NEXT_OPEN, _P_TIME_LAST = range(7)
_N_PARAMS = 7

_R_SIGNAL = REASON_CODE["signal"]
_R_STOP_LOSS = REASON_CODE["stop_loss"]
_R_TAKE_PROFIT = REASON_CODE["take_profit"]
_R_TRAILING_STOP = REASON_CODE["trailing_stop"]
_R_TIME_EXIT = REASON_CODE["time_exit"]
# signal_obs codes besides the reasons above
_NOT_ASKED = -2      # vectorbt did not call signal_func_nb on this bar: it had a stop signal
_ASKED_NO_EXIT = -1  # called, returned no exit


@njit
def _exit_at_open_nb(i, col, init_i, exits, prm):
    """next_open mode: the position exits at this bar's open (exit signal or time exit)."""
    if prm[_P_NEXT_OPEN] == 0.0:
        return False
    if exits[i, col]:
        return True
    return prm[_P_MAX_BARS] > 0.0 and i - init_i >= prm[_P_MAX_BARS]


@njit
def _sl_fraction_nb(base, level, hint):
    """A fraction s >= 0 with ``base * (1 - s) == level`` as get_stop_price_nb computes it.

    Exact to the bit when some float s allows it (tried: ``hint``, then s = 1 - u for
    u within 8 ulps of level/base); else the nearest, 1 - level/base.
    """
    if base * (1.0 - hint) == level:
        return hint
    u0 = level / base
    lo = u0
    hi = u0
    for _ in range(8):
        s = 1.0 - lo
        if s >= 0.0 and base * (1.0 - s) == level:
            return s
        s = 1.0 - hi
        if s >= 0.0 and base * (1.0 - s) == level:
            return s
        lo = np.nextafter(lo, -np.inf)
        hi = np.nextafter(hi, np.inf)
    return max(1.0 - u0, 0.0)


@njit
def _adjust_sl_nb(c, open_, close, exits, short_exits, prm, trail_ext, trail_upto, sl_kind, sl_level):
    """vectorbt's one SL slot on bar c.i: (fraction of c.curr_price, trailing flag), NaN for none.

    c.init_price is the contract's ref; with sl_trail=True c.curr_price is vectorbt's
    hwm over highs (a short's: its lwm over lows). A short mirrors every level and
    comparison (vectorbt's get_stop_price_nb does too: level c.curr_price * (1 + s)).
    Records the slot's kind and level (as vectorbt computes it).
    """
    if c.position_now == 0.0:
        return np.nan, c.curr_trail
    short = c.position_now < 0.0
    i = c.i
    col = c.col
    if _exit_at_open_nb(i, col, c.init_i, short_exits if short else exits, prm):
        return np.nan, c.curr_trail  # the exit at the open beats every stop
    stop_loss = prm[_P_SL]
    trailing = prm[_P_TRAIL]
    take_profit = prm[_P_TP]
    use_sl = not np.isnan(stop_loss)
    use_trail = not np.isnan(trailing)
    if not use_sl and not use_trail:
        return np.nan, False
    ref = c.init_price
    if not np.isnan(take_profit) and (open_[i, col] <= ref * (1.0 - take_profit) if short
                                      else open_[i, col] >= ref * (1.0 + take_profit)):
        # take-profit gapped: the contract fills it at the open; vectorbt would check
        # the SL slot's intrabar level first, so hold no SL on this bar
        return np.nan, c.curr_trail
    off = np.inf if short else -np.inf
    sl_lvl = off
    if use_sl:
        sl_lvl = ref * (1.0 + stop_loss) if short else ref * (1.0 - stop_loss)
    tr_lvl = off
    if use_trail:
        if prm[_P_TRAIL_ON_CLOSE] != 0.0:
            # hwm = max(ref, close[entry+1 .. i-1]) (a short's lwm: the min), folded in incrementally per position
            if trail_upto[col, 0] != c.init_i:
                trail_upto[col, 0] = c.init_i
                trail_upto[col, 1] = c.init_i
                trail_ext[col] = ref
            while trail_upto[col, 1] < i - 1:
                trail_upto[col, 1] += 1
                if short:
                    trail_ext[col] = min(trail_ext[col], close[trail_upto[col, 1], col])
                else:
                    trail_ext[col] = max(trail_ext[col], close[trail_upto[col, 1], col])
            ext = trail_ext[col]
        else:
            ext = c.curr_price
        tr_lvl = ext * (1.0 + trailing) if short else ext * (1.0 - trailing)
    # one stop at the level nearer the price: a long's higher, a short's lower (higher_level)
    if (tr_lvl < sl_lvl) if short else (tr_lvl > sl_lvl):
        kind = _R_TRAILING_STOP
        level = tr_lvl
        hint = trailing
    else:
        kind = _R_STOP_LOSS
        level = sl_lvl
        hint = stop_loss
    sl_kind[i, col] = kind
    if short:
        stop = sl_fraction_short_nb(c.curr_price, level, hint)
        sl_level[i, col] = c.curr_price * (1 + stop)
    else:
        stop = _sl_fraction_nb(c.curr_price, level, hint)
        sl_level[i, col] = c.curr_price * (1 - stop)
    return stop, use_trail


@njit
def _adjust_tp_nb(c, exits, short_exits, prm, tp_level):
    """vectorbt's take-profit on bar c.i: the fraction q of c.init_price, NaN for none."""
    take_profit = prm[_P_TP]
    if c.position_now == 0.0 or np.isnan(take_profit):
        return np.nan
    short = c.position_now < 0.0
    if _exit_at_open_nb(c.i, c.col, c.init_i, short_exits if short else exits, prm):
        return np.nan
    tp_level[c.i, c.col] = c.init_price * (1 - take_profit) if short else c.init_price * (1 + take_profit)
    return take_profit


@njit
def _signal_func_nb(c, entries, exits, short_entries, short_exits, prm, entry_bar, signal_obs):
    """The long and short signals plus the time exit; vectorbt calls it only when no stop fired."""
    i = c.i
    col = c.col
    if c.position_now == 0.0:
        entry_bar[col] = -1
        signal_obs[i, col] = _ASKED_NO_EXIT
        return bool(entries[i, col]), False, bool(short_entries[i, col]), False
    short = c.position_now < 0.0
    if entry_bar[col] < 0:
        entry_bar[col] = i - 1  # first bar seen in the position: the entry filled on the previous bar
    # an exit is the position's side's: a long exit (sell) or a short exit (cover)
    if short_exits[i, col] if short else exits[i, col]:
        signal_obs[i, col] = _R_SIGNAL  # a signal that is also a time exit is labelled "signal"
        return False, not short, False, short
    max_bars = prm[_P_MAX_BARS]
    if max_bars > 0.0 and i - entry_bar[col] >= max_bars and i <= prm[_P_TIME_LAST]:
        signal_obs[i, col] = _R_TIME_EXIT
        return False, not short, False, short
    signal_obs[i, col] = _ASKED_NO_EXIT
    return False, False, False, False


@dataclass(frozen=True, slots=True)
class _Observed:
    """What the callbacks saw, per (bar, asset): the only source of exit reasons."""

    signal_obs: np.ndarray  # int8: _NOT_ASKED, _ASKED_NO_EXIT, or the exit reason returned
    sl_kind: np.ndarray     # int8: reason code of the SL slot set on the bar (-1: none)
    sl_level: np.ndarray    # float64: the SL slot's level (NaN: none)
    tp_level: np.ndarray    # float64: the take-profit level (NaN: none)


def _exit_callbacks(scenario: Scenario, open_: np.ndarray, close: np.ndarray, entries: np.ndarray,
                    exits: np.ndarray, short_entries: np.ndarray,
                    short_exits: np.ndarray) -> tuple[dict[str, Any], _Observed]:
    """from_signals keyword arguments for the callbacks, and the arrays they record into.

    The signals are already timed for the fill mode (see _signal_timing).
    """
    contract = scenario.spec.contract
    n_bars, n_cols = close.shape
    off = np.nan
    prm = np.empty(_N_PARAMS, dtype=np.float64)
    prm[_P_SL] = off if contract.stop_loss is None else contract.stop_loss
    prm[_P_TP] = off if contract.take_profit is None else contract.take_profit
    prm[_P_TRAIL] = off if contract.trailing_stop is None else contract.trailing_stop
    prm[_P_TRAIL_ON_CLOSE] = 1.0 if contract.trail_source == "close" else 0.0
    prm[_P_MAX_BARS] = 0.0 if contract.max_bars is None else float(contract.max_bars)
    prm[_P_NEXT_OPEN] = 1.0 if contract.fill == "next_open" else 0.0
    # close mode: a time exit due at the last bar's close must not fill (it is decided there);
    # next_open: the exit on bar t was decided on bar t-1 < last
    prm[_P_TIME_LAST] = float(n_bars - 2 if contract.fill == "close" else n_bars - 1)
    observed = _Observed(
        signal_obs=np.full((n_bars, n_cols), _NOT_ASKED, dtype=np.int8),
        sl_kind=np.full((n_bars, n_cols), -1, dtype=np.int8),
        sl_level=np.full((n_bars, n_cols), np.nan),
        tp_level=np.full((n_bars, n_cols), np.nan),
    )
    entry_bar = np.full(n_cols, -1, dtype=np.int64)
    trail_ext = np.full(n_cols, np.nan)
    trail_upto = np.full((n_cols, 2), -1, dtype=np.int64)
    callbacks = dict(
        signal_func_nb=_signal_func_nb,
        signal_args=(entries, exits, short_entries, short_exits, prm, entry_bar, observed.signal_obs),
        adjust_sl_func_nb=_adjust_sl_nb,
        adjust_sl_args=(open_, close, exits, short_exits, prm, trail_ext, trail_upto, observed.sl_kind,
                        observed.sl_level),
        adjust_tp_func_nb=_adjust_tp_nb,
        adjust_tp_args=(exits, short_exits, prm, observed.tp_level),
    )
    return callbacks, observed


def _prepare(scenario: Scenario, withheld: dict[tuple[int, int], float] | None = None) -> _Inputs:
    """``withheld``: (fill bar, asset) of whole-unit buys vectorbt's cash check cut short; not placed."""
    market = scenario.market
    contract = scenario.spec.contract
    open_, high, low, close = (_f64(market.open), _f64(market.high), _f64(market.low), _f64(market.close))
    entries, exits, price = _signal_timing(contract.fill, open_, close, market.entries, market.exits)
    for bar, col in withheld or ():
        entries[bar, col] = False
    short_entries, short_exits, _ = _signal_timing(contract.fill, open_, close, *short_signals(market))
    settings = {**_order_settings(scenario), **_stop_settings(scenario)}
    callbacks, observed = None, None
    if contract.has_exit_rules:
        callbacks, observed = _exit_callbacks(scenario, open_, close, entries, exits, short_entries, short_exits)
    return _Inputs(open=open_, high=high, low=low, close=close, entries=entries, exits=exits,
                   short_entries=short_entries, short_exits=short_exits,
                   price=price, settings=settings, callbacks=callbacks, observed=observed)


# ------------------------------------------------------------------- simulation


def _simulate(scenario: Scenario, inputs: _Inputs, call_seq: np.ndarray | None = None) -> vbt.Portfolio:
    """The from_signals call; ``call_seq`` (several assets): one portfolio, shared cash, this call order."""
    market = scenario.market
    n_cells = market.n_bars * market.n_assets
    close = pd.DataFrame(inputs.close, index=pd.RangeIndex(market.n_bars), columns=list(market.assets))
    settings = dict(inputs.settings)
    group_by = None
    if call_seq is not None:
        group_by = True
        settings.update(cash_sharing=True, call_seq=call_seq)
    # the four signal arrays (long and short) or signal_func_nb, which returns the four itself: either way
    # `direction` has no effect (base.py:2794-2795)
    del settings["direction"]
    if inputs.callbacks is None:
        signals = dict(entries=inputs.entries, exits=inputs.exits, short_entries=inputs.short_entries,
                       short_exits=inputs.short_exits)
    else:
        signals = dict(inputs.callbacks)  # vectorbt refuses signal arrays with signal_func_nb
    return vbt.Portfolio.from_signals(
        close,
        **signals,
        price=inputs.price,
        open=inputs.open,
        high=inputs.high,
        low=inputs.low,
        log=True,
        max_orders=n_cells,
        max_logs=n_cells,
        init_temp_records=False,
        seed=None,
        group_by=group_by,
        freq=_FREQ,
        attach_call_seq=False,
        fillna_close=False,
        engine="numba",
        **settings,
    )


def _buy_units(scenario: Scenario, log) -> float:
    """The units a logged buy asked vectorbt for (:func:`requested_units`); raises unless a target_value
    buy was sized at the decision bar's close."""
    if int(log["req_size_type"]) == SizeType.Value:
        bar, col = int(log["idx"]), int(log["col"])
        decision = bar if scenario.spec.contract.fill == "close" else bar - 1
        if decision < 0 or log["val_price"] != scenario.market.close[decision, col]:
            raise ContractDivergence(f"{scenario.name}: bar {bar}: vectorbt sized a target_value buy at "
                                     f"val_price {log['val_price']!r}, not the decision bar's close")
    return requested_units(log)


def _cut_buy(scenario: Scenario, pf: vbt.Portfolio) -> tuple[tuple[int, int], float] | None:
    """The first whole-unit buy vectorbt's cash check cut short (allow_partial=True): its (bar, asset) and
    the units it asked for; the contract rejects such a buy whole."""
    for log in _logs_in_order(pf):
        if int(log["res_status"]) == OrderStatus.Filled and log["res_side"] == OrderSide.Buy \
                and log["req_allow_partial"] and log["res_size"] < _buy_units(scenario, log):
            return (int(log["idx"]), int(log["col"])), _buy_units(scenario, log)
    return None


def _audit_orders(scenario: Scenario, pf: vbt.Portfolio) -> None:
    """Every order vectorbt tried either filled as the contract says or was a long entry's cash rejection.

    vectorbt compares cost and cash with a 1e-9 relative tolerance
    (vectorbt/utils/math_.py ``is_close_or_less_nb`` in portfolio/nb.py ``buy_nb``);
    the contract rejects any long entry costing more than the cash. Such an order raises here.
    A short sale is never refused by either (``sell_nb`` with lock_cash=False has no cash check, and
    cash + proceeds - fee >= 0 while the cash is); a cover vectorbt cannot pay for is refused
    (``buy_nb``), where the contract's cover always fills: that raises too.
    """
    logs = pf.log_records
    orders = pf.order_records
    for log in logs:
        where = f"{scenario.name}: bar {int(log['idx'])} ({scenario.market.timestamps[int(log['idx'])]}), " \
                f"asset {scenario.market.assets[int(log['col'])]}"
        status, info = int(log["res_status"]), int(log["res_status_info"])
        entry = log["position"] == 0.0  # the position before the order
        if status == OrderStatus.Filled:
            if entry:
                cost = log["res_size"] * log["res_price"] + log["res_fees"]
                if log["res_side"] == OrderSide.Buy and cost > log["cash"]:
                    raise ContractDivergence(
                        f"{where}: vectorbt filled a buy costing {cost!r} with only {log['cash']!r} cash "
                        "(within its 1e-9 tolerance); the contract rejects it"
                    )
                units = abs(_buy_units(scenario, log))
                if log["res_size"] != units:
                    raise ContractDivergence(
                        f"{where}: vectorbt traded {log['res_size']!r} units instead of {units!r}"
                    )
            elif log["new_position"] != 0.0 or log["res_side"] != (OrderSide.Sell if log["position"] > 0
                                                                   else OrderSide.Buy):
                raise ContractDivergence(
                    f"{where}: vectorbt's exit left {log['new_position']!r} units; the contract closes the whole "
                    "position"
                )
            continue
        if status == OrderStatus.Rejected and entry and log["req_size"] > 0 and info in _CASH_REJECTIONS \
                and _buy_units(scenario, log) > 0:
            continue  # long entry rejected whole for lack of cash: the contract's rule
        if status == OrderStatus.Ignored and info == OrderStatusInfo.SizeZero and entry and log["req_size"] > 0 \
                and _buy_units(scenario, log) == 0:
            continue  # a whole-unit entry of 0 units: no order, as the contract says
        raise ContractDivergence(
            f"{where}: vectorbt did not fill an order of size {log['req_size']!r} "
            f"(status {status}, info {info}); the contract has no such rule"
        )
    filled = int(np.sum(logs["res_status"] == OrderStatus.Filled))
    if filled != len(orders):
        raise ContractDivergence(f"{scenario.name}: {filled} filled orders in the log but {len(orders)} order records")


# --------------------------------------------------- call order (several assets)
#
# Several assets are ONE portfolio: group_by=True, cash_sharing=True (one cash pool). vectorbt's
# simulate_from_signal_func_nb (portfolio/nb.py) first decides, for every column of the group, the bar's
# one order (a stop signal, else signal_func_nb's signals), then executes them in the order call_seq[i]
# names; call_seq='auto' would sort them by approximate order value (sells first, buys by ascending
# value: insert_argsort_nb), not the contract's asset order. The contract (EXIT_PRECEDENCE): `close`:
# stops, then exits at the close, then entries in asset order; `next_open`: exits at the open, then
# entries in asset order, then the stops (the open entries do not see stop proceeds). One order per column
# and bar: an asset whose exit filled places no entry on that bar, as the contract says.
#
# Which orders a bar has depends only on earlier bars, never on that bar's call order. So the call order
# is computed from vectorbt's own run: a first guess from the signals (columns with an entry signal last),
# then, while vectorbt's order log shows a bar executed out of the contract's order, the kinds of order
# each column placed on each bar are read from that log and the simulation is rerun with the call order
# they give. The runs agree up to the first such bar, which moves later with every pass (at most n_bars
# passes); the run returned is one whose log _audit_call_order finds in the contract's order on every bar.

_K_STOP, _K_SIGNAL, _K_ENTRY = range(3)  # a stop's exit (or no order), an exit signal, an entry (either side)
_CALL_RANK = {"close": np.array([0, 1, 2]), "next_open": np.array([2, 0, 1])}  # rank of each kind


def _kinds_guess(inputs: _Inputs) -> np.ndarray:
    kinds = np.full(inputs.entries.shape, _K_STOP, dtype=np.int64)
    kinds[inputs.exits | inputs.short_exits] = _K_SIGNAL
    kinds[inputs.entries | inputs.short_entries] = _K_ENTRY
    return kinds


def _logs_in_order(pf: vbt.Portfolio) -> np.ndarray:
    logs = pf.log_records
    return logs[np.argsort(logs["id"], kind="stable")]  # the id is the order vectorbt wrote them in


def _log_kind(log, observed: _Observed | None) -> int:
    if log["position"] == 0.0:  # the position before the order: flat, so an entry
        return _K_ENTRY
    if observed is not None and observed.signal_obs[int(log["idx"]), int(log["col"])] == _NOT_ASKED:
        return _K_STOP  # vectorbt calls signal_func_nb only when no stop fired
    return _K_SIGNAL


def _kinds_run(pf: vbt.Portfolio, observed: _Observed | None, shape: tuple[int, int]) -> np.ndarray:
    kinds = np.full(shape, _K_STOP, dtype=np.int64)
    for log in _logs_in_order(pf):
        kinds[int(log["idx"]), int(log["col"])] = _log_kind(log, observed)
    return kinds


def _call_seq(kinds: np.ndarray, fill: str) -> np.ndarray:
    """call_seq[i, k]: the column executed k-th on bar i (by kind's rank, then asset order)."""
    n_cols = kinds.shape[1]
    key = _CALL_RANK[fill][kinds] * n_cols + np.arange(n_cols)
    return np.argsort(key, axis=1, kind="stable").astype(np.int64)


def _call_order_breach(scenario: Scenario, pf: vbt.Portfolio, observed: _Observed | None) -> str | None:
    """The first place vectorbt's log shows orders executed out of the contract's order, or None."""
    rank = _CALL_RANK[scenario.spec.contract.fill]
    last = (-1, -1, -1)
    for log in _logs_in_order(pf):
        bar, col = int(log["idx"]), int(log["col"])
        key = (bar, int(rank[_log_kind(log, observed)]), col)
        if key <= last:
            return (f"bar {bar} ({scenario.market.timestamps[bar]}): vectorbt executed "
                    f"{scenario.market.assets[col]}'s order after {scenario.market.assets[last[2]]}'s")
        last = key
    return None


def _simulate_shared_cash(scenario: Scenario, withheld: dict[tuple[int, int], float]) -> tuple[_Inputs, vbt.Portfolio]:
    fill = scenario.spec.contract.fill
    if fill not in _CALL_RANK:
        raise NotImplementedError(f"vectorbt adapter: several assets with fill = {fill!r} are not supported")
    inputs = _prepare(scenario, withheld)
    kinds = _kinds_guess(inputs)
    for _ in range(scenario.market.n_bars + 1):
        pf = _simulate(scenario, inputs, _call_seq(kinds, fill))
        if _call_order_breach(scenario, pf, inputs.observed) is None:
            return inputs, pf
        kinds = _kinds_run(pf, inputs.observed, kinds.shape)
        inputs = _prepare(scenario, withheld)  # the callbacks' state starts afresh
    raise ContractDivergence(f"{scenario.name}: no call order made vectorbt execute the contract's order: "
                             f"{_call_order_breach(scenario, pf, inputs.observed)}")


# ---------------------------------------------------------------------- results


def _reasons(scenario: Scenario, pf: vbt.Portfolio, observed: _Observed | None) -> list[str]:
    """The contract reason of each order record, from what vectorbt reported and the callbacks saw."""
    records = pf.order_records
    if observed is None:
        return ["signal"] * len(records)  # no exit rule: every order is a signal's
    logs = pf.log_records
    req_price = {int(log["order_id"]): float(log["req_price"]) for log in logs if log["order_id"] >= 0}
    held = {int(log["order_id"]): float(log["position"]) for log in logs if log["order_id"] >= 0}
    reasons = []
    for rec in records:
        bar, col = int(rec["idx"]), int(rec["col"])
        obs = int(observed.signal_obs[bar, col])
        where = f"{scenario.name}: bar {bar} ({scenario.market.timestamps[bar]}), asset {scenario.market.assets[col]}"
        position = held[int(rec["id"])]
        if position == 0.0:
            if obs != _ASKED_NO_EXIT:
                raise ContractDivergence(f"{where}: an entry on a bar where signal_func_nb was not asked for one")
            reasons.append("signal")
        elif obs in (_R_SIGNAL, _R_TIME_EXIT):
            reasons.append(REASONS[obs])
        elif obs == _NOT_ASKED:
            # vectorbt skips signal_func_nb only when it has a stop signal; its stop price tells which of the
            # two levels the callbacks set it reached (a short's SL slot is above, its take-profit below)
            price = req_price[int(rec["id"])]
            sign = -1.0 if position < 0.0 else 1.0
            if sign * price <= sign * observed.sl_level[bar, col]:
                reasons.append(REASONS[int(observed.sl_kind[bar, col])])
            elif sign * price >= sign * observed.tp_level[bar, col]:
                reasons.append("take_profit")
            else:
                raise ContractDivergence(
                    f"{where}: vectorbt's stop price {price!r} reached neither the SL slot "
                    f"({observed.sl_level[bar, col]!r}) nor the take-profit ({observed.tp_level[bar, col]!r})"
                )
        else:
            raise ContractDivergence(f"{where}: an exit on a bar where signal_func_nb returned none and no stop fired")
    return reasons


def _fills(scenario: Scenario, pf: vbt.Portfolio, observed: _Observed | None) -> list[Fill]:
    records = pf.order_records
    reasons = _reasons(scenario, pf, observed)
    fills = []
    for rec, reason in zip(records, reasons, strict=True):
        side = {OrderSide.Buy: "buy", OrderSide.Sell: "sell"}[int(rec["side"])]
        fills.append(make_fill(scenario, asset_index=int(rec["col"]), bar=int(rec["idx"]), side=side,
                               size=float(rec["size"]), price=float(rec["price"]), fee=float(rec["fees"]),
                               reason=reason))
    return fills


def _rejections(scenario: Scenario, pf: vbt.Portfolio, withheld: dict[tuple[int, int], float]) -> list[Rejection]:
    """Entries vectorbt refused for lack of cash (its log; _audit_orders vouched for each), and the
    whole-unit buys its cash check cut short (``withheld``)."""
    refused = {(int(log["idx"]), int(log["col"])): (abs(_buy_units(scenario, log)),
                                                    "buy" if log["req_size"] > 0 else "sell")
               for log in pf.log_records if int(log["res_status"]) == OrderStatus.Rejected}
    refused.update({key: (units, "buy") for key, units in withheld.items()})
    return [make_rejection(scenario, asset_index=col, bar=bar, side=side, size=units, reason="signal")
            for (bar, col), (units, side) in sorted(refused.items())]


def _equity(pf: vbt.Portfolio) -> np.ndarray:
    """Portfolio value per bar: cash + position * close[i] after bar i's fills."""
    value = np.asarray(pf.value().to_numpy(), dtype=np.float64)
    if value.ndim == 2:
        if value.shape[1] != 1:  # several assets run as one group (cash sharing): one column
            raise NotImplementedError("vectorbt adapter: multi-column portfolio value")
        value = value[:, 0]
    return value


def _run_signals(scenario: Scenario) -> Output:
    _check_supported(scenario)
    withheld: dict[tuple[int, int], float] = {}
    # A run agrees with the contract up to its first cut-short buy, withheld in the next run: each pass
    # moves that bar later, so at most one pass per entry.
    for _ in range(int(np.sum(scenario.market.entries)) + 1):
        if scenario.market.n_assets == 1:
            inputs = _prepare(scenario, withheld)
            pf = _simulate(scenario, inputs)
        else:
            inputs, pf = _simulate_shared_cash(scenario, withheld)
            breach = _call_order_breach(scenario, pf, inputs.observed)
            if breach is not None:  # _simulate_shared_cash returns no such run; kept as the last word
                raise ContractDivergence(f"{scenario.name}: {breach}")
        cut = _cut_buy(scenario, pf)
        if cut is None:
            break
        withheld[cut[0]] = cut[1]
    else:
        raise ContractDivergence(f"{scenario.name}: vectorbt still cuts a whole-unit buy short after withholding "
                                 f"{len(withheld)}")
    _audit_orders(scenario, pf)
    equity = _equity(pf)
    final_value = float(equity[-1])
    vbt_final = np.asarray(pf.final_value(), dtype=np.float64).reshape(-1)
    if vbt_final.shape != (1,):
        raise NotImplementedError("vectorbt adapter: multi-column portfolio value")
    vbt_final = float(vbt_final[0])
    if not np.isclose(final_value, vbt_final, rtol=1e-12, atol=0.0):
        raise ContractDivergence(
            f"{scenario.name}: last equity value {final_value!r} disagrees with pf.final_value() {vbt_final!r}"
        )
    return Output(fills=_fills(scenario, pf, inputs.observed), rejections=_rejections(scenario, pf, withheld),
                  equity=equity, final_value=final_value)


class Vectorbt(Engine):
    """vectorbt's own simulators fill every order; see the module docstring for each knob."""

    name = "vectorbt"
    framework = "vectorbt"
    capabilities = {
        "contract": {
            "fill": ("close", "next_open", "next_close"), "cash": ANY,
            "sizing_mode": ("fixed", "target_weights", "target_value"), "size": ANY, "value": ANY,
            "units": ("fractional", "whole"), "fee": ANY, "fixed_fee": ANY, "slippage": ANY, "stop_loss": ANY,
            "take_profit": ANY,
            "stop_reference": ("close", "fill_price"), "trailing_stop": ANY, "trail_source": ("high", "close"),
            "max_bars": ANY,
            "sides": ("long", "short", "both"),
        },
        # stock: adapters/_vectorbt_stock.py (plain from_signals; what it cannot express: its check())
        "stock": {
            "fill": ("close", "next_open", "next_close"), "cash": ANY,
            "sizing_mode": ("fixed", "target_weights", "target_value", "percent_of_equity"), "size": ANY,
            "value": ANY, "fraction": ANY,
            "units": ("fractional", "whole"), "fee": ANY, "fixed_fee": ANY, "slippage": ANY, "stop_loss": ANY,
            "take_profit": ANY,
            "stop_reference": ("close", "fill_price"), "trailing_stop": ANY, "trail_source": ("high",),
            "max_bars": ANY,
            "sides": ("long", "short", "both"),
        },
    }
    profile = _STOCK_PROFILE
    profile_evidence = _STOCK_EVIDENCE
    witness = {
        "contract": {
            "fill": ("configured", "price=close; next_open: signals shifted one bar and price=open; next_close: "
                                   "shifted, price=close (signals without exit rules)"),
            "cash": ("assisted", "init_cash; allow_partial=False rejects a buy that does not fit. Several assets: "
                                 "group_by=True, cash_sharing=True (one pool); the adapter computes call_seq from "
                                 "vectorbt's own order log (close: stops, exits, then entries in asset order; "
                                 "next_open: open exits, open entries, then stops) and reruns until the log "
                                 "shows that order on every bar"),
            "sizing_mode": ("configured", "fixed: size_type='amount'; target_value: size_type='value'; target_weights: from_orders with targetpercent, cash sharing, call_seq='auto'"),
            "size": ("native", "size=size"),
            "value": ("configured", "size=value, size_type='value', val_price: the decision close (np.inf in close "
                                    "mode, -np.inf: the previous close, in next_open mode)"),
            "units": ("assisted", "size_granularity=1; a whole-unit buy vectorbt cuts short is withheld and the simulation rerun"),
            "fee": ("configured", "fees=f"),
            "fixed_fee": ("configured", "fixed_fees=fixed_fee"),
            "slippage": ("configured", "slippage=s; stop_exit_price='stopmarket' slips stop fills"),
            "stop_loss": ("assisted", "sl_stop; adjust_sl_func_nb withholds it on bars whose open gapped above the take-profit"),
            "take_profit": ("native", "tp_stop"),
            "stop_reference": ("configured", "stop_entry_price='close' or 'fillprice'"),
            "trailing_stop": ("computed", "sl_trail; with a stop-loss or a close trail, adjust_sl_func_nb computes the level"),
            "trail_source": ("computed", "high: vectorbt's own hwm; close: adjust_sl_func_nb folds the closes in"),
            "max_bars": ("computed", "signal_func_nb counts bars since the entry fill and returns an exit"),
            "sides": ("configured", "short_entries/short_exits (with exit rules: signal_func_nb passes them on), "
                                    "upon_opposite_entry='ignore'; lock_cash=False credits a short sale's proceeds; "
                                    "vectorbt mirrors the stops and trails a short's lows itself; the adapter's "
                                    "adjust_sl_func_nb mirrors its level choices"),
        },
        "stock": {
            "fill": ("configured", "price=close; next_open: entries/exits shifted one bar and price=open; next_close: "
                                   "shifted, price=close (no exit rules)"),
            "cash": ("configured", "init_cash; allow_partial=False rejects a buy that does not fit"),
            "sizing_mode": ("native", "from_signals(size=size, size_type='amount') or (size=value, "
                                      "size_type='value'); from_orders(size=w, size_type='targetpercent', "
                                      "group_by=True, cash_sharing=True, call_seq='auto')"),
            "units": ("native", "fractional: from_orders sizes w * V / price - position; whole (percent sizes): "
                                "size_granularity=1"),
            "size": ("native", "size=size"),
            "value": ("configured", "size=value, size_type='value', val_price=np.inf (close) or -np.inf "
                                    "(next_open: the previous close)"),
            "fraction": ("native", "size=p, size_type='percent': a share of the cash at the fill"),
            "percent_base": ("native", "cash_at_fill: size_type='percent' buys (p * cash - fixed_fees) / (1 + fees) "
                                       "/ fill price"),
            "fee": ("configured", "fees=f"),
            "fixed_fee": ("configured", "fixed_fees=fixed_fee"),
            "slippage": ("configured", "slippage=s; stop_exit_price='stopmarket' slips stop fills"),
            "stop_loss": ("native", "sl_stop=p (not with a trailing stop: one SL slot)"),
            "take_profit": ("native", "tp_stop=q"),
            "stop_reference": ("configured", "stop_entry_price='close' or 'fillprice'"),
            "trailing_stop": ("native", "sl_stop=p, sl_trail=True (hwm: the highs)"),
            "trail_source": ("native", "high only: vectorbt's hwm rises with each bar's high"),
            "max_bars": ("computed", "vectorbt 1.2.0 has no time stop: a signal_func_nb counts the position's bars"),
            "last_bar": ("native", "a signal on the last bar fills at its close"),
            "open_exit_first": ("native", "a stop hit on a bar replaces its signals"),
            "gaps_first": ("native", "the SL slot (gap, then intrabar) before the take-profit"),
            "sides": ("configured", "short_entries/short_exits, upon_opposite_entry='ignore'; vectorbt's own short "
                                    "stops, trailing on the lows, proceeds credited (lock_cash=False)"),
        },
    }

    def check(self, scenario: Scenario, contract, mode: str) -> None:
        if mode == "stock" and contract.sizing_mode != "target_weights" and scenario.market.n_assets != 1:
            # The contract's signal portfolio shares ONE cash pool across assets and, within a bar, books
            # every asset's exits before any asset's entries. Plain from_signals with cash_sharing orders a
            # bar's calls by its call_seq, not by that phase rule (contract mode computes the call order:
            # _simulate_shared_cash), and independent cash per column would be wrong.
            raise Unsupported("scenario assets", f"{scenario.market.n_assets} assets with fixed-size signals: stock "
                                                 "mode is one plain from_signals call, whose call order does not "
                                                 "book every asset's exits before the entries in asset order "
                                                 "(contract mode computes a call_seq)")
        if mode == "stock":
            from adapters._vectorbt_stock import check, check_rotation

            return check_rotation(scenario, contract) if contract.sizing_mode == "target_weights" \
                else check(scenario, contract)
        if contract.sizing_mode == "target_weights" and contract.fixed_fee:
            raise Unsupported(knob_key("fixed_fee"), "rotations: from_orders with fixed_fees is not taught "
                                                     "(signal scenarios only)")
        if contract.fill == "next_close" and (contract.sizing_mode != "fixed" or contract.has_exit_rules
                                              or scenario.market.n_assets != 1):
            raise Unsupported(knob_key("fill"), "next_close: one-asset signal scenarios without exit rules only "
                                                "(shifted signals, price=close)")

    def run_signals(self, scenario: Scenario, contract, mode: str) -> Output:
        if mode == "stock":
            from adapters._vectorbt_stock import run_signals

            return run_signals(scenario, contract)
        return _run_signals(scenario)

    def run_rotation(self, scenario: Scenario, contract, mode: str) -> Output:
        if mode == "stock":
            from adapters._vectorbt_stock import run_rotation as run_stock_rotation

            return run_stock_rotation(scenario, contract)
        from adapters._vectorbt_rotation import run_rotation

        return run_rotation(scenario)
