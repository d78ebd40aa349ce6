"""Scenario specs and their stored inputs: loaded once, validated, never mutated.

A scenario is a folder ``scenarios/<name>/`` holding ``scenario.toml`` and the
input files it lists (with their sha256) under ``[inputs]``. Every engine reads
the same :class:`Scenario`, built only by :func:`load_scenario`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import stat
import struct
import tomllib
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import polars as pl

from harness.contract import (KNOB_BY_FIELD, KNOBS, SIZING_FIELDS, Contract, Knob, costs_problem, knob_problem,
                              sizing_problem)
from harness.errors import InputError, defects_error, file_name_problem, text_defects

__all__ = [
    "GZIP_SUFFIX",
    "SCENARIOS_DIR",
    "ScenarioSpec",
    "Market",
    "Scenario",
    "load_spec",
    "gunzip_input",
    "gzip_input",
    "load_scenario",
    "read_scenario_file",
    "scenario_names",
    "sha256_file",
    "stored_input",
]

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"

PRICE_COLUMNS = ("timestamp", "asset", "open", "high", "low", "close", "volume")
SIGNAL_COLUMNS = ("timestamp", "asset", "entry", "exit")
SHORT_SIGNAL_COLUMNS = SIGNAL_COLUMNS + ("short_entry", "short_exit")  # [positions] sides = "short" or "both"
WEIGHT_COLUMNS = ("timestamp", "asset", "weight")
REQUIRED_INPUTS = ("prices.csv", "signals.csv")  # fixed sizing
ROTATION_INPUTS = ("prices.csv", "weights.csv")  # target_weights sizing
GZIP_SUFFIX = ".gz"  # an input stored compressed: [inputs] "prices.csv.gz" holds prices.csv, hashed as stored
WEIGHT_SUM_SLACK = 1e-12  # weights of one bar may sum to 1 up to float rounding
TOP_LEVEL_KEYS = {"name", "description", "family", "tags", "generator", "inputs", "expected", "rejected"}
EXPECTED_KEYS = {"asset", "bar", "side", "price", "reason", "size", "fee"}
REJECTED_KEYS = {"asset", "bar", "side", "reason", "size"}


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
    # Hand-built scenarios write their expected fills down: [[expected]] bar, side, price, reason (asset, size optional),
    # and the orders refused: [[rejected]] bar (where it would have filled), side, size, reason (asset optional).
    expected: tuple[Mapping[str, Any], ...] = ()
    rejected: tuple[Mapping[str, Any], ...] = ()

    @property
    def hand_written(self) -> bool:
        """Whether the spec writes its outcome down ([[expected]] fills, [[rejected]] orders): then it is all of it."""
        return bool(self.expected or self.rejected)

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
    # [positions] sides = "short" or "both": the short entry and exit signals (None: long only).
    short_entries: np.ndarray | None = None
    short_exits: np.ndarray | None = None

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


def _table(path: Path, doc: Mapping[str, Any], key: str, fix: str) -> dict[str, Any] | None:
    """``doc[key]`` if it is a table, None if it is absent; anything else is refused."""
    table = doc.get(key)
    if table is not None and not isinstance(table, dict):
        raise InputError(path, f"[{key}]", f"must be a table, got {table!r}", fix)
    return table


def _knob_value(path: Path, knob: Knob, raw: Any) -> Any:
    value = float(raw) if knob.kind is float and isinstance(raw, int) and not isinstance(raw, bool) else raw
    problem = knob_problem(knob, value)
    if problem:
        raise InputError(path, knob.key, problem, f"e.g. {knob.example}")
    return value


def _parse_contract(path: Path, doc: Mapping[str, Any]) -> Contract:
    sections: dict[str, list[Knob]] = {}
    for knob in KNOBS:
        sections.setdefault(knob.section, []).append(knob)
    values: dict[str, Any] = {}
    for section, knobs in sections.items():
        names = {k.name for k in knobs}
        fix = f"add the table [{section}] with {', '.join(sorted(names))}"
        table = _table(path, doc, section, fix)
        if table is None:
            if any(k.required for k in knobs):
                raise InputError(path, f"[{section}]", "missing table", fix)
            table = {}
        _check_keys(path, table, names, f"[{section}] ")
        for knob in knobs:
            if knob.name in table:
                values[knob.name] = _knob_value(path, knob, table[knob.name])
            elif knob.required:
                raise InputError(path, knob.key, "missing", f"add {knob.example} under [{knob.section}]")
            else:
                values[knob.name] = knob.default
    if values["mode"] != "fixed" and values["units"] is None:
        values["units"] = "fractional"
    problem = sizing_problem(values["mode"], {f: values[KNOB_BY_FIELD[f].name] for f in SIZING_FIELDS})
    if problem is None:
        problem = costs_problem(values["min_fee"], values["per_share"])
    if problem:
        raise InputError(path, *problem)
    if values["mode"] == "target_weights" and "exits" in doc:
        raise InputError(path, "[exits]", "exit rules apply to signal scenarios only",
                         "remove [exits] from this rotation scenario")
    if values["mode"] == "target_weights" and values["sides"] != "long":
        raise InputError(path, "[positions] sides", f"{values['sides']!r}: short positions are opened by signals; "
                         "a target-weight rotation is long only", "remove [positions] from this rotation scenario")
    exits = doc.get("exits", {})
    stops = [n for n in ("stop_loss", "take_profit", "trailing_stop") if values[n] is not None]
    if "stop_reference" in exits and not stops:
        raise InputError(path, "[exits] stop_reference", "has no effect without stop_loss, take_profit or trailing_stop",
                         "remove it or add a stop")
    if "trail_source" in exits and values["trailing_stop"] is None:
        raise InputError(path, "[exits] trail_source", "has no effect without trailing_stop",
                         "remove it or add trailing_stop = ...")
    return Contract(**{knob.field: values[knob.name] for knob in KNOBS})


def read_scenario_file(folder: Path, name: str) -> bytes | None:
    """The bytes of ``folder/name``, or None when there is no such entry.

    A scenario's files are data read from inside its folder only: a symbolic
    link that resolves outside the folder (or nowhere) is refused, and so is
    anything that is not a regular file.
    """
    if file_name_problem(name) is not None:
        raise ValueError(f"{name!r} is not a plain file name")  # load_spec refuses such [inputs] keys first
    folder = Path(folder)
    path = folder / name
    if not os.path.lexists(path):
        return None
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise InputError(path, None, f"is a symbolic link to {os.readlink(path)}, which does not exist",
                         "replace the link with the file itself") from None
    if not real.is_relative_to(folder.resolve()):
        raise InputError(path, None, f"is a symbolic link to {real}, outside the scenario folder",
                         "replace the link with a copy of the file: a scenario reads only files inside its own folder")
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(path, None, f"cannot be read ({exc.strerror})", "make it a readable file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise InputError(path, None, f"is {kind}", "put the file itself here (a plain file, not a folder, pipe or device)")
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _check_input_names(path: Path, inputs: Mapping[str, Any], required: tuple[str, ...], mode: str) -> None:
    for name in inputs:
        key = f"[inputs] {json.dumps(name, ensure_ascii=False)}"
        problem = file_name_problem(name)
        if problem is not None:
            raise InputError(path, key, problem,
                             f'name a file of the scenario folder itself, e.g. "{required[0]}": inputs are read from there only')
        if name.removesuffix(GZIP_SUFFIX) not in required:
            raise InputError(path, key, f"is not an input of a {mode} scenario",
                             f"remove it: the inputs are {', '.join(required)} (each may be stored as {GZIP_SUFFIX})")
        if name.endswith(GZIP_SUFFIX) and name.removesuffix(GZIP_SUFFIX) in inputs:
            raise InputError(path, key, f"and {json.dumps(name.removesuffix(GZIP_SUFFIX))} are the same input twice",
                             "keep the one the folder stores: run `nox -s scenarios -- --update`")


def stored_input(inputs: Mapping[str, str], name: str) -> str | None:
    """The [inputs] key that stores input ``name``: itself, or its compressed form; None when neither is recorded."""
    return next((key for key in (name, name + GZIP_SUFFIX) if key in inputs), None)


def gzip_input(data: bytes) -> bytes:
    """``data`` as a stored ``.gz`` input: the same bytes for the same data on every run.

    The gzip header is written here, not by the gzip module, so nothing in it
    varies: no file name, mtime 0, OS byte 255 ("unknown"; ``gzip.compress(mtime=0)``
    writes the platform's). The deflate stream is zlib's at level 9.
    """
    header = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x02\xff"  # magic, deflate, no flags, mtime 0, XFL 2 (level 9), OS
    trailer = struct.pack("<LL", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header + zlib.compress(data, level=9, wbits=-15) + trailer


def gunzip_input(path: Path, data: bytes) -> bytes:
    """The data of a stored ``.gz`` input; a file that is not a whole gzip stream is an InputError."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(path, None, f"is not a valid gzip file ({exc or type(exc).__name__})",
                         "restore it (git checkout), or rebuild it with `nox -s scenarios -- --update`") from None


def load_spec(folder: Path, *, require_inputs: bool = True) -> ScenarioSpec:
    """Parse and validate ``folder/scenario.toml`` (inputs are not read).

    ``require_inputs=False`` accepts a spec whose ``[inputs]`` hashes are not
    recorded yet (a new scenario, before its first build).
    """
    folder = Path(folder)
    path = folder / "scenario.toml"
    data = read_scenario_file(folder, path.name)
    if data is None:
        raise InputError(path, None, "no such file", "every scenario folder needs a scenario.toml")
    defects = text_defects(data, lines=False)
    if defects:
        raise defects_error(path, defects)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
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

    generator = _table(path, doc, "generator", 'write [generator] with name = "..." and seed = N')
    if generator is None:
        raise InputError(path, "[generator]", "missing table", 'add [generator] with name = "..." and seed = N')
    if "name" not in generator:
        raise InputError(path, "[generator] name", "missing", "name the function in scenarios/generate.py that builds the inputs")
    if not isinstance(generator["name"], str):
        raise InputError(path, "[generator] name", f"must be a string, got {generator['name']!r}",
                         'e.g. name = "random_walk_signals"')
    if "seed" not in generator:
        raise InputError(path, "[generator] seed", "missing", "add seed = N (an integer, e.g. seed = 7)")
    if isinstance(generator["seed"], bool) or not isinstance(generator["seed"], int):
        raise InputError(path, "[generator] seed", f"must be an integer, got {generator['seed']!r}", "e.g. seed = 7")

    required_inputs = ROTATION_INPUTS if contract.sizing_mode == "target_weights" else REQUIRED_INPUTS
    update = "run `nox -s scenarios -- --update` to record the input hashes"
    inputs = _table(path, doc, "inputs", f'write [inputs] as the last table of "file name" = "sha256" lines, or {update}')
    if inputs is None and not require_inputs:
        inputs = {name: "0" * 64 for name in required_inputs}
    if inputs is None:
        raise InputError(path, "[inputs]", "missing table", update)
    _check_input_names(path, inputs, required_inputs, contract.sizing_mode)
    for name in required_inputs:
        if stored_input(inputs, name) is None:
            raise InputError(path, f'[inputs] "{name}"', "missing", update)
    for name, digest in inputs.items():
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InputError(path, f'[inputs] "{name}"', f"must be a lowercase sha256 hex digest, got {digest!r}",
                             "run `nox -s scenarios -- --update`")

    expected = _parse_expected(path, doc.get("expected", []))
    rejected = _parse_rejected(path, doc.get("rejected", []))

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
        rejected=rejected,
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
        price = item["price"]
        if isinstance(price, bool) or not isinstance(price, (int, float)):
            raise InputError(path, f"{where} price", f"must be a number, got {price!r}", "e.g. price = 95.0")
        if not (math.isfinite(price) and price > 0):
            raise InputError(path, f"{where} price", f"must be positive and finite, got {price!r}", "e.g. price = 95.0")
        if "asset" in item and (not isinstance(item["asset"], str) or not item["asset"]):
            raise InputError(path, f"{where} asset", f"must be an asset name, got {item['asset']!r}", 'e.g. asset = "A00"')
        size = item.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))
                                 or not (math.isfinite(size) and size > 0)):
            raise InputError(path, f"{where} size", f"must be a positive number, got {size!r}", "e.g. size = 10.0")
        fee = item.get("fee")
        if fee is not None and (isinstance(fee, bool) or not isinstance(fee, (int, float))
                                or not (math.isfinite(fee) and fee >= 0)):
            raise InputError(path, f"{where} fee", f"must be a number >= 0, got {fee!r}", "e.g. fee = 1.25")
        out.append(MappingProxyType({"asset": item.get("asset", "A00"), "bar": item["bar"], "side": item["side"],
                                     "price": float(price), "reason": item["reason"],
                                     "size": None if size is None else float(size),
                                     "fee": None if fee is None else float(fee)}))
    return tuple(out)


def _parse_rejected(path: Path, raw: Any) -> tuple[Mapping[str, Any], ...]:
    from harness.contract import REASONS, SIDES

    if not isinstance(raw, list):
        raise InputError(path, "rejected", "must be an array of tables",
                         "write each refused order as [[rejected]] with bar, side, size, reason")
    out = []
    for k, item in enumerate(raw):
        where = f"[[rejected]] #{k + 1}"
        if not isinstance(item, dict):
            raise InputError(path, where, "must be a table",
                             "write [[rejected]] then bar = ..., side = ..., size = ..., reason = ...")
        _check_keys(path, item, REJECTED_KEYS, f"{where} ")
        for key in ("bar", "side", "size", "reason"):
            if key not in item:
                raise InputError(path, f"{where} {key}", "missing", "every refused order needs bar, side, size and reason")
        if isinstance(item["bar"], bool) or not isinstance(item["bar"], int) or item["bar"] < 0:
            raise InputError(path, f"{where} bar", f"must be a bar index, got {item['bar']!r}",
                             "the bar the order would have filled on, counting from 0")
        if item["side"] not in SIDES:
            raise InputError(path, f"{where} side", f"must be buy or sell, got {item['side']!r}", 'e.g. side = "buy"')
        if item["reason"] not in REASONS:
            raise InputError(path, f"{where} reason", f"must be one of {', '.join(REASONS)}, got {item['reason']!r}",
                             'e.g. reason = "signal"')
        size = item["size"]
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not (math.isfinite(size) and size > 0):
            raise InputError(path, f"{where} size", f"must be a positive number, got {size!r}", "e.g. size = 10.0")
        if "asset" in item and (not isinstance(item["asset"], str) or not item["asset"]):
            raise InputError(path, f"{where} asset", f"must be an asset name, got {item['asset']!r}", 'e.g. asset = "A00"')
        out.append(MappingProxyType({"asset": item.get("asset", "A00"), "bar": item["bar"], "side": item["side"],
                                     "size": float(size), "reason": item["reason"]}))
    return tuple(out)


# ------------------------------------------------------------------------- inputs

LINE = "line"  # column every input frame carries: the row's line number in its file
PRICE_FIELDS = ("open", "high", "low", "close")


def _read_input(spec: ScenarioSpec, name: str) -> tuple[Path, bytes]:
    """One input's bytes: a file inside the folder, in canonical form, with the sha256 [inputs] records.

    A file whose bytes differ from the recorded hash always fails; when the
    difference is only a BOM, CRLF line endings, quotes and the like, the
    message says so instead of only that the file changed. An input stored as
    ``<name>.gz`` must be a valid gzip file; its hash is of the stored bytes.
    """
    name = stored_input(spec.inputs, name) or name
    path = spec.folder / name
    stored = read_scenario_file(spec.folder, name)
    if stored is None:
        raise InputError(path, None, "missing input file", "run `nox -s scenarios -- --update` to rebuild the inputs")
    data = gunzip_input(path, stored) if name.endswith(GZIP_SUFFIX) else stored
    recorded = spec.inputs[name]
    actual = hashlib.sha256(stored).hexdigest()
    defects = text_defects(data, lines=True, quotes=False)
    if defects and stored is not data:  # compressed: the recorded hash says nothing of the text
        raise defects_error(path, defects, "" if actual == recorded else
                            f"and the file differs from the sha256 {spec.toml_path.name} [inputs] records")
    if defects:
        note = ""
        if actual != recorded:
            fixed = data
            for defect in defects:
                fixed = defect.repair(fixed)
            if hashlib.sha256(fixed).hexdigest() == recorded:
                note = f"the recorded sha256 is of the file {' and '.join(d.fixed for d in defects)}"
            else:
                note = f"and its data differ from the sha256 {spec.toml_path.name} [inputs] records"
        raise defects_error(path, defects, note)
    if actual != recorded:
        raise InputError(
            path, "sha256",
            f"is {actual[:12]}..., but {spec.toml_path.name} [inputs] records {recorded[:12]}...",
            "the file changed: restore it, or rebuild with `nox -s scenarios -- --update` and review the diff",
        )
    return path, data


def _at(row: Mapping[str, Any]) -> str:
    return f"at {row['timestamp']} {row['asset']} (line {row[LINE]})"


def _check_header(path: Path, header: list[str], columns: tuple[str, ...], note: str = "") -> None:
    if tuple(header) == columns:
        return
    missing = [c for c in columns if c not in header]
    unknown = [h for h in header if h not in columns]
    repeated = sorted({h for h in header if header.count(h) > 1})
    what = ([f"{', '.join(missing)} missing"] if missing else []) \
        + ([f"{', '.join(map(repr, unknown))} not a column"] if unknown else []) \
        + ([f"{', '.join(map(repr, repeated))} repeated"] if repeated else [])
    raise InputError(path, "header", f"columns are {','.join(header)!r} ({', '.join(what) or 'out of order'})",
                     f"they must be exactly {','.join(columns)!r}" + (f" ({note})" if note else ""))


def _read_csv(path: Path, data: bytes, columns: tuple[str, ...], note: str = "") -> pl.DataFrame:
    """The rows of a canonical CSV (no quotes, no blank lines: see text_defects) as strings, with their LINE."""
    lines = data.decode("utf-8").split("\n")[:-1]
    if not lines:
        raise InputError(path, None, "is empty", f"write the header {','.join(columns)} and then one row per line")
    _check_header(path, lines[0].split(","), columns, note)
    fields = pl.Series(lines[1:], dtype=pl.String).str.split(",")
    widths = fields.list.len()
    wrong = (widths != len(columns)).arg_true()
    if wrong.len():
        index = wrong[0]
        fix = ("write decimals with a point (100.5, not 100,5): a row has exactly one field per column"
               if widths[index] > len(columns) else
               f"every row needs all {len(columns)} fields, separated by commas")
        raise InputError(path, f"line {index + 2}", f"has {widths[index]} fields, expected {len(columns)} "
                         f"({','.join(columns)})", fix)
    frame = pl.DataFrame({c: fields.list.get(k) for k, c in enumerate(columns)}, schema={c: pl.String for c in columns})
    frame = frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(LINE))
    bad = frame.filter(pl.any_horizontal([pl.col(c) != pl.col(c).str.strip_chars() for c in columns]))
    if bad.height:
        row = bad.row(0, named=True)
        col = next(c for c in columns if row[c] != row[c].strip())
        raise InputError(path, col, f"{row[col]!r} on line {row[LINE]} has spaces around it", "remove the spaces")
    for col in ("timestamp", "asset"):
        bad = frame.filter(pl.col(col) == "")
        if bad.height:
            raise InputError(path, col, f"an empty cell on line {bad.item(0, LINE)}", f"write the row's {col}")
    return frame


def _numbers(path: Path, frame: pl.DataFrame, columns: tuple[str, ...], example: str) -> pl.DataFrame:
    for col in columns:
        cast = frame.get_column(col).cast(pl.Float64, strict=False)
        bad = frame.filter(cast.is_null())
        if bad.height:
            row = bad.row(0, named=True)
            shown = "an empty cell" if row[col] == "" else repr(row[col])
            raise InputError(path, col, f"{shown} {_at(row)} is not a number", f"every {col} must be a number, e.g. {example}")
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
    for asset, stamps, lines in frame.group_by("asset", maintain_order=True).agg("timestamp", LINE).iter_rows():
        previous: datetime | None = None
        for text, line in zip(stamps, lines, strict=True):
            try:
                current = _parse_timestamp(text)
            except ValueError:
                raise InputError(path, "timestamp", f"{text!r} (asset {asset}, line {line}) is not an ISO 8601 date or "
                                 "date-time without a UTC offset",
                                 "write e.g. 2020-01-02 or 2020-01-02T09:30:00 (all in one time zone)") from None
            if previous is not None and current <= previous:
                what = "repeated" if current == previous else "out of order"
                raise InputError(path, "timestamp", f"{text!r} is {what} for asset {asset} (line {line})",
                                 "timestamps must be sorted and unique per asset")
            previous = current
    lengths = frame.get_column("timestamp").str.len_chars()
    if lengths.n_unique() > 1:
        first = frame.row(0, named=True)
        other = frame.filter(lengths != lengths[0]).row(0, named=True)
        raise InputError(path, "timestamp", f"mixes formats: {first['timestamp']!r} on line {first[LINE]}, "
                         f"{other['timestamp']!r} on line {other[LINE]}",
                         "write every timestamp the same way, e.g. 2020-01-02 or 2020-01-02T09:30:00")


def _check_ohlc(path: Path, frame: pl.DataFrame) -> None:
    for col in (*PRICE_FIELDS, "volume"):
        bad = frame.filter(~pl.col(col).is_finite())
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(path, col, f"{row[col]!r} {_at(row)} is not a finite number",
                             "every price and volume must be a finite number")

    def bar(row: Mapping[str, Any]) -> str:
        return f"open={row['open']!r} high={row['high']!r} low={row['low']!r} close={row['close']!r}"

    bad = frame.filter(pl.any_horizontal([pl.col(c) <= 0 for c in PRICE_FIELDS]))
    if bad.height:
        row = bad.row(0, named=True)
        wrong = [c for c in PRICE_FIELDS if row[c] <= 0]
        raise InputError(path, ",".join(wrong), f"must be positive {_at(row)}: {bar(row)}",
                         f"every price must be > 0: correct the {', '.join(wrong)} of that bar")
    bad = frame.filter(pl.col("volume") < 0)
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(path, "volume", f"{row['volume']!r} {_at(row)} is negative",
                         "volume is the quantity traded on the bar: write 0 or more")
    checks = (
        (pl.col("high") < pl.max_horizontal("open", "close"), "high", "is below open or close"),
        (pl.col("low") > pl.min_horizontal("open", "close"), "low", "is above open or close"),
    )
    for condition, col, problem in checks:
        bad = frame.filter(condition)
        if bad.height:
            row = bad.row(0, named=True)
            raise InputError(path, col, f"{problem} {_at(row)}: {bar(row)}",
                             "each bar needs low <= min(open, close) <= max(open, close) <= high")


def load_scenario(folder: Path | str) -> Scenario:
    """Load a scenario folder, verifying input hashes and every input rule."""
    spec = load_spec(Path(folder))
    prices_path, data = _read_input(spec, "prices.csv")
    prices = _read_prices(prices_path, data)
    _check_slippage_abs(spec, prices)
    if spec.contract.sizing_mode == "target_weights":
        weights_path, data = _read_input(spec, "weights.csv")
        return Scenario(spec=spec, market=_rotation_market(prices_path, prices, weights_path, data))
    signals_path, data = _read_input(spec, "signals.csv")
    return Scenario(spec=spec, market=_signal_market(prices_path, prices, signals_path, data,
                                                     spec.contract.sides))


def _check_slippage_abs(spec: ScenarioSpec, prices: pl.DataFrame) -> None:
    """``[costs] slippage_abs`` must leave every sell price positive: a < (1 - s) * the lowest low."""
    a, s = spec.contract.slippage_abs, spec.contract.slippage
    if a == 0.0:
        return
    row = prices.sort("low").row(0, named=True)
    bound = float(row["low"]) * (1.0 - s)
    if not a < bound:
        raise InputError(spec.toml_path, "[costs] slippage_abs",
                         f"{a!r} is not below (1 - slippage) * the lowest low, {bound!r} ({row['asset']} at "
                         f"{row['timestamp']}): a sell there would fill at a price <= 0",
                         f"use a slippage_abs below {bound!r}")


def _read_prices(prices_path: Path, data: bytes) -> pl.DataFrame:
    prices = _read_csv(prices_path, data, PRICE_COLUMNS)
    if prices.height == 0:
        raise InputError(prices_path, None, "has no rows", "add rows below the header: a scenario needs at least two bars")
    prices = _numbers(prices_path, prices, (*PRICE_FIELDS, "volume"), "100.5")
    _check_timestamps(prices_path, prices)
    _check_ohlc(prices_path, prices)
    stamps = prices.get_column("timestamp").unique()
    if len(stamps) < 2:
        raise InputError(prices_path, "timestamp", f"there is only one bar ({stamps[0]})",
                         "add bars: a scenario needs at least two")
    return prices


def _check_rows_match(path: Path, frame: pl.DataFrame, prices: pl.DataFrame, fix: str) -> None:
    """Every (timestamp, asset) of ``frame`` has a price bar."""
    keys = ["timestamp", "asset"]
    unmatched = frame.select(*keys, LINE).join(prices.select(keys), on=keys, how="anti")
    if unmatched.height:
        row = unmatched.row(0, named=True)
        raise InputError(path, "timestamp", f"{row['timestamp']} {row['asset']} on line {row[LINE]} has no bar in prices.csv",
                         fix)


def _rotation_market(prices_path: Path, prices: pl.DataFrame, weights_path: Path, data: bytes) -> Market:
    weights = _read_csv(weights_path, data, WEIGHT_COLUMNS)
    if weights.height == 0:
        raise InputError(weights_path, None, "has no rows",
                         "add rows below the header: a rotation needs at least one rebalance bar")
    weights = _numbers(weights_path, weights, ("weight",), "0.25")
    bad = weights.filter(~pl.col("weight").is_finite())
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(weights_path, "weight", f"{row['weight']!r} {_at(row)} is not a finite number",
                         "every weight must be a number in [0, 1]")
    bad = weights.filter((pl.col("weight") < 0) | (pl.col("weight") > 1))
    if bad.height:
        row = bad.row(0, named=True)
        raise InputError(weights_path, "weight", f"{row['weight']!r} {_at(row)} is not in [0, 1]",
                         "a target weight is the fraction of the portfolio value to hold, long only: write a number from 0 to 1")
    keys = ["timestamp", "asset"]
    dupes = weights.filter(pl.struct(keys).is_duplicated())
    if dupes.height:
        row = dupes.row(0, named=True)
        lines = dupes.filter((pl.col("timestamp") == row["timestamp"]) & (pl.col("asset") == row["asset"]))
        raise InputError(weights_path, "timestamp", f"{row['timestamp']} {row['asset']} appears twice "
                         f"(lines {', '.join(map(str, lines.get_column(LINE)))})",
                         "give each asset one weight per rebalance bar")
    _check_rows_match(weights_path, weights, prices, "weights.csv may only name bars that prices.csv has")
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


def _signal_market(prices_path: Path, prices: pl.DataFrame, signals_path: Path, data: bytes,
                   sides: str = "long") -> Market:
    columns = SIGNAL_COLUMNS if sides == "long" else SHORT_SIGNAL_COLUMNS
    signals = _read_csv(signals_path, data, columns, _sides_fix(sides))
    if signals.height == 0:
        raise InputError(signals_path, None, "has no rows", "add one row per row of prices.csv below the header")
    flags = columns[2:]
    for col in flags:
        bad = signals.filter(~pl.col(col).is_in(["0", "1"]))
        if bad.height:
            row = bad.row(0, named=True)
            shown = "an empty cell" if row[col] == "" else repr(row[col])
            raise InputError(signals_path, col, f"{shown} {_at(row)} is not 0 or 1", "signals are 0 (no) or 1 (yes)")
    signals = signals.with_columns(*(pl.col(col) == "1" for col in flags))
    pairs = [("entry", "exit", "an entry and an exit on the same bar of the same asset is ambiguous: keep one")]
    if sides != "long":
        pairs += [("short_entry", "short_exit", "a short entry and a short exit on the same bar of the same asset "
                   "is ambiguous: keep one"),
                  ("entry", "short_entry", "a long and a short entry on the same bar of the same asset: one "
                   "position per asset, keep one side")]
    for a, b, fix in pairs:
        both = signals.filter(pl.col(a) & pl.col(b))
        if both.height:
            row = both.row(0, named=True)
            raise InputError(signals_path, f"{a},{b}", f"both are 1 {_at(row)}", fix)
    if sides == "short":
        for col in ("entry", "exit"):
            bad = signals.filter(pl.col(col))
            if bad.height:
                row = bad.row(0, named=True)
                raise InputError(signals_path, col, f"is 1 {_at(row)} but [positions] sides = \"short\"",
                                 'write 0 there, or set sides = "both" under [positions] to trade both sides')

    _check_timestamps(signals_path, signals)
    rows_fix = "signals must have exactly the rows of prices.csv"
    _check_rows_match(signals_path, signals, prices, rows_fix)
    keys = ["timestamp", "asset"]
    missing = prices.select(*keys, LINE).join(signals.select(keys), on=keys, how="anti")
    if missing.height:
        row = missing.row(0, named=True)
        raise InputError(signals_path, "timestamp", f"{row['timestamp']} {row['asset']} is missing "
                         f"(prices.csv has it on line {row[LINE]})", rows_fix)

    return _grid_market(prices_path, prices, signals)


def _sides_fix(sides: str) -> str:
    """What to do when signals.csv's header does not fit ``[positions] sides``."""
    if sides == "long":
        return ('a long-only scenario has no short columns; to trade short, set sides = "short" or "both" under '
                '[positions]')
    return f'[positions] sides = "{sides}" needs the short_entry and short_exit columns after entry and exit'


def _grid_market(prices_path: Path, prices: pl.DataFrame, signals: pl.DataFrame | None = None) -> Market:
    """Prices (and signals, if any) on the union bar grid; no signals means all False."""
    assets = tuple(prices.get_column("asset").unique(maintain_order=True).to_list())
    stamps = sorted(set(prices.get_column("timestamp").to_list()), key=_parse_timestamp)
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
        names = [("entries", "entry"), ("exits", "exit")]
        if "short_entry" in signals.columns:
            names += [("short_entries", "short_entry"), ("short_exits", "short_exit")]
        for name, col in names:
            grid = np.zeros(shape, dtype=np.bool_)
            grid[rows, cols] = joined.get_column(col).to_numpy()
            arrays[name] = grid

    for arr in arrays.values():
        arr.setflags(write=False)
    return Market(timestamps=tuple(stamps), assets=assets, **arrays)
