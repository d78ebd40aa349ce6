"""What the vectorbt signal and rotation paths share."""

from __future__ import annotations

import numpy as np
from vectorbt.portfolio.enums import SizeType

__all__ = ["ContractDivergence", "requested_units"]


class ContractDivergence(RuntimeError):
    """vectorbt did something the contract forbids, and the adapter cannot undo it."""


def requested_units(log) -> float:
    """The units a logged from_signals order asked for, with vectorbt's own arithmetic: ``req_size``
    (``size_type="amount"``), or req_size / val_price (``"value"``, portfolio/nb.py:443), floored to
    ``size_granularity`` when one is set (buy_nb, nb.py:145)."""
    if int(log["req_size_type"]) != SizeType.Value:
        return float(log["req_size"])
    units = abs(log["req_size"]) / log["val_price"]  # a short sale's magnitude floored alike (sell_nb, nb.py:294)
    if not np.isnan(log["req_size_granularity"]):
        units = units // log["req_size_granularity"] * log["req_size_granularity"]
    return float(units) if log["req_size"] >= 0 else -float(units)
