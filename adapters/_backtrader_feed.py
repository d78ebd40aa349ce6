"""Bars in for Backtrader: the scenario's arrays as one data feed per asset column.

Shared by the signal path (adapters/backtrader.py) and the rotation path
(adapters/_backtrader_rotation.py).
"""

from __future__ import annotations

from datetime import datetime, timezone

import backtrader as bt
import numpy as np

from adapters import _backtrader_costs as costs

__all__ = ["ArrayFeed", "datenums", "add_feeds", "configure_broker"]


def datenums(timestamps: tuple[str, ...]) -> np.ndarray:
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


class ArrayFeed(bt.feed.DataBase):
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


def add_feeds(cerebro: bt.Cerebro, market, nums: np.ndarray) -> None:
    """One :class:`ArrayFeed` per asset column, named by the asset."""
    for j, asset in enumerate(market.assets):
        columns = {
            "datetime": nums,
            "open": np.asarray(market.open[:, j], dtype=np.float64),
            "high": np.asarray(market.high[:, j], dtype=np.float64),
            "low": np.asarray(market.low[:, j], dtype=np.float64),
            "close": np.asarray(market.close[:, j], dtype=np.float64),
            "volume": np.asarray(market.volume[:, j], dtype=np.float64),
        }
        cerebro.adddata(ArrayFeed(columns=columns), name=asset)


def configure_broker(broker, contract) -> None:
    """The broker settings every path shares (see adapters/backtrader.py's docstring for why each).

    Cash check at execution, at the real fill price (``set_checksubmit(False)``);
    coc for ``close`` fills; percent commission on the slipped price (plus the contract's fixed and
    per-share fees, :mod:`adapters._backtrader_costs`); slippage on market, limit and stop fills,
    never clamped to the processing bar's range.
    """
    broker.set_cash(contract.cash)
    broker.set_checksubmit(False)
    broker.set_coc(contract.fill == "close")
    costs.configure_costs(broker, contract)
