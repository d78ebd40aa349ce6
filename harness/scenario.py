"""Scenario specs and their stored inputs: loaded once, validated, never mutated.

A scenario is a folder ``scenarios/<name>/`` holding ``scenario.toml`` and the
input files it lists (with their sha256) under ``[inputs]``. Every engine reads
the same :class:`Scenario`, built only by :func:`load_scenario`.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import polars as pl

from harness.contract import BEHAVIOUR_DEFAULTS, KNOBS, Contract, Knob
from harness.errors import InputError

__all__ = [
    "SCENARIOS_DIR",
    "ScenarioSpec",
    "Market",
    "Scenario",
    "load_spec",
    "load_scenario",
    "scenario_names",
    "sha256_file",
]

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"

PRICE_COLUMNS = ("timestamp", "asset", "open", "high", "low", "close", "volume")
SIGNAL_COLUMNS = ("timestamp", "asset", "entry", "exit")
WEIGHT_COLUMNS = ("timestamp", "asset", "weight")
REQUIRED_INPUTS = ("prices.csv", "signals.csv")  # fixed sizing
ROTATION_INPUTS = ("prices.csv", "weights.csv")  # target_weights sizing
WEIGHT_SUM_SLACK = 1e-12  # weights of one bar may sum to 1 up to float rounding
TOP_LEVEL_KEYS = {"name", "description", "family", "tags", "generator", "inputs", "expected"}
EXPECTED_KEYS = {"asset", "bar", "side", "price", "reason", "size"}


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """What scenario.toml says, validated."""

    name: str
    description: str
    family: str
    tags: tuple[str, ...]
    contract: Contract
    generator: Mapping[str, Any]
    inputs: Mapping[str, str]  # file name -> sha256
    folder: Path
    # Hand-built scenarios write their expected fills down: [[expected]] bar, side, price, reason (asset, size optional).
    expected: tuple[Mapping[str, Any], ...] = ()

    @property
    def toml_path(self) -> Path:
        return self.folder / "scenario.toml"


@dataclass(frozen=True, slots=True)
class Market:
    """Prices and signals on one bar grid: arrays are (n_bars, n_assets), read-only.

    ``bar`` i is ``timestamps[i]``. An asset with no bar at i (not yet listed) has
    NaN prices and False signals there.
    """

    timestamps: tuple[str, ...]
    assets: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    entries: np.ndarray
    exits: np.ndarray
    # Rotation scenarios: target weight per bar and asset, NaN where the bar is not a rebalance bar.
    weights: np.ndarray | None = None

    @property
    def rebalance(self) -> np.ndarray:
        """Bool per bar: does the bar carry target weights."""
        if self.weights is None:
            return np.zeros(len(self.timestamps), dtype=np.bool_)
        return ~np.all(np.isnan(self.weights), axis=1)

    @property
    def n_bars(self) -> int:
        return len(self.timestamps)

    @property
    def n_assets(self) -> int:
        return len(self.assets)


@dataclass(frozen=True, slots=True)
class Scenario:
    spec: ScenarioSpec
    market: Market

    @property
    def name(self) -> str:
        return self.spec.name


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scenario_names(root: Path = SCENARIOS_DIR) -> list[str]:
    """Every folder under ``root`` that holds a scenario.toml, sorted by name."""
    return sorted(p.parent.name for p in root.glob("*/scenario.toml"))


# --------------------------------------------------------------------------- spec


def _check_keys(path: Path, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            raise InputError(
                path, f"{where}{key}", "unknown key",
                f"allowed keys here are {', '.join(sorted(allowed))}",
            )


def _knob_value(path: Path, knob: Knob, raw: Any) -> Any:
    if knob.kind is bool:
        if not isinstance(raw, bool):
            raise InputError(path, knob.key, f"must be true or false, got {raw!r}", f"e.g. {knob.example}")
        return raw
    if knob.kind is str:
        if not isinstance(raw, str) or raw not in knob.choices:
            raise InputError(
                path, knob.key, f"must be one of {', '.join(map(repr, knob.choices))}, got {raw!r}",
                f"e.g. {knob.example}",
            )
        return raw
    if knob.kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InputError(path, knob.key, f"must be an integer, got {raw!r}", f"e.g. {knob.example}")
        value: float | int = raw
    else:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise InputError(path, knob.key, f"must be a number, got {raw!r}", f"e.g. {knob.example}")
        value = float(raw)
        if not math.isfinite(value):
            raise InputError(path, knob.key, f"must be finite, got {raw!r}", f"e.g. {knob.example}")
    if knob.bounds is not None:
        lo, hi, lo_inc, hi_inc = knob.bounds
        ok_lo = value >= lo if lo_inc else value > lo
        ok_hi = value <= hi if hi_inc else value < hi
        if not (ok_lo and ok_hi):
            interval = f"{'[' if lo_inc else '('}{lo:g}, {hi:g}{']' if hi_inc else ')'}"
            raise InputError(path, knob.key, f"must be in {interval}, got {raw!r}", f"e.g. {knob.example}")
    return value


def _parse_contract(path: Path, doc: Mapping[str, Any]) -> Contract:
    sections: dict[str, list[Knob]] = {}
    for knob in KNOBS:
        sections.setdefault(knob.section, []).append(knob)
    values: dict[str, Any] = {}
    for section, knobs in sections.items():
        names = {k.name for k in knobs}
        table = doc.get(section)
        if table is None and not any(k.required for k in knobs):
            table = {}
        if not isinstance(table, dict):
            raise InputError(path, f"[{section}]", "missing table", f"add a [{section}] table with {', '.join(sorted(names))}")
        _check_keys(path, table, names, f"[{section}] ")
        for knob in knobs:
            if knob.name in table:
                values[knob.name] = _knob_value(path, knob, table[knob.name])
            elif knob.required:
                raise InputError(path, knob.key, "missing", f"add {knob.example} under [{knob.section}]")
            else:
                values[knob.name] = knob.default
    sizing = doc.get("sizing", {})
    if values["mode"] == "fixed":
        if values["size"] is None:
            raise InputError(path, "[sizing] size", "missing", "add size = 10.0 under [sizing]: fixed mode buys that many units per entry")
        if "units" in sizing:
            raise InputError(path, "[sizing] units", "applies to target_weights mode only", "remove it")
    else:
        if values["size"] is not None:
            raise InputError(path, "[sizing] size", "applies to fixed mode only",
                             "remove it: target weights size every order")
        if values["units"] is None:
            values["units"] = "fractional"
        if "exits" in doc:
            raise InputError(path, "[exits]", "exit rules apply to fixed-size signal scenarios only",
                             "remove [exits] from this rotation scenario")
    exits = doc.get("exits", {})
    stops = [n for n in ("stop_loss", "take_profit", "trailing_stop") if values[n] is not None]
    if "stop_reference" in exits and not stops:
        raise InputError(path, "[exits] stop_reference", "has no effect without stop_loss, take_profit or trailing_stop",
                         "remove it or add a stop")
    if "trail_source" in exits and values["trailing_stop"] is None:
        raise InputError(path, "[exits] trail_source", "has no effect without trailing_stop",
                         "remove it or add trailing_stop = ...")
    return Contract(
        fill=values["fill"],
        cash=values["cash"],
        sizing_mode=values["mode"],
        size=values["size"],
        fee=values["fee"],
        slippage=values["slippage"],
        stop_loss=values["stop_loss"],
        take_profit=values["take_profit"],
        stop_reference=values["stop_reference"],
        trailing_stop=values["trailing_stop"],
        trail_source=values["trail_source"],
        max_bars=values["max_bars"],
        units=values["units"],
        **{name: values[name] for name in BEHAVIOUR_DEFAULTS},
    )


def load_spec(folder: Path, *, require_inputs: bool = True) -> ScenarioSpec:
    """Parse and validate ``folder/scenario.toml`` (inputs are not read).

    ``require_inputs=False`` accepts a spec whose ``[inputs]`` hashes are not
    recorded yet (a new scenario, before its first build).
    """
    folder = Path(folder)
    path = folder / "scenario.toml"
    if not path.is_file():
        raise InputError(path, None, "no such file", "every scenario folder needs a scenario.toml")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"not valid TOML ({exc})", "fix the syntax") from None
    contract_sections = {k.section for k in KNOBS}
    _check_keys(path, doc, TOP_LEVEL_KEYS | contract_sections, "")

    for key in ("name", "description", "family"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise InputError(path, key, "missing or empty", f'add {key} = "..." at the top')
    if doc["name"] != folder.name:
        raise InputError(path, "name", f"is {doc['name']!r} but the folder is {folder.name!r}", "make them equal")
    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InputError(path, "tags", f"must be a list of strings, got {tags!r}", 'e.g. tags = ["large"]')

    contract = _parse_contract(path, doc)

    generator = doc.get("generator")
    if not isinstance(generator, dict):
        raise InputError(path, "[generator]", "missing table", 'add [generator] with name = "..." and seed = N')
    if not isinstance(generator.get("name"), str):
        raise InputError(path, "[generator] name", "missing", "name the function in scenarios/generate.py that builds the inputs")
    if isinstance(generator.get("seed"), bool) or not isinstance(generator.get("seed"), int):
        raise InputError(path, "[generator] seed", f"must be an integer, got {generator.get('seed')!r}", "e.g. seed = 7")

    required_inputs = REQUIRED_INPUTS if contract.sizing_mode == "fixed" else ROTATION_INPUTS
    inputs = doc.get("inputs")
    if inputs is None and not require_inputs:
        inputs = {name: "0" * 64 for name in required_inputs}
    if not isinstance(inputs, dict):
        raise InputError(path, "[inputs]", "missing table", "run `nox -s scenarios -- --update` to record the input hashes")
    for name in required_inputs:
        if name not in inputs:
            raise InputError(path, f'[inputs] "{name}"', "missing", "run `nox -s scenarios -- --update` to record the input hashes")
    for name, digest in inputs.items():
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InputError(path, f'[inputs] "{name}"', f"must be a lowercase sha256 hex digest, got {digest!r}",
                             "run `nox -s scenarios -- --update`")

    expected = _parse_expected(path, doc.get("expected", []))

    return ScenarioSpec(
        name=doc["name"],
        description=doc["description"].strip(),
        family=doc["family"],
        tags=tuple(tags),
        contract=contract,
        generator=MappingProxyType(dict(generator)),
        inputs=MappingProxyType(dict(sorted(inputs.items()))),
        folder=folder,
        expected=expected,
    )


def _parse_expected(path: Path, raw: Any) -> tuple[Mapping[str, Any], ...]:
    from harness.contract import REASONS, SIDES

    if not isinstance(raw, list):
        raise InputError(path, "expected", "must be an array of tables", "write each fill as [[expected]] with bar, side, price, reason")
    out = []
    for k, item in enumerate(raw):
        where = f"[[expected]] #{k + 1}"
        if not isinstance(item, dict):
            raise InputError(path, where, "must be a table", "write [[expected]] then bar = ..., side = ..., price = ..., reason = ...")
        _check_keys(path, item, EXPECTED_KEYS, f"{where} ")
        for key in ("bar", "side", "price", "reason"):
            if key not in item:
                raise InputError(path, f"{where} {key}", "missing", "every expected fill needs bar, side, price and reason")
        if isinstance(item["bar"], bool) or not isinstance(item["bar"], int) or item["bar"] < 0:
            raise InputError(path, f"{where} bar", f"must be a bar index, got {item['bar']!r}", "bars count from 0")
        if item["side"] not in SIDES:
            raise InputError(path, f"{where} side", f"must be buy or sell, got {item['side']!r}", 'e.g. side = "sell"')
        if item["reason"] not in REASONS:
            raise InputError(path, f"{where} reason", f"must be one of {', '.join(REASONS)}, got {item['reason']!r}",
                             'e.g. reason = "stop_loss"')
        if isinstance(item["price"], bool) or not isinstance(item["price"], (int, float)):
            raise InputError(path, f"{where} price", f"must be a number, got {item['price']!r}", "e.g. price = 95.0")
        size = item.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0):
            raise InputError(path, f"{where} size", f"must be a positive number, got {size!r}", "e.g. size = 10.0")
        out.append(MappingProxyType({"asset": item.get("asset", "A00"), "bar": item["bar"], "side": item["side"],
                                     "price": float(item["price"]), "reason": item["reason"],
                                     "size": None if size is None else float(size)}))
    return tuple(out)


# ------------------------------------------------------------------------- inputs


def _read_csv(path: Path, columns: tuple[str, ...], dtypes: Mapping[str, pl.DataType]) -> pl.DataFrame:
    try:
        header = path.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"cannot read ({exc})", "rebuild it with `nox -s scenarios -- --update`") from None
    if tuple(header) != columns:
        raise InputError(path, "header", f"columns are {','.join(header)!r}", f"they must be exactly {','.join(columns)!r}")
    try:
        frame = pl.read_csv(path, schema={c: pl.String for c in columns}, has_header=True)
    except Exception as exc:  # polars raises several exception types for malformed rows
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, None, f"cannot parse: {first}",
                         f"every row needs {len(columns)} fields: {','.join(columns)}") from None
    for col, dtype in dtypes.items():
        if dtype == pl.String:
            continue
        cast = frame.get_column(col).cast(dtype, strict=False)
        bad = frame.filter(cast.is_null())
        if bad.height:
            row = bad.row(0, named=True)
            kind = "an integer" if dtype == pl.Int64 else "a number"
            shown = "an empty cell" if row[col] in (None, "") else repr(row[col])
            raise InputError(path, col, f"{shown} at {row['timestamp']} {row['asset']} is not {kind}",
                             f"every {col} must be {kind}")
        frame = frame.with_columns(cast.alias(col))
    return frame


def _parse_timestamp(text: str) -> datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]``, without a UTC offset (ValueError otherwise)."""
    if len(text) == 10:
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day)
    if len(text) < 16 or text[10] != "T":
        raise ValueError(text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        raise ValueError(text)
    return parsed


def _check_timestamps(path: Path, frame: pl.DataFrame) -> None:
    """Timestamps parse as ISO 8601, are written one way in the file, and strictly increase per asset."""
    for asset, ts in frame.group_by("asset", maintain_order=True).agg(pl.col("timestamp")).iter_rows():
        previous: datetime | None = None
        for row_text in ts:
            try:
                current = _parse_timestamp(row_text)
            except ValueError:
                raise InputError(path, "timestamp", f"{row_text!r} (asset {asset}) is not an ISO 8601 date or "
                                 "date-time without a UTC offset",
                                 "write e.g. 2020-01-02 or 2020-01-02T09:30:00 (all in one time zone)") from None
            if previous is not None and current <= previous:
                what = "repeated" if current == previous else "out of order"
                raise InputError(path, "timestamp", f"{row_text!r} is {what} for asset {asset}",
                                 "timestamps must be sorted and unique per asset")
            previous = current
    if frame.get_column("timestamp").str.len_chars().n_unique() > 1:
        raise InputError(path, "timestamp", "mixes formats (e.g. dates and date-times)",
                         "write every timestamp the same way, e.g. 2020-01-02 or 2020-01-02T09:30:00")


def _check_ohlc(path: Path, frame: pl.DataFrame) -> None:
    for col in ("open", "high", "low", "close", "volume"):
        bad = frame.filter(~pl.col(col).is_finite() | pl.col(col).is_null())
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(path, col, f"{row[col]!r} at {row['timestamp']} {row['asset']} is not a finite number",
                             "every price and volume must be a finite number")
    checks = (
        (pl.col("low") <= 0, "low", "must be positive"),
        (pl.col("volume") < 0, "volume", "must not be negative"),
        (pl.col("high") < pl.max_horizontal("open", "close"), "high", "is below open or close"),
        (pl.col("low") > pl.min_horizontal("open", "close"), "low", "is above open or close"),
    )
    for condition, col, problem in checks:
        bad = frame.filter(condition)
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(
                path, col,
                f"{problem} at {row['timestamp']} {row['asset']} "
                f"(open={row['open']!r} high={row['high']!r} low={row['low']!r} close={row['close']!r})",
                "each bar needs low <= min(open, close) <= max(open, close) <= high and low > 0",
            )


def _check_hash(spec: ScenarioSpec, name: str) -> Path:
    path = spec.folder / name
    if not path.is_file():
        raise InputError(path, None, "missing input file", "run `nox -s scenarios -- --update` to rebuild the inputs")
    actual = sha256_file(path)
    if actual != spec.inputs[name]:
        raise InputError(
            path, "sha256",
            f"is {actual[:12]}..., but {spec.toml_path.name} [inputs] records {spec.inputs[name][:12]}...",
            "the file changed: restore it, or rebuild with `nox -s scenarios -- --update` and review the diff",
        )
    return path


def load_scenario(folder: Path | str) -> Scenario:
    """Load a scenario folder, verifying input hashes and every input rule."""
    spec = load_spec(Path(folder))
    prices_path = _check_hash(spec, "prices.csv")
    prices = _read_prices(prices_path)
    if spec.contract.sizing_mode == "target_weights":
        weights_path = _check_hash(spec, "weights.csv")
        return Scenario(spec=spec, market=_rotation_market(prices_path, prices, weights_path))
    signals_path = _check_hash(spec, "signals.csv")
    return Scenario(spec=spec, market=_signal_market(prices_path, prices, signals_path))


def _read_prices(prices_path: Path) -> pl.DataFrame:
    prices = _read_csv(prices_path, PRICE_COLUMNS, {
        "timestamp": pl.String, "asset": pl.String, "open": pl.Float64, "high": pl.Float64,
        "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64,
    })
    if prices.height == 0:
        raise InputError(prices_path, None, "has no rows", "a scenario needs at least two bars")
    _check_timestamps(prices_path, prices)
    _check_ohlc(prices_path, prices)
    return prices


def _check_rows_match(path: Path, frame: pl.DataFrame, prices: pl.DataFrame, what: str) -> None:
    """Every (timestamp, asset) of ``frame`` has a price bar."""
    keys = ["timestamp", "asset"]
    unmatched = frame.select(keys).join(prices.select(keys), on=keys, how="anti")
    if unmatched.height:
        row = unmatched.row(0, named=True)
        raise InputError(path, "timestamp", f"{row['timestamp']} {row['asset']} has no bar in prices.csv",
                         f"{what} may only name bars that prices.csv has")


def _rotation_market(prices_path: Path, prices: pl.DataFrame, weights_path: Path) -> Market:
    weights = _read_csv(weights_path, WEIGHT_COLUMNS, {"timestamp": pl.String, "asset": pl.String, "weight": pl.Float64})
    if weights.height == 0:
        raise InputError(weights_path, None, "has no rows", "a rotation needs at least one rebalance bar")
    bad = weights.filter(~pl.col("weight").is_finite() | (pl.col("weight") < 0) | (pl.col("weight") > 1))
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(weights_path, "weight", f"{row['weight']!r} at {row['timestamp']} {row['asset']} is not in [0, 1]",
                         "target weights are long-only fractions of the portfolio value")
    dupes = weights.filter(weights.select("timestamp", "asset").is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        raise InputError(weights_path, "timestamp", f"{row['timestamp']} {row['asset']} appears twice",
                         "give each asset one weight per rebalance bar")
    _check_rows_match(weights_path, weights, prices, "weights.csv")
    sums = weights.group_by("timestamp").agg(pl.col("weight").sum()).filter(pl.col("weight") > 1 + WEIGHT_SUM_SLACK)
    if sums.height:
        row = sums.sort("timestamp").row(0, named=True)
        raise InputError(weights_path, "weight", f"the weights of {row['timestamp']} sum to {row['weight']!r} > 1",
                         "scale them so they sum to at most 1 (no leverage)")
    market = _grid_market(prices_path, prices)
    row_of = {ts: i for i, ts in enumerate(market.timestamps)}
    col_of = {a: j for j, a in enumerate(market.assets)}
    grid = np.full((market.n_bars, market.n_assets), np.nan)
    rebalance_rows = sorted({row_of[t] for t in weights.get_column("timestamp")})
    listed = ~np.isnan(market.close)
    for i in rebalance_rows:
        grid[i, listed[i]] = 0.0  # an asset absent on a rebalance bar is targeted at 0
    rows = np.fromiter((row_of[t] for t in weights.get_column("timestamp")), dtype=np.int64, count=weights.height)
    cols = np.fromiter((col_of[a] for a in weights.get_column("asset")), dtype=np.int64, count=weights.height)
    grid[rows, cols] = weights.get_column("weight").to_numpy()
    grid.setflags(write=False)
    return Market(**{f: getattr(market, f) for f in ("timestamps", "assets", "open", "high", "low", "close",
                                                     "volume", "entries", "exits")}, weights=grid)


def _signal_market(prices_path: Path, prices: pl.DataFrame, signals_path: Path) -> Market:
    signals = _read_csv(signals_path, SIGNAL_COLUMNS, {
        "timestamp": pl.String, "asset": pl.String, "entry": pl.Int64, "exit": pl.Int64,
    })
    for col in ("entry", "exit"):
        bad = signals.filter(~pl.col(col).is_in([0, 1]) | pl.col(col).is_null())
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(signals_path, col, f"{row[col]!r} at {row['timestamp']} {row['asset']} is not 0 or 1",
                             "signals are 0 (no) or 1 (yes)")
    both = signals.filter((pl.col("entry") == 1) & (pl.col("exit") == 1))
    if both.height:
        row = both.row(0, named=True)
        raise InputError(signals_path, "entry,exit", f"both are 1 at {row['timestamp']} {row['asset']}",
                         "an entry and an exit on the same bar of the same asset is ambiguous: keep one")

    _check_timestamps(signals_path, signals)
    keys = ["timestamp", "asset"]
    unmatched = signals.select(keys).join(prices.select(keys), on=keys, how="anti")
    if unmatched.height:
        row = unmatched.row(0, named=True)
        raise InputError(signals_path, "timestamp", f"{row['timestamp']} {row['asset']} has no bar in prices.csv",
                         "signals must have exactly the rows of prices.csv")
    missing = prices.select(keys).join(signals.select(keys), on=keys, how="anti")
    if missing.height:
        row = missing.row(0, named=True)
        raise InputError(signals_path, "timestamp", f"{row['timestamp']} {row['asset']} is missing",
                         "signals must have exactly the rows of prices.csv")

    return _grid_market(prices_path, prices, signals)


def _grid_market(prices_path: Path, prices: pl.DataFrame, signals: pl.DataFrame | None = None) -> Market:
    """Prices (and signals, if any) on the union bar grid; no signals means all False."""
    assets = tuple(prices.get_column("asset").unique(maintain_order=True).to_list())
    stamps = sorted(set(prices.get_column("timestamp").to_list()), key=_parse_timestamp)
    if len(stamps) < 2:
        raise InputError(prices_path, "timestamp", "there is only one bar", "a scenario needs at least two bars")
    row_of = {ts: i for i, ts in enumerate(stamps)}
    col_of = {a: j for j, a in enumerate(assets)}
    shape = (len(stamps), len(assets))

    rows = np.fromiter((row_of[t] for t in prices.get_column("timestamp")), dtype=np.int64, count=prices.height)
    cols = np.fromiter((col_of[a] for a in prices.get_column("asset")), dtype=np.int64, count=prices.height)
    arrays: dict[str, np.ndarray] = {}
    for name in ("open", "high", "low", "close", "volume"):
        grid = np.full(shape, np.nan)
        grid[rows, cols] = prices.get_column(name).to_numpy()
        arrays[name] = grid

    # An asset may list late (NaN before its first bar) but may not skip bars after it.
    listed = ~np.isnan(arrays["close"])
    for j, asset in enumerate(assets):
        first = int(np.argmax(listed[:, j]))
        gaps = np.flatnonzero(~listed[first:, j])
        if gaps.size:
            raise InputError(prices_path, "timestamp", f"asset {asset} has no bar at {stamps[first + gaps[0]]}",
                             "after its first bar an asset needs a bar at every timestamp")

    if signals is None:
        arrays["entries"] = np.zeros(shape, dtype=np.bool_)
        arrays["exits"] = np.zeros(shape, dtype=np.bool_)
    else:
        joined = prices.select("timestamp", "asset").join(signals, on=["timestamp", "asset"], how="left",
                                                              maintain_order="left")
        for name, col in (("entries", "entry"), ("exits", "exit")):
            grid = np.zeros(shape, dtype=np.bool_)
            grid[rows, cols] = joined.get_column(col).to_numpy() == 1
            arrays[name] = grid

    for arr in arrays.values():
        arr.setflags(write=False)
    return Market(timestamps=tuple(stamps), assets=assets, **arrays)
