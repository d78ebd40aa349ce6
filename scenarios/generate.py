"""Build scenario inputs from their specs: seeded, deterministic, byte for byte.

Each generator takes the ``[generator]`` table of a scenario.toml (its ``seed``
and parameters) and returns the text of every input file. The same spec gives
the same bytes on every machine: numpy's PCG64 stream is stable across
versions, prices are rounded (to cents unless a spec says ``decimals``), and floats are written with ``repr``.

The real-data generators (``real_sma_signals``, ``real_momentum_rotation``)
read published market data committed once under ``scenarios/_data/`` (its
README records where each file came from); they check each file's sha256
against the spec and compute their signals with exactly rounded sums
(``math.fsum``), so they too give the same bytes everywhere.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np



def format_float(value: float) -> str:
    """A float as every CSV of this project writes it: its repr, which reads back to the same double.

    Defined here, not imported, so the inputs' generator depends on nothing of the
    harness (harness.build imports this module); tests/core keeps the two in step.
    """
    return repr(float(value))

__all__ = ["GENERATORS", "build_inputs"]

START_DATE = "2021-01-04"  # a Monday
DATA_DIR = Path(__file__).resolve().parent / "_data"  # committed raw market data (see _data/README.md)


def business_days(n: int, start: str = START_DATE) -> list[str]:
    days = np.busday_offset(np.datetime64(start, "D"), np.arange(n), roll="forward")
    return [str(d) for d in days]


def random_walk_ohlc(rng: np.random.Generator, n: int, start: float, drift: float, vol: float,
                     gap_vol: float, decimals: int = 2) -> dict[str, np.ndarray]:
    """Daily bars with overnight gaps: open[t] differs from close[t-1]; prices rounded to ``decimals``
    places (cents by default; 3 puts them on the 0.001 grid that Zipline stores prices on)."""
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
        opens[t] = o
        closes[t] = c
        highs[t] = max(o, c) * np.exp(wick_up[t])
        lows[t] = min(o, c) * np.exp(-wick_down[t])
        prev_close = c
    # numpy's rounding (one algorithm for scalars and arrays) is monotone, so
    # low <= min(open, close) <= max(open, close) <= high survives it.
    opens, highs, lows, closes = (np.round(a, decimals) for a in (opens, highs, lows, closes))
    return {"open": opens, "high": highs, "low": lows, "close": closes, "volume": volume}


def random_signals(rng: np.random.Generator, n: int, entry_prob: float, exit_prob: float) -> tuple[np.ndarray, np.ndarray]:
    entries = rng.random(n) < entry_prob
    exits = rng.random(n) < exit_prob
    exits &= ~entries  # an entry and an exit on one bar is invalid input
    return entries, exits


def random_walk_signals(seed: int, *, bars: int, assets: int = 1, start_price: float = 100.0,
                        drift: float = 0.0003, vol: float = 0.015, gap_vol: float = 0.008,
                        entry_prob: float = 0.08, exit_prob: float = 0.08,
                        last_bar: str = "none", decimals: int = 2, volume: float | None = None,
                        sides: str = "long") -> dict[str, str]:
    """Random-walk OHLC and random entry/exit signals, one column of each per asset.

    ``sides`` (``[positions] sides``): ``"short"`` writes the random signals as short ones (the long
    columns all 0); ``"both"`` draws short signals too, after the long ones, and drops a short entry on a
    bar with a long entry.

    ``last_bar``: ``"entry"`` puts an entry on the last bar after an exit three
    bars before (so the book is flat and only the contract's last-bar rule stops
    the fill); ``"exit"`` puts an exit on the last bar while a position is held.
    ``decimals``: the price grid (see :func:`random_walk_ohlc`). ``volume``: every
    bar's volume instead of random ones (the random draws still happen, so the
    prices stay those of the same seed); large inputs compress far better.
    Assets are named A00, A01, ... (three digits from 101 assets on).
    """
    if volume is not None and not (math.isfinite(volume) and volume >= 0):
        raise ValueError(f"volume must be a finite number >= 0, got {volume!r}")
    if last_bar not in ("none", "entry", "exit"):
        raise ValueError(f"last_bar must be none, entry or exit, got {last_bar!r}")
    if sides not in ("long", "short", "both"):
        raise ValueError(f"sides must be long, short or both, got {sides!r}")
    rng = np.random.default_rng(seed)
    stamps = business_days(bars)
    width = max(2, len(str(assets - 1)))
    names = [f"A{j:0{width}d}" for j in range(assets)]
    price_rows: list[list[str]] = []
    signal_rows: list[list[str]] = []
    per_asset = []
    for _ in names:
        ohlc = random_walk_ohlc(rng, bars, start_price, drift, vol, gap_vol, decimals)
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
        if volume is not None:
            ohlc["volume"] = np.full(bars, float(volume))
        none = np.zeros(bars, dtype=np.bool_)
        if sides == "short":
            entries, exits, short_entries, short_exits = none, none, entries, exits
        elif sides == "both":
            short_entries, short_exits = random_signals(rng, bars, entry_prob, exit_prob)
            short_entries &= ~entries
        else:
            short_entries, short_exits = none, none
        marks = (entries, exits, short_entries, short_exits) if sides != "long" else (entries, exits)
        per_asset.append((ohlc, marks))
    # Each asset's rows after the timestamp, written once per asset: large inputs build in seconds.
    price_tails, signal_tails = [], []
    for name, (ohlc, marks) in zip(names, per_asset):
        cells = [[format_float(v) for v in ohlc[c].tolist()] for c in ("open", "high", "low", "close", "volume")]
        price_tails.append([",".join((name, *bar)) for bar in zip(*cells)])
        signal_tails.append([",".join((name, *(str(int(v)) for v in row))) for row in zip(*(m.tolist() for m in marks))])
    for t, ts in enumerate(stamps):
        for prices_tail, signals_tail in zip(price_tails, signal_tails):
            price_rows.append([ts, prices_tail[t]])
            signal_rows.append([ts, signals_tail[t]])
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "signals.csv": _csv(signal_header(sides), signal_rows),
    }


def signal_header(sides: str) -> tuple[str, ...]:
    """signals.csv's columns for ``[positions] sides``."""
    long_only = ("timestamp", "asset", "entry", "exit")
    return long_only if sides == "long" else long_only + ("short_entry", "short_exit")


def _csv(header: tuple[str, ...], rows: list[list[str]]) -> str:
    out = io.StringIO()
    out.write(",".join(header) + "\n")
    for row in rows:
        out.write(",".join(row) + "\n")
    return out.getvalue()


def hand_built(seed: int, *, bars: list[list[float]] | Mapping[str, list[list[float]]],
               entries: list[int] | Mapping[str, list[int]] = (), exits: list[int] | Mapping[str, list[int]] = (),
               asset: str = "A00", short_entries: list[int] | Mapping[str, list[int]] | None = None,
               short_exits: list[int] | Mapping[str, list[int]] | None = None) -> dict[str, str]:
    """Bars written out in the spec as [open, high, low, close] rows; signals as lists of bar indices.

    One asset (``asset``): ``bars`` is a list of rows, ``entries``/``exits`` lists of bars.
    Several: ``bars`` maps each asset to its rows (all the same length), ``entries``/``exits``
    map an asset to its bars (an asset left out has none).
    ``short_entries``/``short_exits`` (either given: ``[positions] sides`` short or both) add the short
    columns, written the same way.
    ``seed`` is unused (the bars are the data) but kept so every spec has one.
    """
    del seed
    shorts = short_entries is not None or short_exits is not None
    given = {"entries": entries, "exits": exits, "short_entries": short_entries or (),
             "short_exits": short_exits or ()}
    if isinstance(bars, Mapping):
        if not all(isinstance(v, Mapping) or v == () for v in given.values()):
            raise ValueError("with bars per asset, the signals map an asset to its bars")
        table, marks_of = dict(bars), {k: dict(v or {}) for k, v in given.items()}
    else:
        table, marks_of = {asset: bars}, {k: {asset: v} for k, v in given.items()}
    names = sorted(table)
    lengths = {len(table[a]) for a in names}
    if len(lengths) != 1:
        raise ValueError(f"every asset needs the same number of bars, got {sorted(lengths)}")
    n = lengths.pop()
    for name, by_asset in marks_of.items():
        for a, marks in by_asset.items():
            if a not in table:
                raise ValueError(f"{name}: unknown asset {a!r}")
            for bar in marks:
                if not (isinstance(bar, int) and 0 <= bar < n):
                    raise ValueError(f"{name}: bar {bar!r} is not an index of the {n} bars")
    for a in names:
        for k, row in enumerate(table[a]):
            if len(row) != 4:
                raise ValueError(f"bars[{k}] must be [open, high, low, close], got {row!r}")
    stamps = business_days(n)
    price_rows = [[ts, a] + [format_float(v) for v in table[a][t]] + [format_float(1000.0)]
                  for t, ts in enumerate(stamps) for a in names]
    kinds = ("entries", "exits", "short_entries", "short_exits") if shorts else ("entries", "exits")
    signal_rows = [[ts, a] + [str(int(t in marks_of[k].get(a, ()))) for k in kinds]
                   for t, ts in enumerate(stamps) for a in names]
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "signals.csv": _csv(signal_header("both" if shorts else "long"), signal_rows),
    }


def top_k_momentum(seed: int, *, assets: int, bars: int, k: int, gross: float, lookback: int = 20,
                   rebalance_every: int = 5, vol: float = 0.02, gap_vol: float = 0.008,
                   listing: Mapping[str, int] | None = None, drop_out: Mapping[str, int] | None = None,
                   decimals: int = 2) -> dict[str, str]:
    """A momentum rotation: every ``rebalance_every`` bars, hold the ``k`` assets with the best
    ``lookback``-bar return at ``gross / k`` each (the others at 0).

    ``listing`` maps an asset to its first bar (no prices before it; it needs
    ``lookback`` bars of history before it can be picked); ``drop_out`` maps an
    asset to the bar from which it leaves the universe (weight 0, prices go on).
    ``decimals``: the price grid (see :func:`random_walk_ohlc`).
    """
    listing = dict(listing or {})
    drop_out = dict(drop_out or {})
    if not 0 < k <= assets:
        raise ValueError(f"k must be in 1..{assets}, got {k}")
    if not 0.0 < gross <= 1.0:
        raise ValueError(f"gross must be in (0, 1], got {gross}")
    names = [f"A{j:02d}" for j in range(assets)]
    for name in (*listing, *drop_out):
        if name not in names:
            raise ValueError(f"unknown asset {name!r} in listing/drop_out (assets are A00..A{assets - 1:02d})")
    rng = np.random.default_rng(seed)
    stamps = business_days(bars)
    first = np.array([listing.get(n, 0) for n in names])
    leave = np.array([drop_out.get(n, bars) for n in names])
    columns = {c: np.full((bars, assets), np.nan) for c in ("open", "high", "low", "close", "volume")}
    for j in range(assets):
        start = round(float(rng.uniform(20.0, 200.0)), 2)
        drift = float(rng.normal(0.0003, 0.0006))
        ohlc = random_walk_ohlc(rng, bars, start, drift, vol, gap_vol, decimals)
        for c in columns:
            columns[c][first[j]:, j] = ohlc[c][: bars - first[j]]
    close = columns["close"]

    price_rows, weight_rows = [], []
    weight = gross / k
    as_lists = {c: columns[c].tolist() for c in columns}  # Python floats: repr is their shortest round trip
    for t, ts in enumerate(stamps):
        listed = [j for j in range(assets) if t >= first[j]]
        for j in listed:
            price_rows.append([ts, names[j]] + [format_float(as_lists[c][t][j]) for c in ("open", "high", "low", "close", "volume")])
        if t < lookback or (t - lookback) % rebalance_every:
            continue
        eligible = [j for j in listed if t - lookback >= first[j] and t < leave[j]]
        scores = {j: close[t, j] / close[t - lookback, j] - 1.0 for j in eligible}
        picked = set(sorted(eligible, key=lambda j: (-scores[j], j))[:k])
        for j in listed:
            weight_rows.append([ts, names[j], format_float(weight if j in picked else 0.0)])
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "weights.csv": _csv(("timestamp", "asset", "weight"), weight_rows),
    }


# ------------------------------------------------------------------ real market data
#
# Raw files live once in scenarios/_data/, byte for byte as published upstream;
# nothing is fetched at build time. Each spec names its file in a [generator.source]
# table with its provenance, and the build refuses a file whose sha256 differs.

SOURCE_KEYS = ("file", "repo", "path", "commit", "blob", "licence", "sha256")


def _raw_rows(source: Mapping[str, Any]) -> list[dict[str, str]]:
    """The rows of a committed raw CSV (header names as published), after checking its provenance record."""
    if not isinstance(source, Mapping):
        raise ValueError(f"source must be a table ({', '.join(SOURCE_KEYS)}), got {source!r}")
    missing = [k for k in SOURCE_KEYS if not isinstance(source.get(k), str) or not source[k]]
    if missing:
        raise ValueError(f"source {source.get('file', '?')!r}: missing {', '.join(missing)} (provenance is required)")
    unknown = sorted(set(source) - set(SOURCE_KEYS) - {"asset"})
    if unknown:
        raise ValueError(f"source {source['file']!r}: unknown key(s) {', '.join(unknown)}")
    path = DATA_DIR / source["file"]
    if path.parent != DATA_DIR or not path.is_file():
        raise ValueError(f"source file {source['file']!r} is not a file in scenarios/_data/")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != source["sha256"]:
        raise ValueError(f"scenarios/_data/{source['file']} has sha256 {digest[:12]}..., the spec records "
                         f"{source['sha256'][:12]}...: restore the file from {source['repo']} {source['commit'][:10]}")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _ohlcv(rows: list[dict[str, str]], file: str) -> dict[str, list]:
    """Timestamp and Open/High/Low/Close/Volume columns of raw rows, values as published.

    The timestamp is the first column, whatever its header ("" or "Date");
    "YYYY-MM-DD HH:MM:SS" becomes "YYYY-MM-DDTHH:MM:SS" (the loader's ISO form).
    Every other column (e.g. "Adj Close") is dropped. Prices are not touched:
    a raw bar that breaks an input rule reaches the loader, which refuses it.
    """
    if not rows:
        raise ValueError(f"{file}: no rows")
    ts_col = next(iter(rows[0]))
    out: dict[str, list] = {"timestamp": [], "open": [], "high": [], "low": [], "close": [], "volume": []}
    for k, row in enumerate(rows):
        stamp = row[ts_col]
        if len(stamp) == 19 and stamp[10] == " ":
            stamp = stamp[:10] + "T" + stamp[11:]
        out["timestamp"].append(stamp)
        for col in ("open", "high", "low", "close", "volume"):
            try:
                out[col].append(float(row[col.capitalize()]))
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{file}: row {k + 2}: column {col.capitalize()!r} is missing or not a number") from None
    return out


def _sma(values: Sequence[float], n: int) -> list[float]:
    """Simple moving average (NaN for the first n-1 bars); math.fsum: exactly rounded, the same everywhere."""
    return [math.fsum(values[t - n + 1: t + 1]) / n if t >= n - 1 else math.nan for t in range(len(values))]


def sma_cross_signals(close: Sequence[float], fast: int, slow: int, entry_rule: str) -> tuple[list[bool], list[bool]]:
    """Exit when the fast SMA crosses below the slow one; enter when it crosses above
    (``entry_rule = "cross"``) or on every bar it is above (``"state"``: re-enters the bar
    after a stop, once the contract allows it)."""
    if not 0 < fast < slow:
        raise ValueError(f"need 0 < fast < slow, got fast={fast}, slow={slow}")
    if entry_rule not in ("cross", "state"):
        raise ValueError(f"entry_rule must be cross or state, got {entry_rule!r}")
    f, s = _sma(close, fast), _sma(close, slow)
    n = len(close)
    above = [t >= slow - 1 and f[t] > s[t] for t in range(n)]
    below = [t >= slow - 1 and f[t] < s[t] for t in range(n)]
    exits = [t >= slow and below[t] and not below[t - 1] for t in range(n)]
    if entry_rule == "state":
        entries = above
    else:
        entries = [t >= slow and above[t] and not above[t - 1] for t in range(n)]
    return entries, exits


def real_sma_signals(seed: int, *, source: Mapping[str, Any], asset: str, fast: int, slow: int,
                     entry_rule: str = "cross") -> dict[str, str]:
    """One asset's published OHLCV bars (scenarios/_data/, see ``source``) with SMA-cross signals.

    ``seed`` is unused (the data and the rule are deterministic) but kept so every spec has one.
    """
    del seed
    bars = _ohlcv(_raw_rows(source), source["file"])
    entries, exits = sma_cross_signals(bars["close"], fast, slow, entry_rule)
    cols = ("open", "high", "low", "close", "volume")
    price_rows = [[ts, asset] + [format_float(bars[c][t]) for c in cols] for t, ts in enumerate(bars["timestamp"])]
    signal_rows = [[ts, asset, str(int(entries[t])), str(int(exits[t]))] for t, ts in enumerate(bars["timestamp"])]
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "signals.csv": _csv(("timestamp", "asset", "entry", "exit"), signal_rows),
    }


def real_momentum_rotation(seed: int, *, sources: Sequence[Mapping[str, Any]], k: int, gross: float,
                           lookback: int, end: str = "common") -> dict[str, str]:
    """A monthly top-``k`` momentum rotation over published daily bars (one ``sources`` table per asset).

    Calendar: the union of the files' dates, cut at the last date every file has
    (``end = "common"``: a file that stops early would otherwise leave its asset
    without bars, which the loader refuses). An asset lists at its file's first row.
    Rebalance bars: the last bar of each calendar month (the data's last bar is not one).
    On each, the ``k`` listed assets with the best ``lookback``-bar return (those with at
    least ``lookback`` earlier bars; ties by asset order) get ``gross / k``, the others 0.
    ``seed`` is unused.
    """
    del seed
    if end != "common":
        raise ValueError(f"end must be 'common', got {end!r}")
    if not sources:
        raise ValueError("sources: need at least one asset")
    if not 0 < k <= len(sources):
        raise ValueError(f"k must be in 1..{len(sources)}, got {k}")
    if not 0.0 < gross <= 1.0:
        raise ValueError(f"gross must be in (0, 1], got {gross}")
    if lookback < 1:
        raise ValueError(f"lookback must be positive, got {lookback}")
    names, per_asset = [], []
    for src in sources:
        if not isinstance(src.get("asset"), str) or not src["asset"]:
            raise ValueError(f"source {src.get('file', '?')!r}: missing asset (the name written in prices.csv)")
        names.append(src["asset"])
        per_asset.append(_ohlcv(_raw_rows(src), src["file"]))
    if len(set(names)) != len(names):
        raise ValueError(f"asset names repeat: {names}")
    last = min(bars["timestamp"][-1] for bars in per_asset)
    stamps = sorted({ts for bars in per_asset for ts in bars["timestamp"] if ts <= last})
    row_of = {ts: i for i, ts in enumerate(stamps)}
    n, m = len(stamps), len(names)
    cols = ("open", "high", "low", "close", "volume")
    grid: dict[str, list[list[float | None]]] = {c: [[None] * m for _ in range(n)] for c in cols}
    for j, bars in enumerate(per_asset):
        for t, ts in enumerate(bars["timestamp"]):
            if ts <= last:
                for c in cols:
                    grid[c][row_of[ts]][j] = bars[c][t]
    close = grid["close"]
    first = [next(i for i in range(n) if close[i][j] is not None) for j in range(m)]

    weight = gross / k
    price_rows, weight_rows = [], []
    for i, ts in enumerate(stamps):
        for j in range(m):
            if close[i][j] is not None:
                price_rows.append([ts, names[j]] + [format_float(grid[c][i][j]) for c in cols])
        if i == n - 1 or stamps[i + 1][:7] == ts[:7]:
            continue  # not the last bar of a month
        listed = [j for j in range(m) if close[i][j] is not None]
        eligible = [j for j in listed if i - lookback >= first[j] and close[i - lookback][j] is not None]
        scores = {j: close[i][j] / close[i - lookback][j] - 1.0 for j in eligible}
        picked = set(sorted(eligible, key=lambda j: (-scores[j], j))[:k])
        for j in listed:
            weight_rows.append([ts, names[j], format_float(weight if j in picked else 0.0)])
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "weights.csv": _csv(("timestamp", "asset", "weight"), weight_rows),
    }


def hand_built_weights(seed: int, *, bars: Mapping[str, list[list[float]]],
                       rebalance: list[Mapping[str, Any]]) -> dict[str, str]:
    """A rotation on bars written out in the spec: ``bars`` maps each asset to its [open, high, low,
    close] rows (all the same length); ``rebalance`` lists ``{bar = t, weights = {asset = w, ...}}``.

    ``seed`` is unused (the bars are the data) but kept so every spec has one.
    """
    del seed
    names = sorted(bars)
    lengths = {len(bars[a]) for a in names}
    if len(lengths) != 1:
        raise ValueError(f"every asset needs the same number of bars, got {sorted(lengths)}")
    n = lengths.pop()
    for a in names:
        for k, row in enumerate(bars[a]):
            if len(row) != 4:
                raise ValueError(f"bars.{a}[{k}] must be [open, high, low, close], got {row!r}")
    stamps = business_days(n)
    price_rows = [[ts, a] + [format_float(float(v)) for v in bars[a][t]] + [format_float(1000.0)]
                  for t, ts in enumerate(stamps) for a in names]
    weight_rows = []
    for item in sorted(rebalance, key=lambda r: r["bar"]):
        t = item["bar"]
        if not (isinstance(t, int) and 0 <= t < n):
            raise ValueError(f"rebalance bar {t!r} is not an index of the {n} bars")
        for a, w in sorted(item["weights"].items()):
            if a not in bars:
                raise ValueError(f"rebalance bar {t}: unknown asset {a!r}")
            weight_rows.append([stamps[t], a, format_float(float(w))])
    return {
        "prices.csv": _csv(("timestamp", "asset", "open", "high", "low", "close", "volume"), price_rows),
        "weights.csv": _csv(("timestamp", "asset", "weight"), weight_rows),
    }


GENERATORS: dict[str, Callable[..., dict[str, str]]] = {
    "random_walk_signals": random_walk_signals,
    "hand_built": hand_built,
    "hand_built_weights": hand_built_weights,
    "top_k_momentum": top_k_momentum,
    "real_sma_signals": real_sma_signals,
    "real_momentum_rotation": real_momentum_rotation,
}


def build_inputs(generator: Mapping[str, Any]) -> dict[str, str]:
    """The text of every input file for a scenario's ``[generator]`` table."""
    params = dict(generator)
    name = params.pop("name")
    seed = params.pop("seed")
    if name not in GENERATORS:
        raise KeyError(name)
    return GENERATORS[name](seed, **params)
