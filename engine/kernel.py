"""The reference engine's numba kernel: plain arrays in, fill records and equity out.

The kernel holds no Python objects. Per bar and asset it runs the contract's
phases in a fixed order, each a small jitted function:

1. ``next_open`` mode: the order decided on the previous bar fills at this open;
2. (exit rules hook in here: stops checked against this bar's range;)
3. this bar's signals: fill at this close (``close`` mode) or queue for the next open.

Integer codes for sides and reasons come from ``harness.contract`` (passed in
by ``engine.reference``, which owns the translation).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Mirrors harness.contract.SIDE_CODE / REASON_CODE; engine.reference asserts they agree.
BUY = 1
SELL = -1
REASON_SIGNAL = 0

NO_ORDER = 0
ORDER_ENTRY = 1
ORDER_EXIT = -1

# Fill record columns (float64 matrix): asset, bar, side, size, price, fee, reason.
F_ASSET, F_BAR, F_SIDE, F_SIZE, F_PRICE, F_FEE, F_REASON = range(7)
N_FILL_FIELDS = 7


@njit(cache=True)
def slipped_price(price: float, side: int, slippage: float) -> float:
    """Buys pay p*(1+s), sells receive p*(1-s)."""
    if side == BUY:
        return price * (1.0 + slippage)
    return price * (1.0 - slippage)


@njit(cache=True)
def _record(fills: np.ndarray, n_fills: int, asset: int, bar: int, side: int, size: float,
            price: float, fee: float, reason: int) -> int:
    fills[n_fills, F_ASSET] = asset
    fills[n_fills, F_BAR] = bar
    fills[n_fills, F_SIDE] = side
    fills[n_fills, F_SIZE] = size
    fills[n_fills, F_PRICE] = price
    fills[n_fills, F_FEE] = fee
    fills[n_fills, F_REASON] = reason
    return n_fills + 1


@njit(cache=True)
def _sell_all(fills, n_fills, cash, position, asset, bar, raw_price, fee_rate, slippage, reason):
    """Close the whole position of ``asset`` at ``raw_price`` (before slippage)."""
    price = slipped_price(raw_price, SELL, slippage)
    qty = position[asset]
    fee = fee_rate * qty * price
    position[asset] = 0.0
    n_fills = _record(fills, n_fills, asset, bar, SELL, qty, price, fee, reason)
    return cash + qty * price - fee, n_fills


@njit(cache=True)
def _buy(fills, n_fills, cash, position, asset, bar, raw_price, size, fee_rate, slippage, reason):
    """Buy ``size`` units if cost plus fee fits in the cash; else reject the order whole.

    Returns ``(cash, n_fills, filled)``.
    """
    price = slipped_price(raw_price, BUY, slippage)
    fee = fee_rate * size * price
    cost = size * price + fee
    if cost > cash:
        return cash, n_fills, False
    position[asset] += size
    n_fills = _record(fills, n_fills, asset, bar, BUY, size, price, fee, reason)
    return cash - cost, n_fills, True


@njit(cache=True)
def simulate_signals(
    open_: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    fill_next_open: bool,
    cash0: float,
    size: float,
    fee_rate: float,
    slippage: float,
):
    """Long-only fixed-size signal execution on (n_bars, n_assets) arrays.

    Returns ``(fills, n_fills, equity, n_rejected)``: ``fills[:n_fills]`` are the
    fill records in execution order (columns ``F_*``), ``equity[i]`` the
    portfolio value at close[i] after bar i's fills.
    """
    n_bars, n_assets = close.shape
    fills = np.empty((n_bars * n_assets, N_FILL_FIELDS))
    n_fills = 0
    n_rejected = 0
    equity = np.empty(n_bars)
    position = np.zeros(n_assets)
    pending = np.zeros(n_assets, dtype=np.int8)
    cash = cash0
    last = n_bars - 1

    for i in range(n_bars):
        for j in range(n_assets):
            # Phase 1: an order queued on bar i-1 fills at open[i].
            order = pending[j]
            pending[j] = NO_ORDER
            if order == ORDER_EXIT and position[j] > 0.0:
                cash, n_fills = _sell_all(fills, n_fills, cash, position, j, i, open_[i, j],
                                          fee_rate, slippage, REASON_SIGNAL)
            elif order == ORDER_ENTRY and position[j] == 0.0:
                cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, i, open_[i, j],
                                             size, fee_rate, slippage, REASON_SIGNAL)
                n_rejected += not filled

            # Phase 3: this bar's signals. A signal on the last bar never fills.
            if i == last or np.isnan(close[i, j]):
                continue
            if exits[i, j] and position[j] > 0.0:
                if fill_next_open:
                    pending[j] = ORDER_EXIT
                else:
                    cash, n_fills = _sell_all(fills, n_fills, cash, position, j, i, close[i, j],
                                              fee_rate, slippage, REASON_SIGNAL)
            elif entries[i, j] and position[j] == 0.0:
                if fill_next_open:
                    pending[j] = ORDER_ENTRY
                else:
                    cash, n_fills, filled = _buy(fills, n_fills, cash, position, j, i, close[i, j],
                                                 size, fee_rate, slippage, REASON_SIGNAL)
                    n_rejected += not filled

        value = cash
        for j in range(n_assets):
            if position[j] != 0.0:
                value += position[j] * close[i, j]
        equity[i] = value

    return fills, n_fills, equity, n_rejected
