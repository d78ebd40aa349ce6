"""Short positions in both vectorbt paths: the signals, and a short's one stop-loss slot as vectorbt computes it.

vectorbt 1.2.0 mirrors every stop for a short itself (portfolio/nb.py:1861-1890 ``get_stop_price_nb``:
stop-loss ``init * (1 + p)``, gap ``level <= open``; take-profit ``init * (1 - q)``, gap ``open <= level``;
the trailing price falls to each bar's low, nb.py:2669-2672, static simulator 2124-2128), and with
``lock_cash=False`` a short sale credits ``size * price - fee`` to the cash without a cash check
(nb.py:215-340 ``sell_nb``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["short_signals", "sl_fraction_short_nb"]


def short_signals(market) -> tuple[np.ndarray, np.ndarray]:
    """(short entries, short exits) of the market, all False for a long-only scenario."""
    if market.short_entries is None:
        none = np.zeros(market.entries.shape, dtype=np.bool_)
        return none, none
    return market.short_entries, market.short_exits


@njit
def sl_fraction_short_nb(base, level, hint):
    """A fraction s >= 0 with ``base * (1 + s) == level``, as get_stop_price_nb computes a short's SL slot.

    Exact to the bit when some float s allows it (tried: ``hint``, then s = u - 1 for u within 8 ulps of
    level/base; u - 1 is exact for u >= 1); else the nearest, level/base - 1.
    """
    if base * (1.0 + hint) == level:
        return hint
    u0 = level / base
    lo = u0
    hi = u0
    for _ in range(8):
        s = lo - 1.0
        if s >= 0.0 and base * (1.0 + s) == level:
            return s
        s = hi - 1.0
        if s >= 0.0 and base * (1.0 + s) == level:
            return s
        lo = np.nextafter(lo, -np.inf)
        hi = np.nextafter(hi, np.inf)
    return max(u0 - 1.0, 0.0)
