"""Backtrader 1.9.78.123's stock behaviour as behaviour-knob values (framework-free, importable anywhere).

:data:`PROFILE` maps each behaviour knob of ``harness.contract`` (whose
defaults are the contract) to the value under which the reference engine
reproduces stock Backtrader (``adapters._backtrader_stock``). :data:`EVIDENCE`
says, per knob, which lines of the installed Backtrader source make it so
(``backtrader/`` paths, 1.9.78.123).
"""

from __future__ import annotations

__all__ = ["PROFILE", "EVIDENCE"]

PROFILE: dict[str, object] = {
    "stop_resolution": "queue",
    "gaps_first": False,
    "trail_arithmetic": "difference",
    "stops_from": "after_booking",
    "early_exit": "after_stops",
    "fill_ref": "size_weighted",
    "submit_check": True,
    "slip_take_profit": False,
    "slippage_cap": "bar",
    "whole_rounding": "value_floor_div",
    "rebalance_sequence": "sells_then_assets",
    "percent_base": "cash",
}

EVIDENCE: dict[str, str] = {
    "stop_resolution": (
        "brokers/bbroker.py:1198-1216 runs the pending queue once per bar, oldest order first, each order "
        "tried completely by _try_exec; the stop-loss Stop is submitted before the StopTrail; its fill "
        "cancels the group through _ococheck (bbroker.py:838, 609-620)"),
    "gaps_first": (
        "brokers/bbroker.py:932-940 (_try_exec_stop, sell): the open gap, then the intrabar touch, of one order; "
        "the take-profit Limit (bbroker.py:910-919) is a later order in the queue"),
    "trail_arithmetic": (
        "order.py:595-617 (Order.trailadjust): pamount = price * trailpercent; price -= pamount; moves only up; "
        "order.py:335-339 seeds it from the order's price; brokers/bbroker.py:942-944 ratchets it on the close "
        "after each check"),
    "stops_from": (
        "orders placed from notify_order are queued in broker.submitted (bbroker.py:547-553, checksubmit) and "
        "accepted by check_submitted at the start of the next broker step (bbroker.py:1180-1181, 558-583); a coc "
        "entry is booked in the step after its signal bar (bbroker.py:855-857), so its protective orders are "
        "first tried on signal_bar + 2 (a bracket's children are likewise activated a step late: bbroker.py:604-607, "
        "1177-1178, 1210-1211)"),
    "early_exit": (
        "brokers/bbroker.py:391-396: cancel() only removes an order from broker.pending, so protective orders "
        "still in broker.submitted are not cancelled; accepted next step ahead of the exit (queue order, "
        "bbroker.py:558-590), they are tried first; a fill cancels the OCO-linked exit (bbroker.py:609-620)"),
    "fill_ref": (
        "order.py:189-199 (OrderData.addbit): executed.price = (0 * 0.0 + size * price) / size"),
    "submit_check": (
        "brokers/bbroker.py:1180-1181, 558-583 (check_submitted): each new order pseudo-executed by _execute "
        "(bbroker.py:725-738, 780-785, 811-813) at order.created.price (the signal bar's close), running cash "
        "kept even when negative; Margin when below 0"),
    "slip_take_profit": (
        "brokers/bbroker.py:917-919 (_try_exec_limit, sell): an intrabar limit executes at plimit, no _slip_down"),
    "slippage_cap": (
        "brokers/bbroker.py:326-335 set_slippage_perc defaults slip_match=True, slip_out=False; _slip_up/_slip_down "
        "(bbroker.py:994-1038) return high/low (or the limit, bbroker.py:914) when the slipped price is outside; "
        "coc market fills use the processing bar's high/low (bbroker.py:853-870: exprice = created.pclose, "
        "phigh/plow of data[0])"),
    "whole_rounding": (
        "strategy.py:1330-1376 (order_target_percent -> order_target_value): size = comminfo.getsize(price, "
        "|target - value|) = int(leverage * (cash // price)) (comminfo.py:192-197); target 0 -> close()"),
    "rebalance_sequence": (
        "the strategy submits sells, then buys, each in asset order; brokers/bbroker.py:1198-1216 executes the "
        "queue in submission order"),
    "percent_base": (
        "sizers/percents_sizer.py:39-47 (PercentSizer._getsizing): size = cash / data.close[0] * (percents / 100), "
        "int() with retint; sizer.py:50-52 passes self.broker.getcash() when the order is created in next(), "
        "before the broker executes that bar's orders"),
}
