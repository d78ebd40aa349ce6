"""vectorbt 1.2.0's stock behaviour as behaviour-knob values (framework-free, importable anywhere).

:data:`PROFILE` maps each behaviour knob of ``harness.contract`` where stock
``vbt.Portfolio.from_signals`` departs from the contract to vectorbt's value:
the reference engine under (scenario contract + PROFILE) reproduces
:mod:`adapters._vectorbt_stock`'s runs (the gate checks it on every stored
scenario). :data:`EVIDENCE` says, per knob, what in the installed vectorbt makes
it so (paths under ``vectorbt/`` of 1.2.0, with line numbers).
"""

from __future__ import annotations

__all__ = ["PROFILE", "EVIDENCE"]

PROFILE: dict[str, object] = {
    "last_bar": "fill",
    "open_exit_first": False,
    "gaps_first": False,
    "percent_base": "cash_at_fill",
}

EVIDENCE: dict[str, str] = {
    "last_bar": (
        "Portfolio.from_signals with entries/exits and no callbacks runs the static simulator "
        "(portfolio/base.py:3000-3008, can_use_static -> dispatch.simulate_from_signals -> "
        "portfolio/nb.py:1916 simulate_from_signals_nb), which loops over every bar alike (nb.py:2044, "
        "'for i in range(target_shape[0])'): a signal on the last bar is an order at that bar's price, its close "
        "when price=close (shifted signals, next_open and next_close, have no bar after the last one); with a "
        "time-exit signal_func_nb, simulate_from_signal_func_nb (nb.py:2418) loops the same way (nb.py:2563)"),
    "open_exit_first": (
        "on every bar the stops are checked before the signals (nb.py:2083-2128, get_stop_price_nb), and when one is "
        "hit 'Stop signal comes first' (nb.py:2132-2149): the bar's entries/exits are read only in the else branch "
        "(nb.py:2150-2157, 'Read signals directly from arrays'), so a stop hit on the bar where a shifted exit "
        "signal fills at the open replaces it (a gap at its open price, an intrabar stop at its level); with a "
        "time-exit signal_func_nb the same: nb.py:2677 'Stop signal comes first', signal_func_nb is called only in "
        "the else branch (nb.py:2694-2705)"),
    "gaps_first": (
        "the stop-loss slot is checked completely first, get_stop_price_nb (nb.py:1861-1890: open <= level -> open, "
        "else low <= level <= high -> level), and the take-profit only when that returned NaN "
        "(nb.py:2108, 'if np.isnan(stop_price) and not np.isnan(tp_curr_stop[col])'; nb.py:2652 in "
        "simulate_from_signal_func_nb)"),
    "percent_base": (
        "size_type='percent' (portfolio/nb.py:1770 admits it in from_signals): the order goes to buy_nb with "
        "size=inf and percent=p, which takes cash_limit = percent * cash (nb.py:115-117), the cash as it stands "
        "at the fill, and buys (cash_limit - fixed_fees) / (1 + fees) / adj_price units, adj_price the fill price "
        "after slippage (nb.py:160-177; floored to size_granularity, nb.py:168-170)"),
}
