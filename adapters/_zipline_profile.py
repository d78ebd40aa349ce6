"""zipline-reloaded 3.2.1's stock behaviour as behaviour-knob values (framework-free, importable anywhere).

:data:`PROFILE` maps each behaviour knob of ``harness.contract`` where stock
Zipline departs from the contract to Zipline's value: the reference engine
under (scenario contract + PROFILE) reproduces :class:`adapters.zipline.Zipline`'s
stock runs (the gate checks it on every stored scenario). :data:`EVIDENCE` says,
per knob, what in the installed Zipline makes it so (paths under ``zipline/`` of
3.2.1, with line numbers).
"""

from __future__ import annotations

__all__ = ["PROFILE", "EVIDENCE"]

PROFILE: dict[str, object] = {
    "stop_trigger": "close",
    "level_tick": 0.01,
    "cash_check": "none",
    "order_rounding": "near_integer",
}

EVIDENCE: dict[str, str] = {
    "stop_trigger": (
        "SlippageModel.simulate reads only the bar's close (finance/slippage.py:169) and triggers each order on it "
        "(slippage.py:184, Order.check_triggers); a sell stop triggers when close <= stop, a sell limit when "
        "close >= limit (finance/order.py:206-215); the triggered order then fills like a market order at "
        "close + close * (bp/1e4 * direction) (FixedBasisPointsSlippage.process_order, slippage.py:663-676)"),
    "level_tick": (
        "order(asset, n, stop_price=x) / limit_price=x build StopOrder/LimitOrder with the asset "
        "(algorithm.py:1324-1341), whose get_stop_price/get_limit_price round the level with "
        "asymmetric_round_price to the asset's tick_size (finance/execution.py:89-96, 123-127, 171-205; "
        "Equity.tick_size defaults to 0.01, assets/_assets.pyx:103): a sell stop rounds down, a sell limit up, "
        "consistent_round (utils/compat.py:10-14)"),
    "cash_check": (
        "the blotter fills every triggered order (finance/blotter/simulation_blotter.py:370-430) and the ledger "
        "pays it from the cash whatever it holds (finance/ledger.py:468-501, _cash_flow 462-466; commissions "
        "ledger.py:563): there is no cash check, and the cash goes below 0"),
    "order_rounding": (
        "every order amount goes through TradingAlgorithm.round_order, int(round_if_near_integer(amount)) "
        "(algorithm.py:1265-1289, utils/math_utils.py:77-85, epsilon 1e-4); order_target_percent sizes "
        "portfolio_value * w / price - position (algorithm.py:1150-1187, 1663-1665, 1733-1738, 1866, 1875-1877) "
        "before that rounding; an amount of 0 places no order (simulation_blotter.py:99-140)"),
}
