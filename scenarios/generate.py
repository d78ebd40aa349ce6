"""Build scenario inputs from their specs: seeded, deterministic, byte for byte.

Each generator takes the ``[generator]`` table of a scenario.toml (its ``seed``
and parameters) and returns the text of every input file. The same spec gives
the same bytes on every machine: numpy's PCG64 stream is stable across
versions, prices are rounded to cents, and floats are written with ``repr``.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Mapping

import numpy as np

from harness.results import format_float

__all__ = ["GENERATORS", "build_inputs"]

START_DATE = "2021-01-04"  # a Monday


def business_days(n: int, start: str = START_DATE) -> list[str]:
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n), roll="forward")
    return [str(d) for d in days]


def random_walk_ohlc(rng: np.random.Generator, n: int, start: float, drift: float, vol: float,
                     gap_vol: float) -> dict[str, np.ndarray]:
    """Daily bars with overnight gaps: open[t] differs from close[t-1]; prices in cents."""
    gaps = rng.normal(0.0, gap_vol, n)
    moves = rng.normal(drift, vol, n)
    wick_up = np.abs(rng.normal(0.0, vol * 0.6, n))
    wick_down = np.abs(rng.normal(0.0, vol * 0.6, n))
    volume = np.round(rng.lognormal(11.0, 0.4, n))
    opens, highs, lows, closes = (np.empty(n) for _ in range(4))
    prev_close = start
    for t in range(n):
        o = prev_close * np.exp(gaps[t])
        c = o * np.exp(moves[t])
        opens[t] = round(o, 2)
        closes[t] = round(c, 2)
        highs[t] = round(max(o, c) * np.exp(wick_up[t]), 2)
        lows[t] = round(min(o, c) * np.exp(-wick_down[t]), 2)
        # Rounding keeps low <= min(open, close) <= max(open, close) <= high (rounding is monotone).
        prev_close = c
    return {"open": opens, "high": highs, "low": lows, "close": closes, "volume": volume}


def random_signals(rng: np.random.Generator, n: int, entry_prob: float, exit_prob: float) -> tuple[np.ndarray, np.ndarray]:
    entries = rng.random(n) < entry_prob
    exits = rng.random(n) < exit_prob
    exits &= ~entries  # an entry and an exit on one bar is invalid input
    return entries, exits


def random_walk_signals(seed: int, *, bars: int, assets: int = 1, start_price: float = 100.0,
                        drift: float = 0.0003, vol: float = 0.015, gap_vol: float = 0.008,
                        entry_prob: float = 0.08, exit_prob: float = 0.08,
                        last_bar: str = "none") -> dict[str, str]:
    """Random-walk OHLC and random entry/exit signals, one column of each per asset.

    ``last_bar``: ``"entry"`` puts an entry on the last bar after an exit three
    bars before (so the book is flat and only the contract's last-bar rule stops
    the fill); ``"exit"`` puts an exit on the last bar while a position is held.
    """
    if last_bar not in ("none", "entry", "exit"):
        raise ValueError(f"last_bar must be none, entry or exit, got {last_bar!r}")
    rng = np.random.default_rng(seed)
    stamps = business_days(bars)
    names = [f"A{j:02d}" for j in range(assets)]
    price_rows: list[list[str]] = []
    signal_rows: list[list[str]] = []
    per_asset = []
    for _ in names:
        ohlc = random_walk_ohlc(rng, bars, start_price, drift, vol, gap_vol)
        entries, exits = random_signals(rng, bars, entry_prob, exit_prob)
        if last_bar == "entry":
            entries[bars - 3:] = False
            exits[bars - 3:] = False
            exits[bars - 3] = True
            entries[bars - 1] = True
        elif last_bar == "exit":
            entries[bars - 6:] = False
            exits[bars - 6:] = False
            entries[bars - 6] = True
            exits[bars - 1] = True
        per_asset.append((ohlc, entries, exits))
    for t, ts in enumerate(stamps):
        for name, (ohlc, entries, exits) in zip(names, per_asset):
            price_rows.append([ts, name] + [format_float(ohlc[c][t]) for c in ("open", "high", "low", "close", "volume")])
            signal_rows.append([ts, name, str(int(entries[t])), str(int(exits[t]))])
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "signals.csv": _csv(("timestamp", "asset", "entry", "exit"), signal_rows),
    }


def _csv(header: tuple[str, ...], rows: list[list[str]]) -> str:
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for row in rows:
        out.write(",".join(row) + "\n")
    return out.getvalue()


GENERATORS: dict[str, Callable[..., dict[str, str]]] = {
    "random_walk_signals": random_walk_signals,
}


def build_inputs(generator: Mapping[str, Any]) -> dict[str, str]:
    """The text of every input file for a scenario's ``[generator]`` table."""
    params = dict(generator)
    name = params.pop("name")
    seed = params.pop("seed")
    if name not in GENERATORS:
        raise KeyError(name)
    return GENERATORS[name](seed, **params)
