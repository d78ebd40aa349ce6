"""The execution contract: every knob, code and tolerance, defined once.

The loader validates scenario.toml against ``KNOBS``; the reference engine and
the adapters read the resulting :class:`Contract`; the README's knob table is
checked against ``KNOBS`` by a test. Nothing else restates these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "Contract",
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
    "BEHAVIOUR_DEFAULTS",
]

FillMode = Literal["close", "next_open"]
Side = Literal["buy", "sell"]
Reason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "time_exit", "rebalance"]

FILL_MODES: Final = ("close", "next_open")
SIZING_MODES: Final = ("fixed", "target_weights")
UNITS: Final = ("fractional", "whole")
STOP_REFERENCES: Final = ("close", "fill_price")
TRAIL_SOURCES: Final = ("high", "close")
# Behaviour knobs: the contract's value first. A framework's stock profile sets some of them to another value.
STOP_RESOLUTIONS: Final = ("higher_level", "queue")
TRAIL_ARITHMETICS: Final = ("product", "difference")
STOPS_FROM: Final = ("after_fill", "after_booking")
EARLY_EXITS: Final = ("cancels_stops", "after_stops")
FILL_REFS: Final = ("price", "size_weighted")
SLIPPAGE_CAPS: Final = ("none", "bar")
WHOLE_ROUNDINGS: Final = ("floor_units", "value_floor_div")
REBALANCE_SEQUENCES: Final = ("value_change", "sells_then_assets")
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
    # Behaviour knobs describe how fills are resolved; the default is the contract, a framework's stock
    # profile may set another value (see BEHAVIOUR_DEFAULTS).
    behaviour: bool = False

    @property
    def key(self) -> str:
        return f"[{self.section}] {self.name}"


KNOBS: Final[tuple[Knob, ...]] = (
    Knob(
        "execution", "fill", str,
        "A signal on bar t fills at close[t] (`close`) or open[t+1] (`next_open`); a signal on the last bar never fills.",
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
        "position. `target_weights`: rotation to the weights in weights.csv on each rebalance bar.",
        'mode = "fixed"',
        choices=SIZING_MODES,
    ),
    Knob(
        "sizing", "size", float,
        "Units bought per entry; `fixed` mode only (and required there).",
        "size = 10.0",
        bounds=(0.0, float("inf"), False, False), required=False,
    ),
    Knob(
        "sizing", "units", str,
        "`target_weights` mode: on a rebalance bar t each asset's order is w * V / close[t] - position, V the "
        "value at close[t]; sells first, then buys, in ascending order of value change, from one cash pool; "
        "a buy that does not fit is rejected whole. `whole` floors each order's size.",
        'units = "whole"',
        choices=UNITS, required=False, default=None,
    ),
    Knob(
        "costs", "fee", float,
        "fee = f * size * fill price (size unsigned), the price being after slippage.",
        "fee = 0.001",
        bounds=(0.0, 1.0, True, False),
    ),
    Knob(
        "costs", "slippage", float,
        "Buys fill at p * (1 + s), sells at p * (1 - s), stop and take-profit fills included.",
        "slippage = 0.0005",
        bounds=(0.0, 1.0, True, False),
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
        "Time exit on bar fill_bar + N, at its close (`close`) or open (`next_open`); an earlier stop wins; "
        "in `next_open` mode the exit at the open beats an intrabar stop.",
        "max_bars = 10",
        bounds=(1.0, float("inf"), True, False), required=False,
    ),
    # ---- behaviour knobs: every default is the contract; a framework's stock profile may set another value.
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
        required=False, default=True, behaviour=True,
    ),
    Knob(
        "exits", "trail_arithmetic", str,
        "The trailing level from hwm: `product` hwm * (1 - p), `difference` hwm - hwm * p (the level only ever "
        "rises: it is the largest value of the expression over the bars that raised hwm).",
        'trail_arithmetic = "difference"',
        choices=TRAIL_ARITHMETICS, required=False, default="product", behaviour=True,
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
        "execution", "submit_check", bool,
        "`true`: the orders decided on one bar are first pseudo-executed in order (exits before entries; a "
        "rebalance in its sequence) at that bar's close, unslipped, fee included, starting from the cash held "
        "before the fills of the bar they fill on: a sell adds size * close - fee, a buy takes size * close, "
        "then its fee, and is rejected whole when the running cash falls below 0 (which keeps the shortfall for "
        "the next buys). The orders that pass then fill as usual (a buy must fit again at its fill price).",
        "submit_check = true",
        required=False, default=False, behaviour=True,
    ),
    Knob(
        "costs", "slip_take_profit", bool,
        "`true`: a take-profit reached during the bar fills at level * (1 - s); `false`: at its level, unslipped "
        "(a take-profit gapped at the open is slipped either way).",
        "slip_take_profit = false",
        required=False, default=True, behaviour=True,
    ),
    Knob(
        "costs", "slippage_cap", str,
        "`none`: slipped prices as `slippage` says. `bar` (only when s > 0): a slipped buy fills at min(p * (1 + s), "
        "high), a slipped sell at max(p * (1 - s), low), high/low of the fill bar, except that a `close`-mode "
        "signal or rebalance fill at close[t] takes bar t+1's high/low, and a take-profit gapped at the open "
        "fills at max(open * (1 - s), level).",
        'slippage_cap = "bar"',
        choices=SLIPPAGE_CAPS, required=False, default="none", behaviour=True,
    ),
    Knob(
        "sizing", "whole_rounding", str,
        "`whole` units: `floor_units` floors the magnitude of w * V / close - position; `value_floor_div` sizes "
        "from the value change: a buy of (w * V - position * close) // close units, a sell of "
        "(position * close - w * V) // close units (float floor division), and the whole position when w = 0.",
        'whole_rounding = "value_floor_div"',
        choices=WHOLE_ROUNDINGS, required=False, default="floor_units", behaviour=True,
    ),
    Knob(
        "sizing", "rebalance_sequence", str,
        "Execution order of a rebalance's orders: `value_change` ascending value change w * V - position * close "
        "(stable); `sells_then_assets` every order with w * V < position * close in asset order, then the others "
        "in asset order.",
        'rebalance_sequence = "sells_then_assets"',
        choices=REBALANCE_SEQUENCES, required=False, default="value_change", behaviour=True,
    ),
)


# Behaviour knobs and their contract values; Contract.as_dict() lists one only when it differs.
BEHAVIOUR_DEFAULTS: Final = {k.name: k.default for k in KNOBS if k.behaviour}


@dataclass(frozen=True, slots=True)
class Contract:
    """The knob values one scenario fixes. Built only by the scenario loader."""

    fill: FillMode
    cash: float
    sizing_mode: Literal["fixed", "target_weights"]
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
    # Behaviour knobs (defaults: the contract).
    stop_resolution: str = BEHAVIOUR_DEFAULTS["stop_resolution"]
    gaps_first: bool = BEHAVIOUR_DEFAULTS["gaps_first"]
    trail_arithmetic: str = BEHAVIOUR_DEFAULTS["trail_arithmetic"]
    stops_from: str = BEHAVIOUR_DEFAULTS["stops_from"]
    early_exit: str = BEHAVIOUR_DEFAULTS["early_exit"]
    fill_ref: str = BEHAVIOUR_DEFAULTS["fill_ref"]
    submit_check: bool = BEHAVIOUR_DEFAULTS["submit_check"]
    slip_take_profit: bool = BEHAVIOUR_DEFAULTS["slip_take_profit"]
    slippage_cap: str = BEHAVIOUR_DEFAULTS["slippage_cap"]
    whole_rounding: str = BEHAVIOUR_DEFAULTS["whole_rounding"]
    rebalance_sequence: str = BEHAVIOUR_DEFAULTS["rebalance_sequence"]

    @property
    def has_exit_rules(self) -> bool:
        return any(v is not None for v in (self.stop_loss, self.take_profit, self.trailing_stop, self.max_bars))

    def as_dict(self) -> dict[str, object]:
        """Every knob; exit knobs only when a rule uses them (so plain scenarios keep their old records)."""
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
        for name in ("stop_loss", "take_profit", "trailing_stop", "max_bars"):
            if getattr(self, name) is not None:
                doc[name] = getattr(self, name)
        if self.stop_loss is not None or self.take_profit is not None or self.trailing_stop is not None:
            doc["stop_reference"] = self.stop_reference
        if self.trailing_stop is not None:
            doc["trail_source"] = self.trail_source
        for name, default in BEHAVIOUR_DEFAULTS.items():
            if getattr(self, name) != default:
                doc[name] = getattr(self, name)
        return doc

    def with_profile(self, profile: dict[str, object]) -> "Contract":
        """This contract with a framework profile's behaviour knobs set (the profile wins)."""
        from dataclasses import replace

        unknown = sorted(set(profile) - set(BEHAVIOUR_DEFAULTS))
        if unknown:
            raise KeyError(f"not behaviour knobs: {unknown}")
        return replace(self, **profile)



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
2. Stops, from the bar after the entry fill: stop-loss/trailing level gapped (open <= level) -> fill at
   the open; take-profit gapped (open >= level) -> open; low <= level -> the level; high >= take-profit
   level -> that level. Then the trailing hwm rises with this bar's `trail_source`.
3. Exits at the close (`close`), or decided for the next open (`next_open`): a time exit due
   (fill_bar + N), or an exit signal. An asset a stop closed on this bar has nothing left to exit.
4. Entries at the close (`close`), or decided for the next open (`next_open`); an entry is ignored
   while long, while an order is pending, and (`close`) on a bar where the asset's exit filled.
Nothing decided on the last bar fills. Exit reasons: an exit that is both a signal and a time exit is
labelled `signal`; a stop exit is `trailing_stop` when the trailing level is strictly above the
stop-loss level (or there is no stop-loss), else `stop_loss`.
"""


def knob_table_markdown() -> str:
    """The README's knob table, generated from ``KNOBS`` (a test keeps the README in step)."""
    lines = ["| knob | rule | example |", "|---|---|---|"]
    for knob in KNOBS:
        lines.append(f"| `{knob.key}` | {knob.rule} | `{knob.example}` |")
    return "\n".join(lines)
