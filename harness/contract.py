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
]

FillMode = Literal["close", "next_open"]
Side = Literal["buy", "sell"]
Reason = Literal["signal", "stop_loss", "take_profit", "trailing_stop", "time_exit", "rebalance"]

FILL_MODES: Final = ("close", "next_open")
SIZING_MODES: Final = ("fixed",)
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
        "`fixed`: every entry buys `size` units; an exit sells the whole position.",
        'mode = "fixed"',
        choices=SIZING_MODES,
    ),
    Knob(
        "sizing", "size", float,
        "Units bought per entry in `fixed` mode.",
        "size = 10.0",
        bounds=(0.0, float("inf"), False, False),
    ),
    Knob(
        "costs", "fee", float,
        "fee = f * size * fill price (size unsigned), the price being after slippage.",
        "fee = 0.001",
        bounds=(0.0, 1.0, True, False),
    ),
    Knob(
        "costs", "slippage", float,
        "Buys fill at p * (1 + s), sells at p * (1 - s).",
        "slippage = 0.0005",
        bounds=(0.0, 1.0, True, False),
    ),
)


@dataclass(frozen=True, slots=True)
class Contract:
    """The knob values one scenario fixes. Built only by the scenario loader."""

    fill: FillMode
    cash: float
    sizing_mode: Literal["fixed"]
    size: float
    fee: float
    slippage: float

    def as_dict(self) -> dict[str, object]:
        return {
            "fill": self.fill,
            "cash": self.cash,
            "sizing_mode": self.sizing_mode,
            "size": self.size,
            "fee": self.fee,
            "slippage": self.slippage,
        }


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


def knob_table_markdown() -> str:
    """The README's knob table, generated from ``KNOBS`` (a test keeps the README in step)."""
    lines = ["| knob | rule | example |", "|---|---|---|"]
    for knob in KNOBS:
        lines.append(f"| `{knob.key}` | {knob.rule} | `{knob.example}` |")
    return "\n".join(lines)
