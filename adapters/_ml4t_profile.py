"""ml4t-backtest 0.2.0's stock behaviour as behaviour-knob values (framework-free, importable anywhere).

:data:`PROFILE` maps each behaviour knob of ``harness.contract`` where stock
ml4t departs from the contract to ml4t's value: the reference engine under
(scenario contract + PROFILE) reproduces :class:`adapters.ml4t.Ml4t`'s stock
runs (the gate checks it on every stored scenario). :data:`EVIDENCE` says, per
knob, what in the installed ml4t makes it so (paths under ``ml4t/backtest/``
of 0.2.0, with line numbers).
"""

from __future__ import annotations

__all__ = ["PROFILE", "EVIDENCE"]

PROFILE: dict[str, object] = {
    "last_bar": "fill",
    "open_exit_rules": "reject",
    "reentry_block": "rule_trigger",
    "stops_before_open_entries": True,
    "stop_resolution": "queue",
    "gaps_first": False,
    "time_exit_first": False,
    "time_signal_label": "time_exit",
    "trail_entry_bar": "close",
    "cash_slack": 0.01,
    "arithmetic": "ledger",
    "order_size": "value_delta",
    "min_order_value": 0.01,
    "whole_rounding": "truncate_at_fill",
    "whole_shortfall": "partial",
    "sell_residue": "tolerant",
    "rebalance_sequence": "sells_then_assets",
}

EVIDENCE: dict[str, str] = {
    "last_bar": (
        "engine.py's bar loop (497-714) has no special last bar: in SAME_BAR mode an order placed in on_data of the "
        "last bar fills in that bar's post-strategy order pass at its close; in NEXT_BAR mode it has no next open"),
    "open_exit_rules": (
        "NEXT_BAR: the position rules run (engine.py:656) before the open fills (engine.py:660); a rule's market "
        "sell (core/risk_engine.py:66-80) meets a position the open exit has closed, becomes an opening order "
        "(core/execution_engine.py:140-141) and is refused as a short in a cash account (accounting/policy.py:537)"),
    "reentry_block": (
        "a rule exit puts the asset in stop_exits_this_bar when it is submitted (core/risk_engine.py:80); "
        "OrderBook.submit_order returns no order for it while it is flat (core/order_book.py:121-124) until the "
        "set is cleared at the next bar (broker.py:3359)"),
    "stops_before_open_entries": (
        "fill_ordering EXIT_FIRST (the default): every exit of a pass, rule exits included, before any entry "
        "(core/execution_engine.py:133-167)"),
    "stop_resolution": (
        "RuleChain.evaluate returns the first rule that does not HOLD (risk/position/composite.py:30-36); "
        "StopLoss is listed before TrailingStop, each fills at its own level with its own reason"),
    "gaps_first": (
        "each rule is complete in itself: StopLoss gap, then range (risk/position/static.py:89-101), TrailingStop "
        "(risk/position/dynamic.py:126-146), TakeProfit (risk/position/static.py:189-201) after the stops"),
    "time_exit_first": (
        "TimeExit is a rule (risk/position/static.py:240-245: bars_held >= max_bars) evaluated in the chain after "
        "the stops at the start of bar fill_bar + N; its market sell fills at that bar's open in NEXT_BAR mode "
        "(engine.py:660)"),
    "time_signal_label": (
        "SAME_BAR: the rule's exit is processed in the order pass before on_data (engine.py:686), so the "
        "strategy's exit signal on that bar finds the position gone; the fill carries the rule's reason"),
    "trail_entry_bar": (
        "Broker._update_water_marks runs at the end of every bar (engine.py:710) and raises a new position's "
        "high-water mark with its close (broker.py:3379-3412; bar extremes only from the next bar)"),
    "cash_slack": (
        "the cash account accepts an order when order_cost <= cash + CASH_TOLERANCE (accounting/policy.py:652-653; "
        "CASH_TOLERANCE = 0.01, core/shared.py:17)"),
    "arithmetic": (
        "slipped prices p + p * s (execution/fill_executor.py:554), commission q * p * f (models.py:332), cash "
        "cash + (q * p - fee) (execution/fill_executor.py:445-446); the rebalance value adds positions in the "
        "order they were opened (core/portfolio_ledger.py:151-165), the equity is cash + their sum "
        "(core/portfolio_ledger.py:67-76, 113)"),
    "order_size": (
        "Broker._order_to_target_value: delta_value = target - q * p; delta_qty = delta_value / p "
        "(broker.py:3081-3091)"),
    "min_order_value": (
        "rebalance_to_weights and _order_to_target_value skip |delta| < 0.01 (broker.py:3084, 3190)"),
    "whole_rounding": (
        "share_type INTEGER: the order keeps its unrounded quantity and is truncated with int() when it executes "
        "(core/fill_engine.py:52); 0 is a rejected order (core/execution_engine.py:118-124) whose "
        "requested_quantity is the unrounded one (types.py:238-240)"),
    "whole_shortfall": (
        "an INTEGER order that does not fit is cut to the largest whole quantity that fits at the unslipped price "
        "(core/execution_engine.py:653-664, core/fill_engine.py:70-84) and refused if that does not fit at the "
        "slipped price (execution/fill_executor.py:245-258)"),
    "sell_residue": (
        "a sell above the position is not an exit (core/shared.py:67-68) and is refused as a short; a remainder "
        "within 16 ulp snaps to 0 (execution/fill_executor.py:785, core/shared.py:31-40)"),
    "rebalance_sequence": (
        "rebalance_to_weights sorts each asset into sells (target - current < 0) or buys and submits the sells, "
        "then the buys, each in the order of the weights given (broker.py:3185-3233)"),
}
