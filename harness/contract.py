"""The execution contract: every knob, code and tolerance, defined once.

The loader validates scenario.toml against ``KNOBS``; the reference engine and
the adapters read the resulting :class:`Contract`; the README's knob table is
checked against ``KNOBS`` by a test. Nothing else restates these facts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, Mapping

__all__ = [
    "Contract",
    "apply_profile",
    "KNOB_BY_FIELD",
    "BEHAVIOUR_KNOBS",
    "BEHAVIOUR_DEFAULTS",
    "knob_key",
    "knob_problem",
    "toml_value",
    "Knob",
    "KNOBS",
    "FILL_MODES",
    "SIDES",
    "REASONS",
    "SIDE_CODE",
    "REASON_CODE",
    "Tolerances",
    "TOLERANCES",
    "knob_table_markdown",
    "EXIT_PRECEDENCE",
    "STOP_REFERENCES",
    "TRAIL_SOURCES",
    "POSITION_SIDES",
]

FillMode = Literal["close", "next_open", "next_close"]
Side = Literal["buy", "sell"]
Reason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "time_exit", "rebalance"]

FILL_MODES: Final = ("close", "next_open", "next_close")
SIZING_MODES: Final = ("fixed", "target_weights", "percent_of_equity", "target_value")
SIGNAL_SIZING_MODES: Final = ("fixed", "percent_of_equity", "target_value")  # entry/exit signals (signals.csv)
# The [sizing] field that sizes each mode's orders (target_weights: the weights file).
SIZING_FIELD: Final = MappingProxyType({"fixed": "size", "target_weights": None, "percent_of_equity": "fraction",
                                        "target_value": "value"})
UNITS: Final = ("fractional", "whole")
STOP_REFERENCES: Final = ("close", "fill_price")
TRAIL_SOURCES: Final = ("high", "close")
# Behaviour knobs: the contract's value first; a framework's stock profile may set another.
LAST_BAR: Final = ("skip", "fill")
STOP_RESOLUTIONS: Final = ("higher_level", "queue")
TRAIL_ARITHMETIC: Final = ("product", "difference")
STOPS_FROM: Final = ("after_fill", "after_booking")
EARLY_EXITS: Final = ("cancels_stops", "after_stops")
FILL_REFS: Final = ("price", "size_weighted")
SLIPPAGE_CAPS: Final = ("none", "bar")
WHOLE_ROUNDINGS: Final = ("floor_units", "value_floor_div", "truncate_at_fill")
REBALANCE_SEQUENCES: Final = ("value_change", "sells_then_assets")
OPEN_EXIT_RULES: Final = ("skip", "reject")
TIME_SIGNAL_LABELS: Final = ("signal", "time_exit")
TRAIL_ENTRY_BARS: Final = ("skip", "close")
REENTRY_BLOCKS: Final = ("exit_close", "rule_trigger")
CASH_SLACKS: Final = (0.0, 0.01)
ORDER_SIZES: Final = ("units", "value_delta")
MIN_ORDER_VALUES: Final = (0.0, 0.01)
WHOLE_SHORTFALLS: Final = ("reject", "partial")
SELL_RESIDUES: Final = ("exact", "tolerant")
ARITHMETICS: Final = ("contract", "ledger")
STOP_TRIGGERS: Final = ("range", "close")
LEVEL_TICKS: Final = (0.0, 0.01)
CASH_CHECKS: Final = ("reject", "none")
ORDER_ROUNDINGS: Final = ("none", "near_integer")
PERCENT_BASES: Final = ("equity", "cash", "cash_at_fill")
POSITION_SIDES: Final = ("long", "short", "both")  # which positions a signal scenario's signals open
SIDES: Final = ("buy", "sell")
REASONS: Final = ("signal", "stop_loss", "take_profit", "trailing_stop", "time_exit", "rebalance")

# Integer codes used inside numba kernels; the order is part of the kernel ABI.
SIDE_CODE: Final = {"buy": 1, "sell": -1}
REASON_CODE: Final = {name: code for code, name in enumerate(REASONS)}


@dataclass(frozen=True, slots=True)
class Knob:
    """One contract knob as it appears in scenario.toml."""

    section: str
    name: str
    kind: type
    rule: str
    example: str
    choices: tuple[str, ...] = ()
    # Open/closed numeric bounds: (low, high, low_inclusive, high_inclusive).
    bounds: tuple[float, float, bool, bool] | None = None
    # Optional knobs may be left out; ``default`` is then used (None: the rule is off).
    required: bool = True
    default: object = None
    # The Contract field it sets, when not ``name`` (``[sizing] mode`` sets ``sizing_mode``).
    field_name: str = ""
    # A behaviour knob: the contract's rule is its default; framework profiles set other values.
    behaviour: bool = False

    @property
    def key(self) -> str:
        return f"[{self.section}] {self.name}"

    @property
    def field(self) -> str:
        return self.field_name or self.name


KNOBS: Final[tuple[Knob, ...]] = (
    Knob(
        "execution", "fill", str,
        "A signal on bar t fills at close[t] (`close`), open[t+1] (`next_open`) or close[t+1] (`next_close`); a "
        "signal on the last bar never fills.",
        'fill = "next_open"',
        choices=FILL_MODES,
    ),
    Knob(
        "portfolio", "cash", float,
        "Starting cash of the portfolio.",
        "cash = 100000.0",
        bounds=(0.0, float("inf"), False, False),
    ),
    Knob(
        "sizing", "mode", str,
        "`fixed`: entry/exit signals (signals.csv); every entry buys `size` units, an exit sells the whole "
        "position. `percent_of_equity`, `target_value`: the same signals, each entry sized at its decision bar's "
        "close by `fraction` or `value`. `target_weights`: rotation to the weights in weights.csv on each "
        "rebalance bar.",
        'mode = "fixed"',
        choices=SIZING_MODES, field_name="sizing_mode",
    ),
    Knob(
        "sizing", "size", float,
        "Units bought per entry; `fixed` mode only (and required there).",
        "size = 10.0",
        bounds=(0.0, float("inf"), False, False), required=False,
    ),
    Knob(
        "sizing", "fraction", float,
        "`percent_of_equity` mode only (and required there): an entry decided on bar t buys p * V / close[t] "
        "units, p this fraction and V = cash + each position * close[t] (asset order), the cash and positions "
        "as they stand when step 4 starts on bar t (after that bar's exits and earlier fills; every entry of the "
        "bar sees the same V). A size that is not > 0 places no order; a buy whose cost plus fee does not fit "
        "in the cash at its fill is rejected whole, as in `fixed` mode.",
        "fraction = 0.25",
        bounds=(0.0, 1.0, False, True), required=False,
    ),
    Knob(
        "sizing", "value", float,
        "`target_value` mode only (and required there): an entry decided on bar t buys value / close[t] units. "
        "A buy whose cost plus fee does not fit in the cash at its fill is rejected whole, as in `fixed` mode.",
        "value = 5000.0",
        bounds=(0.0, float("inf"), False, False), required=False,
    ),
    Knob(
        "sizing", "units", str,
        "`target_weights` mode: on a rebalance bar t each asset's order is w * V / close[t] - position, V the "
        "value at close[t]; sells first, then buys, in ascending order of value change, from one cash pool; "
        "a buy that does not fit is rejected whole. `whole` floors each order's size. `percent_of_equity` and "
        "`target_value` modes: `whole` floors each entry's size (0 units: no order). Default `fractional`; not in "
        "`fixed` mode.",
        'units = "whole"',
        choices=UNITS, required=False, default=None,
    ),
    Knob(
        "costs", "fee", float,
        "fee = f * size * fill price (size unsigned), the price being after slippage (`fixed_fee`, `per_share` "
        "and `min_fee` add to it).",
        "fee = 0.001",
        bounds=(0.0, 1.0, True, False),
    ),
    Knob(
        "costs", "slippage", float,
        "Buys fill at p * (1 + s), sells at p * (1 - s), stop and take-profit fills included (`slippage_abs` adds "
        "to it).",
        "slippage = 0.0005",
        bounds=(0.0, 1.0, True, False),
    ),
    Knob(
        "costs", "fixed_fee", float,
        "A fixed amount added to the fee of every fill, buy or sell, whatever its size: fee = f * size * price "
        "+ commission (see `per_share`) + fixed_fee, summed in that order.",
        "fixed_fee = 1.0",
        bounds=(0.0, float("inf"), True, False), required=False, default=0.0,
    ),
    Knob(
        "costs", "per_share", float,
        "Commission per unit c: a fill's commission is max(c * size, m), m the `min_fee`; its fee is f * size * "
        "price + commission + `fixed_fee`, summed in that order (`arithmetic = \"ledger\"` computes only the first "
        "term its own way). With c, m and the fixed fee 0 the fee is f * size * price.",
        "per_share = 0.005",
        bounds=(0.0, float("inf"), True, False), required=False, default=0.0,
    ),
    Knob(
        "costs", "min_fee", float,
        "Per-order minimum of the per-share commission: a fill pays max(c * size, m) in place of c * size. The "
        "minimum applies to that commission alone: the percentage fee and `fixed_fee` are added to it in full "
        "and never count toward it. Needs `per_share` > 0 (a flat amount per order is `fixed_fee`).",
        "min_fee = 1.0",
        bounds=(0.0, float("inf"), True, False), required=False, default=0.0,
    ),
    Knob(
        "costs", "slippage_abs", float,
        "Absolute slippage a, in price units, applied after the percentage slippage s: a buy fills at "
        "p * (1 + s) + a, a sell at p * (1 - s) - a (`arithmetic = \"ledger\"`: (p + p * s) + a, (p - p * s) - a), "
        "on every fill that `slippage` slips (signal, rebalance, time-exit and stop fills at the open, the level "
        "or the close; a take-profit with `slip_take_profit = false` is slipped by neither). `slippage_cap = "
        "\"bar\"` then caps the slipped price (when s > 0 or a > 0). a must be below (1 - s) * the lowest low of "
        "the scenario's prices, so that every sell price is positive.",
        "slippage_abs = 0.01",
        bounds=(0.0, float("inf"), True, False), required=False, default=0.0,
    ),
    Knob(
        "positions", "sides", str,
        "Which positions a signal scenario opens. `long`: signals.csv has the columns entry and exit. `short`, "
        "`both`: it also has short_entry and short_exit (`short`: entry and exit are all 0); a short entry sells "
        "the entry's units short under the same fill and sizing rules, a short exit buys the whole short back "
        "(cover). One position per asset: an entry of either side is ignored while the asset holds a position "
        "or has an order pending. Cash: a short sale credits its proceeds minus its fee to the cash, and is "
        "rejected whole only when cash + proceeds - fee < 0; a cover always fills; the value counts a short at "
        "-units * close. Exit rules mirror: stop-loss level ref * (1 + p) (gap: open >= level, else high >= "
        "level), take-profit ref * (1 - q) (gap: open <= level, else low <= level), trailing level lwm * (1 + p) "
        "with lwm falling to each bar's low (`trail_source = \"high\"`) or close; `higher_level` takes the lower "
        "of the stop-loss and trailing levels; slipped buys cap at the bar's high (`slippage_cap`) and a gapped "
        "take-profit at its level; `level_tick` rounds a short's stop-loss as a long's take-profit and back. A "
        "short's fills are a `sell` (entry) and a `buy` (exit). Signal scenarios only.",
        'sides = "both"',
        choices=POSITION_SIDES, required=False, default="long",
    ),
    Knob(
        "exits", "stop_loss", float,
        "Level ref * (1 - p), checked from the bar after the entry fill: fill at the open if open <= level (gap), "
        "else at the level if low <= level. Beats take-profit on a bar that reaches both.",
        "stop_loss = 0.05",
        bounds=(0.0, 1.0, False, False), required=False,
    ),
    Knob(
        "exits", "take_profit", float,
        "Level ref * (1 + q): fill at the open if open >= level (gap), else at the level if high >= level.",
        "take_profit = 0.10",
        bounds=(0.0, float("inf"), False, False), required=False,
    ),
    Knob(
        "exits", "stop_reference", str,
        "ref is the close of the entry-fill bar (`close`) or the entry fill price after slippage (`fill_price`).",
        'stop_reference = "fill_price"',
        choices=STOP_REFERENCES, required=False, default="close",
    ),
    Knob(
        "exits", "trailing_stop", float,
        "hwm starts at ref; on each bar after the entry bar the level hwm * (1 - p) is checked first (gap rule as "
        "stop-loss), then hwm rises to the bar's `trail_source`. With `stop_loss` too, the higher level applies.",
        "trailing_stop = 0.08",
        bounds=(0.0, 1.0, False, False), required=False,
    ),
    Knob(
        "exits", "trail_source", str,
        "What raises the trailing stop's hwm: each bar's `high` or its `close`.",
        'trail_source = "close"',
        choices=TRAIL_SOURCES, required=False, default="high",
    ),
    Knob(
        "exits", "max_bars", int,
        "Time exit on bar fill_bar + N, at its close (`close`; `next_close`, decided on bar fill_bar + N - 1) or "
        "open (`next_open`); an earlier stop wins; in `next_open` mode the exit at the open beats an intrabar stop.",
        "max_bars = 10",
        bounds=(1.0, float("inf"), True, False), required=False,
    ),
    # ---- behaviour knobs: the contract's rule is the default; a framework's stock profile sets others
    Knob(
        "execution", "last_bar", str,
        "`skip`: nothing decided on the last bar fills. `fill` (`close` mode): signals and rebalances on the last "
        "bar fill at its close like on any other bar (in `next_open` mode nothing decided there fills either way).",
        'last_bar = "fill"',
        choices=LAST_BAR, required=False, default="skip", behaviour=True,
    ),
    Knob(
        "execution", "open_exit_first", bool,
        "`next_open` mode: `true`: an exit (signal or time) filling at the open beats every stop on that bar. "
        "`false`: the bar's stops are checked first (from the position's first stop bar); a stop that fills "
        "replaces the exit.",
        "open_exit_first = false",
        choices=(True, False), required=False, default=True, behaviour=True,
    ),
    Knob(
        "execution", "open_exit_rules", str,
        "`next_open` mode, a position whose exit (signal or time) fills at a bar's open: `skip`: its exit rules "
        "are not checked on that bar. `reject`: they are, from its first stop bar, as if it were still open (its "
        "stops as in step 2, then a time exit due under `time_exit_first = false`); the exit still fills, and the "
        "first rule that triggers is recorded as a rejected sell of the position's size with that rule's reason.",
        'open_exit_rules = "reject"',
        choices=OPEN_EXIT_RULES, required=False, default="skip", behaviour=True,
    ),
    Knob(
        "execution", "reentry_block", str,
        "`exit_close`: an entry is ignored only as step 4 says (`close` mode, on a bar where the asset's exit "
        "filled). `rule_trigger`: also, in either mode, on a bar where one of the asset's exit rules (a stop, or a "
        "time exit under `time_exit_first = false`) triggered, whether its sell filled or was rejected.",
        'reentry_block = "rule_trigger"',
        choices=REENTRY_BLOCKS, required=False, default="exit_close", behaviour=True,
    ),
    Knob(
        "execution", "stops_before_open_entries", bool,
        "`next_open` mode: `false`: a bar's open entries fill (step 1) before its stops (step 2). `true`: step 2 "
        "(stops, and time exits under `time_exit_first = false`) runs between the open exits and the open "
        "entries, so its proceeds can pay for them.",
        "stops_before_open_entries = true",
        choices=(True, False), required=False, default=False, behaviour=True,
    ),
    Knob(
        "execution", "submit_check", bool,
        "`true`: the orders decided on one bar are first pseudo-executed in order (exits before entries; a "
        "rebalance in its sequence) at that bar's close, unslipped, fee included, starting from the cash held "
        "before the fills of the bar they fill on: a sell adds size * close - fee, a buy takes size * close, "
        "then its fee, and is rejected whole when the running cash falls below 0 (which keeps the shortfall for "
        "the next buys). The orders that pass then fill as usual (a buy must fit again at its fill price).",
        "submit_check = true",
        choices=(True, False), required=False, default=False, behaviour=True,
    ),
    Knob(
        "exits", "stop_resolution", str,
        "`higher_level`: stop-loss and trailing stop act as one stop at the higher of the two levels. `queue`: "
        "they are two stops, checked one after the other (stop-loss, then trailing stop), each at its own level "
        "with its own label; the first that fills wins.",
        'stop_resolution = "queue"',
        choices=STOP_RESOLUTIONS, required=False, default="higher_level", behaviour=True,
    ),
    Knob(
        "exits", "gaps_first", bool,
        "`true`: every stop level and the take-profit are first checked for a gap at the open (in check order), "
        "then for an intrabar touch (in check order). `false`: each stop level is checked completely (gap, then "
        "intrabar) before the next, and the take-profit last. Check order: the stop(s) (see `stop_resolution`), "
        "then the take-profit.",
        "gaps_first = false",
        choices=(True, False), required=False, default=True, behaviour=True,
    ),
    Knob(
        "exits", "time_exit_first", bool,
        "`next_open` mode: `true`: the time exit is decided on bar fill_bar + N - 1 and fills at the open of "
        "fill_bar + N (step 1). `false`: it is an exit rule of bar fill_bar + N, checked in step 2 after that "
        "bar's stops: when none fills, it fills at that bar's open, slipped, labelled `time_exit` (an exit signal "
        "on bar fill_bar + N - 1 is then a plain signal exit).",
        "time_exit_first = false",
        choices=(True, False), required=False, default=True, behaviour=True,
    ),
    Knob(
        "exits", "time_signal_label", str,
        "`close` mode: an exit that is both an exit signal and a time exit is labelled `signal` or `time_exit`.",
        'time_signal_label = "time_exit"',
        choices=TIME_SIGNAL_LABELS, required=False, default="signal", behaviour=True,
    ),
    Knob(
        "exits", "trail_entry_bar", str,
        "`skip`: the trailing hwm starts at ref and first rises on the position's first stop bar. `close`: at "
        "the end of the entry-fill bar it already rises to that bar's close.",
        'trail_entry_bar = "close"',
        choices=TRAIL_ENTRY_BARS, required=False, default="skip", behaviour=True,
    ),
    Knob(
        "exits", "trail_arithmetic", str,
        "The trailing level from hwm: `product` hwm * (1 - p), `difference` hwm - hwm * p (the level only ever "
        "rises: it is the largest value of the expression over the bars that raised hwm).",
        'trail_arithmetic = "difference"',
        choices=TRAIL_ARITHMETIC, required=False, default="product", behaviour=True,
    ),
    Knob(
        "exits", "stops_from", str,
        "First bar on which a position's stops are checked and its trailing hwm rises: `after_fill` the bar "
        "after the entry fill; `after_booking` bar signal_bar + 2 (the bar after the entry fill in `next_open` "
        "mode, the second bar after it in `close` mode, where bar fill_bar + 1 neither checks a stop nor raises "
        "hwm).",
        'stops_from = "after_booking"',
        choices=STOPS_FROM, required=False, default="after_fill", behaviour=True,
    ),
    Knob(
        "exits", "fill_ref", str,
        "With `stop_reference = \"fill_price\"`: ref is the entry's fill price (`price`) or (size * price) / size "
        "(`size_weighted`, the average an order's execution record keeps; it can be 1 ulp off the price).",
        'fill_ref = "size_weighted"',
        choices=FILL_REFS, required=False, default="price", behaviour=True,
    ),
    Knob(
        "exits", "early_exit", str,
        "A signal or time exit decided on bar signal_bar + 1 of the position's entry: `cancels_stops` like any "
        "exit (its stops are off from the decision on); `after_stops` the stops stay on: on the next bar they "
        "are checked first (as in step 2), and a stop that fills there replaces the exit; otherwise the exit "
        "fills as usual (`close`: at the deciding bar's close; `next_open`: at the next open).",
        'early_exit = "after_stops"',
        choices=EARLY_EXITS, required=False, default="cancels_stops", behaviour=True,
    ),
    Knob(
        "costs", "slip_take_profit", bool,
        "`true`: a take-profit reached during the bar fills at level * (1 - s); `false`: at its level, unslipped "
        "(a take-profit gapped at the open is slipped either way).",
        "slip_take_profit = false",
        choices=(True, False), required=False, default=True, behaviour=True,
    ),
    Knob(
        "costs", "cash_slack", float,
        "A buy fits when size * price <= (cash - fee) + slack (`0`: when size * price + fee <= cash, as the "
        "contract says), price after slippage.",
        "cash_slack = 0.01",
        choices=CASH_SLACKS, required=False, default=0.0, behaviour=True,
    ),
    Knob(
        "costs", "arithmetic", str,
        "Float expressions. `contract`: buy price p * (1 + s), sell p * (1 - s), fee f * size * price, cash after "
        "a sell cash + size * price - fee, a value cash + each position * close in asset order. `ledger`: "
        "p + p * s, p - p * s, size * price * f, cash + (size * price - fee) and, in `target_weights` mode, the "
        "positions taken in the order they were opened: added one by one to the cash for V, summed from 0 and "
        "then added to the cash for the equity.",
        'arithmetic = "ledger"',
        choices=ARITHMETICS, required=False, default="contract", behaviour=True,
    ),
    Knob(
        "costs", "slippage_cap", str,
        "`none`: slipped prices as `slippage` (and `slippage_abs`) say. `bar` (only when s > 0 or a > 0): a "
        "slipped buy fills at min(p * (1 + s) + a, high), a slipped sell at max(p * (1 - s) - a, low), high/low of the fill bar, except that a `close`-mode "
        "signal or rebalance fill at close[t] takes bar t+1's high/low, and a take-profit gapped at the open "
        "fills at max(open * (1 - s) - a, level).",
        'slippage_cap = "bar"',
        choices=SLIPPAGE_CAPS, required=False, default="none", behaviour=True,
    ),
    Knob(
        "sizing", "order_size", str,
        "`target_weights` mode: an order's unrounded size is w * V / close - position (`units`) or "
        "(V * w - position * close) / close (`value_delta`); `whole` units round it as `whole_rounding` says.",
        'order_size = "value_delta"',
        choices=ORDER_SIZES, required=False, default="units", behaviour=True,
    ),
    Knob(
        "sizing", "min_order_value", float,
        "`target_weights` mode: an asset whose |w * V - position * close| is below this value gets no order.",
        "min_order_value = 0.01",
        choices=MIN_ORDER_VALUES, required=False, default=0.0, behaviour=True,
    ),
    Knob(
        "sizing", "whole_rounding", str,
        "`whole` units: `floor_units` floors the magnitude of the order's size before it is placed (0: no order); "
        "`truncate_at_fill` places it unrounded and floors its magnitude when it executes: an order that floors "
        "to 0 is a rejection, and a rejection records the unrounded size; `value_floor_div` sizes from the value "
        "change: a buy of (w * V - position * close) // close units, a sell of (position * close - w * V) // "
        "close units (float floor division), and the whole position when w = 0.",
        'whole_rounding = "value_floor_div"',
        choices=WHOLE_ROUNDINGS, required=False, default="floor_units", behaviour=True,
    ),
    Knob(
        "sizing", "whole_shortfall", str,
        "`whole` units, a rebalance buy that does not fit: `reject` it whole; `partial`: cut it to the largest "
        "whole size that fits at the unslipped price, then buy that if it fits at the fill price (else, or if it "
        "is 0, the order is rejected with its size).",
        'whole_shortfall = "partial"',
        choices=WHOLE_SHORTFALLS, required=False, default="reject", behaviour=True,
    ),
    Knob(
        "sizing", "sell_residue", str,
        "`target_weights` sells: `exact`: the position decreases by the order's size. `tolerant`: a sell larger "
        "than the position is rejected (a reversal), and a position left within max(1e-12, 16 ulp(max(|position|, "
        "size))) of 0 is set to 0.",
        'sell_residue = "tolerant"',
        choices=SELL_RESIDUES, required=False, default="exact", behaviour=True,
    ),
    Knob(
        "sizing", "rebalance_sequence", str,
        "Execution order of a rebalance's orders: `value_change` ascending value change w * V - position * close "
        "(stable); `sells_then_assets` every order with w * V < position * close in asset order, then the others "
        "in asset order.",
        'rebalance_sequence = "sells_then_assets"',
        choices=REBALANCE_SEQUENCES, required=False, default="value_change", behaviour=True,
    ),
    Knob(
        "exits", "stop_trigger", str,
        "`range`: stops as step 2 says (the open for a gap, then the low or high). `close`: a stop looks at the "
        "bar's close only: the stop-loss (or trailing) level is hit when close <= level and the take-profit when "
        "close >= level, each filling at that close (slipped as a stop fill, see `slip_take_profit`); a bar whose "
        "range crosses a level but whose close does not fills nothing.",
        'stop_trigger = "close"',
        choices=STOP_TRIGGERS, required=False, default="range", behaviour=True,
    ),
    Knob(
        "exits", "level_tick", float,
        "`0`: stop-loss and take-profit levels as computed. t > 0: each is moved onto the tick grid before it is "
        "used: a stop-loss level L to t * r((L - d) / t), a take-profit level to t * r((L + d) / t), with d = "
        "(0.95 - 0.5) * t - 10 * 2**-52 and r(x) = ceil(x) when x % 1 >= 0.5, else floor(x) (float arithmetic as "
        "written; a result within 1e-6 of 0 is 0): a stop rounds down unless within 0.05 t below a tick, a "
        "take-profit up unless within 0.05 t above one. The trailing level is not moved.",
        "level_tick = 0.01",
        choices=LEVEL_TICKS, required=False, default=0.0, behaviour=True,
    ),
    Knob(
        "portfolio", "cash_check", str,
        "`reject`: a buy that does not fit in the cash (see `cash_slack`) is rejected whole. `none`: there is no "
        "cash check: every buy fills, and the cash may go below 0.",
        'cash_check = "none"',
        choices=CASH_CHECKS, required=False, default="reject", behaviour=True,
    ),
    Knob(
        "sizing", "order_rounding", str,
        "`none`: orders as the sizing rules say. `near_integer`: every order is for whole units, made from its "
        "unrounded size q (a fixed entry's `size`; a `percent_of_equity` or `target_value` entry's size, and a "
        "rebalance order's size before `whole_rounding`, in either `units`, which then does not apply): round(q) (half to even) when |q - round(q)| <= 1e-4, else q "
        "truncated toward 0; an order of 0 units is not placed.",
        'order_rounding = "near_integer"',
        choices=ORDER_ROUNDINGS, required=False, default="none", behaviour=True,
    ),
    Knob(
        "sizing", "percent_base", str,
        "`percent_of_equity` mode: what the fraction p multiplies. `equity`: V as `fraction` says. `cash`: the "
        "cash alone as it stands when the bar's decisions begin, after its open fills, its stops and its "
        "`next_close` fills but before its exits at the close (`close` mode), the same for every entry of the "
        "bar: units = cash / close[t] * p, computed in that order (a sizer that reads the broker's cash while "
        "the bar's orders are still unfilled). `cash_at_fill`: sized at the fill from the cash as it stands then (after the fills "
        "before it): units = ((p * cash - fixed_fee) / (1 + f)) / fill price, so that cost plus fee spend p of "
        "the cash (whole units: floored); an entry of 0 units places no order.",
        'percent_base = "cash"',
        choices=PERCENT_BASES, required=False, default="equity", behaviour=True,
    ),
)

KNOB_BY_FIELD: Final = MappingProxyType({knob.field: knob for knob in KNOBS})
BEHAVIOUR_KNOBS: Final = tuple(knob for knob in KNOBS if knob.behaviour)
BEHAVIOUR_DEFAULTS: Final = MappingProxyType({knob.field: knob.default for knob in BEHAVIOUR_KNOBS})


def knob_key(field: str) -> str:
    """``[section] name`` of a Contract field (the field itself when it is not a knob, e.g. ``mode``)."""
    knob = KNOB_BY_FIELD.get(field)
    return knob.key if knob else field


def knob_problem(knob: Knob, value: object) -> str | None:
    """What is wrong with ``value`` for ``knob`` (None: nothing). Types are checked strictly."""
    if value is None:
        return None if not knob.required else "missing"
    if knob.kind is bool and not isinstance(value, bool):
        return f"must be true or false, got {toml_value(value)}"
    if knob.choices:
        if isinstance(value, bool) != (knob.kind is bool) or value not in knob.choices:
            return f"must be one of {', '.join(toml_value(c) for c in knob.choices)}, got {toml_value(value)}"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (knob.kind is int and not isinstance(value, int)):
        return f"must be {'an integer' if knob.kind is int else 'a number'}, got {toml_value(value)}"
    if not math.isfinite(value):
        return f"must be finite, got {toml_value(value)}"
    if knob.bounds is not None:
        lo, hi, lo_inc, hi_inc = knob.bounds
        if not ((value >= lo if lo_inc else value > lo) and (value <= hi if hi_inc else value < hi)):
            return f"must be in {'[' if lo_inc else '('}{lo:g}, {hi:g}{']' if hi_inc else ')'}, got {toml_value(value)}"
    return None


# Sizing fields a mode requires or forbids (SIZING_FIELD), units included; cost knobs beside fee and slippage.
SIZING_FIELDS: Final = ("size", "fraction", "value", "units")
COST_EXTRAS: Final = ("fixed_fee", "per_share", "min_fee", "slippage_abs")


def sizing_problem(mode: str, given: Mapping[str, object]) -> tuple[str, str, str] | None:
    """What is wrong with the [sizing] fields ``given`` (field -> value, None: absent) for ``mode``:
    ``(knob key, problem, fix)``, or None. ``units`` must already be filled in for the modes that take it."""
    needed = SIZING_FIELD.get(mode)
    for field in ("size", "fraction", "value"):
        value, knob = given.get(field), KNOB_BY_FIELD[field]
        if field == needed:
            problem = "missing" if value is None else knob_problem(knob, value)
            if problem:
                return knob.key, problem, f"add {knob.example} under [sizing]: {mode} mode sizes every entry by it"
        elif value is not None:
            owner = next(m for m, f in SIZING_FIELD.items() if f == field)
            return knob.key, f"applies to {owner} mode only", f"remove it: {mode} mode sizes by " + (
                f"`{needed}`" if needed else "the weights")
    units = given.get("units")
    if mode == "fixed":
        if units is not None:
            return "[sizing] units", "applies to target_weights, percent_of_equity and target_value modes only", "remove it"
    else:
        problem = knob_problem(KNOB_BY_FIELD["units"], units) if units is not None else "missing"
        if problem:
            return "[sizing] units", problem, 'e.g. units = "whole" (the loader fills in "fractional")'
    return None


def costs_problem(min_fee: float, per_share: float) -> tuple[str, str, str] | None:
    """``min_fee`` is a minimum of the per-share commission: it needs ``per_share``."""
    if min_fee > 0.0 and not per_share > 0.0:
        return ("[costs] min_fee", "is a minimum of the per-share commission and needs per_share > 0",
                "add per_share = ... under [costs], or use fixed_fee for a flat amount per order")
    return None


def toml_value(value: object) -> str:
    """A value as scenario.toml writes it: true, "queue", 0.05."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)




@dataclass(frozen=True, slots=True)
class Contract:
    """The knob values one scenario fixes (validated on construction against ``KNOBS``)."""

    fill: FillMode
    cash: float
    sizing_mode: Literal["fixed", "target_weights", "percent_of_equity", "target_value"]
    size: float | None
    fee: float
    slippage: float
    units: Literal["fractional", "whole"] | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    stop_reference: Literal["close", "fill_price"] = "close"
    trailing_stop: float | None = None
    trail_source: Literal["high", "close"] = "high"
    max_bars: int | None = None
    fraction: float | None = None
    value: float | None = None
    fixed_fee: float = 0.0
    per_share: float = 0.0
    min_fee: float = 0.0
    slippage_abs: float = 0.0
    sides: Literal["long", "short", "both"] = "long"
    # behaviour knobs (defaults: the contract's rules)
    last_bar: Literal["skip", "fill"] = "skip"
    open_exit_first: bool = True
    open_exit_rules: Literal["skip", "reject"] = "skip"
    reentry_block: Literal["exit_close", "rule_trigger"] = "exit_close"
    stops_before_open_entries: bool = False
    submit_check: bool = False
    stop_resolution: Literal["higher_level", "queue"] = "higher_level"
    gaps_first: bool = True
    time_exit_first: bool = True
    time_signal_label: Literal["signal", "time_exit"] = "signal"
    trail_entry_bar: Literal["skip", "close"] = "skip"
    trail_arithmetic: Literal["product", "difference"] = "product"
    stops_from: Literal["after_fill", "after_booking"] = "after_fill"
    fill_ref: Literal["price", "size_weighted"] = "price"
    early_exit: Literal["cancels_stops", "after_stops"] = "cancels_stops"
    slip_take_profit: bool = True
    cash_slack: float = 0.0
    arithmetic: Literal["contract", "ledger"] = "contract"
    slippage_cap: Literal["none", "bar"] = "none"
    order_size: Literal["units", "value_delta"] = "units"
    min_order_value: float = 0.0
    whole_rounding: Literal["floor_units", "value_floor_div", "truncate_at_fill"] = "floor_units"
    whole_shortfall: Literal["reject", "partial"] = "reject"
    sell_residue: Literal["exact", "tolerant"] = "exact"
    rebalance_sequence: Literal["value_change", "sells_then_assets"] = "value_change"
    stop_trigger: Literal["range", "close"] = "range"
    level_tick: float = 0.0
    cash_check: Literal["reject", "none"] = "reject"
    order_rounding: Literal["none", "near_integer"] = "none"
    percent_base: Literal["equity", "cash"] = "equity"

    def __post_init__(self) -> None:
        for knob in KNOBS:
            value = getattr(self, knob.field)
            if knob.field in SIZING_FIELDS:
                continue  # required or forbidden by sizing mode, checked below
            problem = knob_problem(knob, value)
            if problem:
                raise ValueError(f"{knob.key}: {problem}")
        problem = sizing_problem(self.sizing_mode, {f: getattr(self, f) for f in SIZING_FIELDS})
        if problem is None:
            problem = costs_problem(self.min_fee, self.per_share)
        if problem:
            key, what, fix = problem
            raise ValueError(f"{key}: {what}; {fix}")

    @property
    def has_exit_rules(self) -> bool:
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop, self.max_bars))

    @property
    def has_stops(self) -> bool:
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop))

    def as_dict(self) -> dict[str, object]:
        """The knobs in use: exit knobs when a rule uses them, behaviour knobs when not at the contract's rule."""
        doc: dict[str, object] = {
            "fill": self.fill,
            "cash": self.cash,
            "sizing_mode": self.sizing_mode,
            "fee": self.fee,
            "slippage": self.slippage,
        }
        if self.size is not None:
            doc["size"] = self.size
        if self.units is not None:
            doc["units"] = self.units
        for name in ("fraction", "value"):
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        for name in COST_EXTRAS:
            if getattr(self, name) != KNOB_BY_FIELD[name].default:
                doc[name] = getattr(self, name)
        if self.sides != "long":
            doc["sides"] = self.sides
        for name in ("stop_loss", "take_profit", "trailing_stop", "max_bars"):
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        if self.has_stops:
            doc["stop_reference"] = self.stop_reference
        if self.trailing_stop is not None:
            doc["trail_source"] = self.trail_source
        for knob in BEHAVIOUR_KNOBS:
            if getattr(self, knob.field) != knob.default:
                doc[knob.field] = getattr(self, knob.field)
        return doc

    def replace(self, **changes: object) -> Contract:
        return dataclasses.replace(self, **changes)


def apply_profile(contract: Contract, profile: Mapping[str, object]) -> tuple[Contract, str | None]:
    """``contract`` with a framework profile's behaviour knobs applied.

    Returns ``(contract, conflict)``: ``conflict`` names a knob the scenario itself
    sets to a non-default value other than the profile's (the framework cannot
    follow it), else None.
    """
    changes = {}
    for field, value in profile.items():
        knob = KNOB_BY_FIELD.get(field)
        if knob is None or not knob.behaviour:
            raise KeyError(f"{field!r} is not a behaviour knob: a profile may set behaviour knobs only")
        current = getattr(contract, field)
        if current != knob.default and current != value:
            return contract, field
        changes[field] = value
    return dataclasses.replace(contract, **changes), None


@dataclass(frozen=True, slots=True)
class Tolerances:
    """How close an engine must come to the golden outputs.

    Bar, side, asset and reason are compared exactly. Relative differences are
    ``|obtained - expected| / max(|expected|, tiny)``.
    """

    price_rel: float = 1e-12
    size_rel: float = 1e-9
    fee_rel: float = 1e-9
    value_rel: float = 1e-9


TOLERANCES: Final = Tolerances()


EXIT_PRECEDENCE: Final = """\
Per bar, in time order; each step runs for every asset before the next step starts
(the reference kernel's phases; adapters reproduce it):
1. `next_open` only: orders decided on the previous bar fill at this open, all exits before all
   entries. An asset whose exit filled at the open has no stop checked on this bar.
2. Stops, from the bar after the entry fill, while no exit is decided: stop-loss/trailing level gapped
   (open <= level) -> fill at the open; take-profit gapped (open >= level) -> open; low <= level -> the
   level; high >= take-profit level -> that level. Then the trailing hwm rises with this bar's `trail_source`.
   A short position mirrors every comparison (see `[positions] sides`).
3. `next_close` only: orders decided on the previous bar fill at this close, all exits before all entries.
   Then exits at the close (`close`), or decided for the next open (`next_open`) or close (`next_close`):
   a time exit due (fill_bar + N), or an exit signal. An asset a stop closed on this bar has nothing left
   to exit.
4. Entries at the close (`close`), or decided for the next open (`next_open`) or close (`next_close`); an
   entry (long or short) is ignored while the asset holds a position, while an order is pending, and (`close`) on a bar where the asset's exit
   filled.
Nothing decided on the last bar fills. Exit reasons: an exit that is both a signal and a time exit is
labelled `signal`; a stop exit is `trailing_stop` when the trailing level is strictly above the
stop-loss level (or there is no stop-loss), else `stop_loss`.
"""


def knob_table_markdown() -> str:
    """The README's knob table, generated from ``KNOBS`` (a test keeps the README in step).

    Behaviour knobs say their contract value: a scenario leaves them out unless it
    tests the other behaviour; framework profiles set them.
    """
    lines = ["| knob | rule | example |", "|---|---|---|"]
    for knob in KNOBS:
        rule = knob.rule
        if knob.behaviour:
            rule = f"*Behaviour; contract: `{toml_value(knob.default)}`.* {rule}"
        lines.append(f"| `{knob.key}` | {rule} | `{knob.example}` |")
    return "\n".join(lines)
