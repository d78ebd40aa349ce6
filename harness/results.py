"""Canonical results: one schema for every engine and for the golden store.

A results folder holds ``fills.csv``, ``equity.csv`` and ``summary.json``.
Floats are written with ``repr`` so they read back bit for bit; folders are
written whole into a temporary sibling and renamed into place, so a reader
never sees half a result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Literal, Mapping, Sequence, overload

import numpy as np

from harness.contract import REASONS, SIDE_CODE, SIDES
from harness.errors import InputError, defects_error, file_name_problem, text_defects

__all__ = [
    "FillTable",
    "Fill",
    "Rejection",
    "REJECTION_COLUMNS",
    "RunResult",
    "FILL_COLUMNS",
    "EQUITY_COLUMNS",
    "write_results",
    "read_results",
    "write_folder_atomically",
    "build_result",
    "validate_result",
    "canonical_order",
    "format_float",
    "json_text",
]

FILL_COLUMNS = ("asset", "bar", "timestamp", "side", "size", "price", "fee", "reason")
EQUITY_COLUMNS = ("bar", "timestamp", "value")
REJECTION_COLUMNS = ("asset", "bar", "timestamp", "side", "size", "reason")
RESULT_FILES = ("fills.csv", "rejections.csv", "equity.csv", "summary.json")


@dataclass(frozen=True, slots=True)
class Fill:
    """One executed order. Identity is (asset, bar, side, reason)."""

    asset: str
    bar: int
    timestamp: str
    side: Literal["buy", "sell"]
    size: float
    price: float
    fee: float
    reason: str

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.asset, self.bar, self.side, self.reason)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An order the engine refused because it did not fit in the cash.

    ``bar`` is the bar it would have filled on. Identity is (asset, bar, side, reason).
    """

    asset: str
    bar: int
    timestamp: str
    side: Literal["buy", "sell"]
    size: float
    reason: str

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.asset, self.bar, self.side, self.reason)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one engine did with one scenario, in the canonical schema."""

    scenario: str
    engine: str
    framework: str
    framework_version: str
    fills: tuple[Fill, ...]
    timestamps: tuple[str, ...]
    equity: tuple[float, ...]
    final_value: float
    inputs: Mapping[str, str]
    contract: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    rejections: tuple[Rejection, ...] = ()
    mode: str = "contract"

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "scenario": self.scenario,
            "engine": self.engine,
            "mode": self.mode,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "final_value": self.final_value,
            "n_fills": len(self.fills),
            "n_rejections": len(self.rejections),
            "inputs": dict(self.inputs),
            "contract": dict(self.contract),
        }
        doc.update(self.extra)
        return doc


def format_float(value: float) -> str:
    """Shortest text that reads back to the same double."""
    return repr(float(value))


def json_text(doc: Any) -> str:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"


class FillTable(Sequence[Fill]):
    """Fills held as columns: a read-only sequence of :class:`Fill`, each built only when read.

    An engine that produces many fills (the reference kernel) hands them over as
    arrays; ordering and validating them are array operations, and nothing
    builds a Python object per fill until a comparison or a writer reads it.
    ``asset`` indexes ``assets``, ``bar`` indexes ``timestamps``, ``side`` is
    the contract's side code, ``reason`` indexes ``REASONS``.
    """

    __slots__ = ("assets", "timestamps", "asset", "bar", "side", "size", "price", "fee", "reason", "_fills")

    def __init__(self, assets: Sequence[str], timestamps: Sequence[str], asset, bar, side, size, price, fee, reason):
        self.assets = tuple(assets)
        self.timestamps = tuple(timestamps)
        self.asset = np.asarray(asset, dtype=np.intp)
        self.bar = np.asarray(bar, dtype=np.intp)
        self.side = np.asarray(side, dtype=np.int8)
        self.size = np.asarray(size, dtype=np.float64)
        self.price = np.asarray(price, dtype=np.float64)
        self.fee = np.asarray(fee, dtype=np.float64)
        self.reason = np.asarray(reason, dtype=np.intp)
        n = len(self.bar)
        if any(len(a) != n for a in (self.asset, self.side, self.size, self.price, self.fee, self.reason)):
            raise ValueError("fill columns of unequal length")
        self._fills: tuple[Fill, ...] | None = None

    def __len__(self) -> int:
        return len(self.bar)

    def _materialise(self) -> tuple[Fill, ...]:
        if self._fills is None:
            names = {code: name for name, code in SIDE_CODE.items()}
            bars = self.bar.tolist()
            self._fills = tuple(
                Fill(self.assets[a], b, self.timestamps[b], names[s], z, p, f, REASONS[r])
                for a, b, s, z, p, f, r in zip(self.asset.tolist(), bars, self.side.tolist(), self.size.tolist(),
                                                self.price.tolist(), self.fee.tolist(), self.reason.tolist()))
        return self._fills

    @overload
    def __getitem__(self, k: int) -> Fill: ...
    @overload
    def __getitem__(self, k: slice) -> tuple[Fill, ...]: ...
    def __getitem__(self, k):
        return self._materialise()[k]

    def __iter__(self) -> Iterator[Fill]:
        return iter(self._materialise())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (FillTable, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FillTable({len(self)} fills)"

    def canonical(self) -> FillTable:
        """The same fills in canonical order: by bar, sells before buys, then asset and reason names."""
        asset_rank = np.argsort(np.argsort(np.array(self.assets, dtype=object), kind="stable"))
        reason_rank = np.argsort(np.argsort(np.array(REASONS, dtype=object), kind="stable"))
        order = np.lexsort((reason_rank[self.reason], asset_rank[self.asset],
                            self.side != SIDE_CODE["sell"], self.bar))
        return FillTable(self.assets, self.timestamps, self.asset[order], self.bar[order], self.side[order],
                         self.size[order], self.price[order], self.fee[order], self.reason[order])

    def problem(self, n_bars: int) -> str | None:
        """What breaks the schema (None: nothing), checked on the columns; expects canonical order."""
        if len(self) == 0:
            return None
        if self.bar.min() < 0 or self.bar.max() >= n_bars or len(self.timestamps) != n_bars:
            return "a fill's bar is outside the scenario's bars"
        if self.asset.min() < 0 or self.asset.max() >= len(self.assets):
            return "a fill's asset is not one of the scenario's"
        if not np.isin(self.side, list(SIDE_CODE.values())).all():
            return f"a fill's side is not one of {SIDES}"
        if self.reason.min() < 0 or self.reason.max() >= len(REASONS):
            return f"a fill's reason is not one of {REASONS}"
        for name in ("size", "price"):
            values = getattr(self, name)
            if not (np.isfinite(values).all() and (values > 0).all()):
                return f"a fill's {name} is not finite and positive"
        if not (np.isfinite(self.fee).all() and (self.fee >= 0).all()):
            return "a fill's fee is not finite and non-negative"
        same = ((self.bar[1:] == self.bar[:-1]) & (self.side[1:] == self.side[:-1])
                & (self.asset[1:] == self.asset[:-1]) & (self.reason[1:] == self.reason[:-1]))
        if same.any():
            return "two fills share (asset, bar, side, reason)"
        return None


def canonical_order(fills: Sequence[Fill]) -> tuple[Fill, ...] | FillTable:
    # Within a bar sells come before buys, as every engine executes them.
    if isinstance(fills, FillTable):
        return fills.canonical()
    return tuple(sorted(fills, key=lambda f: (f.bar, f.side != "sell", f.asset, f.reason)))


def build_result(scenario, *, engine: str, framework: str, framework_version: str, contract, fills,
                 equity, final_value: float, rejections=(), mode: str = "contract") -> RunResult:
    """The canonical result of one run of ``scenario`` (a :class:`harness.scenario.Scenario`),
    judged by ``contract`` (the scenario's, or with a framework profile applied)."""
    spec = scenario.spec
    return RunResult(
        scenario=spec.name,
        engine=engine,
        mode=mode,
        framework=framework,
        framework_version=framework_version,
        fills=canonical_order(fills if isinstance(fills, FillTable) else list(fills)),
        timestamps=scenario.market.timestamps,
        equity=tuple(float(v) for v in equity),
        final_value=float(final_value),
        inputs=MappingProxyType(dict(spec.inputs)),
        contract=MappingProxyType(contract.as_dict()),
        rejections=tuple(sorted(rejections, key=lambda r: (r.bar, r.side != "sell", r.asset, r.reason))),
    )


def _fills_csv(fills: tuple[Fill, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FILL_COLUMNS)
    for f in canonical_order(fills):
        writer.writerow([f.asset, f.bar, f.timestamp, f.side, format_float(f.size),
                         format_float(f.price), format_float(f.fee), f.reason])
    return out.getvalue()


def _rejections_csv(rejections: tuple[Rejection, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REJECTION_COLUMNS)
    for r in sorted(rejections, key=lambda r: (r.bar, r.side != "sell", r.asset, r.reason)):
        writer.writerow([r.asset, r.bar, r.timestamp, r.side, format_float(r.size), r.reason])
    return out.getvalue()


def _equity_csv(timestamps: tuple[str, ...], equity: tuple[float, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EQUITY_COLUMNS)
    for bar, (ts, value) in enumerate(zip(timestamps, equity, strict=True)):
        writer.writerow([bar, ts, format_float(value)])
    return out.getvalue()


def _new_sibling(folder: Path, tag: str) -> Path:
    """A new empty directory next to ``folder``, created with the usual permissions (the umask's)."""
    while True:
        path = folder.parent / f".{folder.name}.{tag}.{secrets.token_hex(6)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def write_folder_atomically(folder: Path, files: Mapping[str, str]) -> None:
    """Replace ``folder`` with exactly ``files`` (name -> text), all or nothing.

    Every name is a plain file name: nothing is written outside ``folder``. If
    the swap fails, the previous ``folder`` stays in place.
    """
    folder = Path(folder)
    for name in files:
        problem = file_name_problem(name)
        if problem is not None:
            raise ValueError(f"{name!r} {problem}: a results folder holds plain files only")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = _new_sibling(folder, "new")
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8", newline="\n")
        if os.path.lexists(folder):
            trash = _new_sibling(folder, "old")
            os.replace(folder, trash / folder.name)
            try:
                os.replace(staging, folder)
            except BaseException:
                os.replace(trash / folder.name, folder)
                trash.rmdir()
                raise
            shutil.rmtree(trash)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def validate_result(result: RunResult) -> None:
    """Refuse a result that breaks the schema (an adapter bug, reported as such)."""
    n = len(result.timestamps)
    if len(result.equity) != n:
        raise ValueError(f"equity has {len(result.equity)} values for {n} bars")
    if isinstance(result.fills, FillTable):
        if result.fills.timestamps != tuple(result.timestamps):
            raise ValueError("the fill table's bars are not the scenario's")
        problem = result.fills.canonical().problem(n)
        if problem:
            raise ValueError(problem)
    for f in () if isinstance(result.fills, FillTable) else result.fills:
        if f.side not in SIDES:
            raise ValueError(f"fill {f}: side must be one of {SIDES}")
        if f.reason not in REASONS:
            raise ValueError(f"fill {f}: reason must be one of {REASONS}")
        if not 0 <= f.bar < n or result.timestamps[f.bar] != f.timestamp:
            raise ValueError(f"fill {f}: bar and timestamp do not agree with the scenario's bars")
        for name in ("size", "price", "fee"):
            value = getattr(f, name)
            if not math.isfinite(value) or value < 0 or (name != "fee" and value == 0):
                raise ValueError(f"fill {f}: {name} must be finite and positive")
    keys = [] if isinstance(result.fills, FillTable) else [f.key for f in result.fills]
    if len(set(keys)) != len(keys):
        raise ValueError("two fills share (asset, bar, side, reason)")
    for r in result.rejections:
        if r.side not in SIDES or r.reason not in REASONS:
            raise ValueError(f"rejection {r}: bad side or reason")
        if not 0 <= r.bar < n or result.timestamps[r.bar] != r.timestamp:
            raise ValueError(f"rejection {r}: bar and timestamp do not agree with the scenario's bars")
        if not math.isfinite(r.size) or r.size <= 0:
            raise ValueError(f"rejection {r}: size must be finite and positive")
    rkeys = [r.key for r in result.rejections]
    if len(set(rkeys)) != len(rkeys):
        raise ValueError("two rejections share (asset, bar, side, reason)")
    if not all(math.isfinite(v) for v in result.equity) or not math.isfinite(result.final_value):
        raise ValueError("equity and final value must be finite")


def write_results(folder: Path, result: RunResult, extra_files: Mapping[str, str] | None = None) -> None:
    validate_result(result)
    files = {
        "fills.csv": _fills_csv(result.fills),
        "rejections.csv": _rejections_csv(result.rejections),
        "equity.csv": _equity_csv(result.timestamps, result.equity),
        "summary.json": json_text(result.summary()),
    }
    files.update(extra_files or {})
    write_folder_atomically(folder, files)


# -------------------------------------------------------------------------- read


def _float_cell(path: Path, line: int, name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, f"line {line} {name}", f"{text!r} is not a number", "the file is corrupt: regenerate it") from None
    if not math.isfinite(value):
        raise InputError(path, f"line {line} {name}", f"{text!r} is not finite", "the file is corrupt: regenerate it")
    return value


def _int_cell(path: Path, line: int, name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InputError(path, f"line {line} {name}", f"{text!r} is not an integer", "the file is corrupt: regenerate it") from None


def _text(path: Path, *, lines: bool) -> str:
    """A results file's text: UTF-8 without a BOM and, for a CSV, LF lines with no blank one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, None, f"cannot be read ({exc.strerror})", "make it a readable file, or regenerate it") from None
    defects = text_defects(data, lines=lines)
    if defects:
        raise defects_error(path, defects)
    return data.decode("utf-8")


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    if not path.is_file():
        raise InputError(path, None, "missing", "regenerate it (see README: golden outputs)")
    reader = csv.reader(io.StringIO(_text(path, lines=True), newline=""))
    header = next(reader, None)
    if header is None:
        raise InputError(path, None, "is empty", f"it needs the header {','.join(columns)}: regenerate the file")
    if tuple(header) != columns:
        raise InputError(path, "header", f"is {header!r}", f"it must be {','.join(columns)}: regenerate the file")
    rows = []
    for line, row in enumerate(reader, start=2):
        if len(row) != len(columns):
            raise InputError(path, f"line {line}", f"has {len(row)} fields, expected {len(columns)}", "the file is corrupt: regenerate it")
        rows.append((line, row))
    return rows


def read_results(folder: Path) -> RunResult:
    """Read a results folder written by :func:`write_results`, refusing anything malformed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, None, "missing results folder", "run the engine (or write the goldens) first")
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise InputError(summary_path, None, "missing", "regenerate the results")
    try:
        summary = json.loads(_text(summary_path, lines=False))
    except json.JSONDecodeError as exc:
        raise InputError(summary_path, None, f"not valid JSON ({exc})", "the file is corrupt: regenerate it") from None
    if not isinstance(summary, dict):
        raise InputError(summary_path, None, "must be a JSON object", "regenerate it")
    for key, kind in (("scenario", str), ("engine", str), ("framework", str), ("framework_version", str),
                      ("final_value", (int, float)), ("n_fills", int), ("n_rejections", int), ("inputs", dict),
                      ("contract", dict)):
        if not isinstance(summary.get(key), kind) or isinstance(summary.get(key), bool):
            raise InputError(summary_path, key, f"missing or of the wrong type ({summary.get(key)!r})", "regenerate the file")

    fills_path = folder / "fills.csv"
    fills = []
    for line, row in _rows(fills_path, FILL_COLUMNS):
        asset, bar, ts, side, size, price, fee, reason = row
        if side not in SIDES:
            raise InputError(fills_path, f"line {line} side", f"{side!r} is not buy or sell", "the file is corrupt: regenerate it")
        if reason not in REASONS:
            raise InputError(fills_path, f"line {line} reason", f"{reason!r} is not one of {', '.join(REASONS)}",
                             "the file is corrupt: regenerate it")
        fills.append(Fill(asset=asset, bar=_int_cell(fills_path, line, "bar", bar), timestamp=ts, side=side,  # type: ignore[arg-type]
                          size=_float_cell(fills_path, line, "size", size),
                          price=_float_cell(fills_path, line, "price", price),
                          fee=_float_cell(fills_path, line, "fee", fee), reason=reason))
    if len(fills) != summary["n_fills"]:
        raise InputError(summary_path, "n_fills", f"says {summary['n_fills']} but fills.csv has {len(fills)} rows",
                         "the folder is inconsistent: regenerate it")
    keys = [f.key for f in fills]
    if len(set(keys)) != len(keys):
        raise InputError(fills_path, None, "two rows share (asset, bar, side, reason)", "the file is corrupt: regenerate it")

    rejections_path = folder / "rejections.csv"
    rejections = []
    for line, row in _rows(rejections_path, REJECTION_COLUMNS):
        asset, bar, ts, side, size, reason = row
        if side not in SIDES or reason not in REASONS:
            raise InputError(rejections_path, f"line {line}", f"bad side {side!r} or reason {reason!r}",
                             "the file is corrupt: regenerate it")
        rejections.append(Rejection(asset=asset, bar=_int_cell(rejections_path, line, "bar", bar), timestamp=ts,
                                    side=side, size=_float_cell(rejections_path, line, "size", size),  # type: ignore[arg-type]
                                    reason=reason))
    if len(rejections) != summary["n_rejections"]:
        raise InputError(summary_path, "n_rejections", f"says {summary['n_rejections']} but rejections.csv has "
                         f"{len(rejections)} rows", "the folder is inconsistent: regenerate it")
    if len({r.key for r in rejections}) != len(rejections):
        raise InputError(rejections_path, None, "two rows share (asset, bar, side, reason)", "the file is corrupt: regenerate it")

    equity_path = folder / "equity.csv"
    timestamps, equity = [], []
    for line, (bar, ts, value) in _rows(equity_path, EQUITY_COLUMNS):
        if _int_cell(equity_path, line, "bar", bar) != len(timestamps):
            raise InputError(equity_path, f"line {line} bar", f"is {bar}, expected {len(timestamps)}",
                             "bars must run 0, 1, 2, ... without gaps: regenerate the file")
        timestamps.append(ts)
        equity.append(_float_cell(equity_path, line, "value", value))

    known = {"scenario", "engine", "mode", "framework", "framework_version", "final_value", "n_fills", "n_rejections",
             "inputs", "contract"}
    return RunResult(
        scenario=summary["scenario"], engine=summary["engine"], mode=str(summary.get("mode", "contract")),
        framework=summary["framework"],
        framework_version=summary["framework_version"], fills=canonical_order(fills),
        timestamps=tuple(timestamps), equity=tuple(equity), final_value=float(summary["final_value"]),
        inputs=MappingProxyType(summary["inputs"]), contract=MappingProxyType(summary["contract"]),
        extra=MappingProxyType({k: v for k, v in summary.items() if k not in known}),
        rejections=tuple(rejections),
    )
