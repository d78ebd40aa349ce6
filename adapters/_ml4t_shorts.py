"""Short positions in the ml4t-backtest adapter ([positions] sides): the signals per side, the account
setting that lets ml4t sell short, the mirrored stop levels of the contract rule, and the contract-mode
check of ml4t's cash rule for a short sale. ``adapters/README.md`` records the ml4t source behind each.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from ml4t.backtest import BacktestConfig
from ml4t.backtest.config import ShortCashPolicy
from ml4t.backtest.types import OrderSide

from harness.contract import Contract
from harness.engines import Output, Unsupported
from harness.scenario import Market

__all__ = ["SIDES_WITNESS", "short_config", "signal_columns", "entry_side", "exits_position", "market_signals", "stop_level",
           "tighter", "water_mark", "check_short_sales", "check_early_short_sales", "refuse_stock_reversals"]

# How each mode realises [positions] sides (the engine's witness entries).
SIDES_WITNESS = {
    "contract": "allow_short_selling=True, short_cash_policy=CREDIT: submit_order(asset, size, SELL) sells short, "
                "close_position covers; ml4t credits the proceeds to the cash every later buy is checked against; "
                "the adapter's rule evaluates the native rules' short branches on its own lwm and takes the lower "
                "stop; a short sale ml4t's notional cash check refuses is unsupported",
    "stock": "allow_short_selling=True, short_cash_policy=CREDIT: submit_order(asset, size, SELL) on a short entry "
             "while flat, close_position on a short exit; StopLoss, TrailingStop (lwm), TakeProfit and TimeExit "
             "mirror themselves for a short; next_open with exit rules, and a short sale the notional cash check "
             "refuses, are unsupported",
}


def short_config(config: BacktestConfig, c: Contract) -> BacktestConfig:
    """``config`` as it must be to sell short: ``allow_short_selling`` (the crypto account: shorts, no
    leverage) with ``short_cash_policy=CREDIT``, which credits the proceeds to the cash that every later
    buy is checked against (get_spendable_cash returns the cash itself, accounting/policy.py:413). Long-only scenarios keep the
    cash account, which refuses a sell that would open a short (stock mode's ``open_exit_rules``)."""
    if c.sides == "long":
        return config
    return replace(config, allow_short_selling=True, short_cash_policy=ShortCashPolicy.CREDIT)


def signal_columns(market: Market, rows_i: np.ndarray, rows_j: np.ndarray) -> dict[str, np.ndarray]:
    """The short signal columns of the feed's signals frame (none for a long-only scenario)."""
    if market.short_entries is None:
        return {}
    return {"short_entry": market.short_entries[rows_i, rows_j].astype(np.int64),
            "short_exit": market.short_exits[rows_i, rows_j].astype(np.int64)}


def entry_side(signals: dict) -> OrderSide | None:
    """The side of the order an entry signal places: a buy (long entry), a sell (short entry), or none."""
    if signals.get("entry"):
        return OrderSide.BUY
    if signals.get("short_entry"):
        return OrderSide.SELL
    return None


def exits_position(signals: dict, short: bool) -> bool:
    """Whether the bar's signals exit a position (``short`` or long): a long exit closes a long, a short
    exit covers a short; the other side's exit does nothing."""
    return bool(signals.get("short_exit") if short else signals.get("exit"))


def market_signals(market: Market, bar: int, col: int) -> dict[str, bool]:
    """One bar's signals of one asset, keyed as the feed's signal columns."""
    out = {"entry": bool(market.entries[bar, col]), "exit": bool(market.exits[bar, col])}
    if market.short_entries is not None:
        out.update(short_entry=bool(market.short_entries[bar, col]), short_exit=bool(market.short_exits[bar, col]))
    return out


def stop_level(ref: float, pct: float, short: bool) -> float:
    """The contract's stop-loss (or trailing, from the water mark) level: ref * (1 - p), a short's
    ref * (1 + p), the expressions of ml4t's StopLoss and TrailingStop (risk/position/static.py:56, 62;
    dynamic.py:126, 207)."""
    return ref * (1 + pct) if short else ref * (1 - pct)


def tighter(level: float, than: float, short: bool) -> bool:
    """Whether a stop at ``level`` is strictly closer to the price than one at ``than``: higher for a long,
    lower for a short (``stop_resolution = "higher_level"``, mirrored)."""
    return level < than if short else level > than


def water_mark(mark: float, bar_high: float, bar_low: float, close: float, trail_source: str, short: bool) -> float:
    """The trailing stop's water mark after a bar: a long's hwm rises to the bar's high (or close), a
    short's lwm falls to its low (or close)."""
    if short:
        return min(mark, bar_low if trail_source == "high" else close)
    return max(mark, bar_high if trail_source == "high" else close)


def check_short_sales(out: Output) -> None:
    """ml4t's cash account refuses a short sale whose notional plus fee exceeds the cash plus 0.01
    (UnifiedAccountPolicy.validate_new_position under ``short_cash_policy=CREDIT``,
    accounting/policy.py:631, 653, called with the cash less the fee by accounting/gatekeeper.py:187-198);
    the contract refuses one only when cash + proceeds - fee < 0, and no behaviour knob says otherwise. A
    sale ml4t refused was decided by that rule: unsupported (``[positions] sides``), in either mode."""
    refused = [r for r in out.rejections if r.side == "sell" and r.reason == "signal"]
    if refused:
        raise Unsupported("[positions] sides", f"ml4t refused the short sale of {refused[0].asset} on bar "
                          f"{refused[0].bar}: its cash account checks a short sale's notional plus fee against the "
                          "cash (short_cash_policy=CREDIT); the contract refuses one only when cash + proceeds - fee "
                          "< 0")


def check_early_short_sales(entries: list[tuple[str, int, int, str, bool]]) -> None:
    """Contract mode, ``next_open``: the re-entry order a rule exit places (``adapters.ml4t._ContractExits``)
    is queued ahead of the bar's other orders. A short sale placed so credits its proceeds before the buys
    ml4t fills after it, where the contract fills a bar's entries in asset order: a buy of an earlier asset
    is checked there without those proceeds. Such a buy (``entries``: each entry fill's asset, column, bar,
    side and whether the rule placed it) is unsupported, whether or not it needed them."""
    sales = [(col, bar) for _, col, bar, side, early in entries if early and side == "sell"]
    for asset, col, bar, side, _ in entries:
        if side == "buy" and any(bar == b and col < j for j, b in sales):
            raise Unsupported("[execution] reentry_block", f"bar {bar}: the buy of {asset} filled after a re-entry "
                              "short sale queued ahead of the bar's other orders, whose proceeds the contract "
                              "credits only after it (entries in asset order)")


def refuse_stock_reversals(c: Contract) -> None:
    """Stock mode, ``next_open`` with exit rules: ml4t evaluates the position rules before the open fills
    (engine.py:656-660); a rule that fires on the bar whose open closes the position (signal exit) submits
    its exit order anyway (core/risk_engine.py:66-80), which meets a flat position and, with
    ``allow_short_selling``, opens the opposite side (core/execution_engine.py:136-141). In a cash account
    it is refused (``open_exit_rules = "reject"``); no value of that knob opens a position, so the
    combination is unsupported."""
    if c.sides != "long" and c.fill == "next_open" and c.has_exit_rules:
        raise Unsupported("[positions] sides", f"{c.sides!r} with fill = \"next_open\" and exit rules: a rule "
                          "that fires on the bar whose open fills the position's exit signal opens the opposite "
                          "side in stock ml4t (allow_short_selling), which no open_exit_rules value describes")
