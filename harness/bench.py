"""Performance bench: every registered engine on identical generated inputs (``nox -s bench``).

What is timed is the engine door and nothing else: ``engine.run(scenario, "contract")``
on a :class:`harness.scenario.Scenario` built in memory, from its arrays to canonical
fills, equity and final value. Input generation, imports and writing files are outside
the span (imports are reported on their own).

Commands (``python -m harness.bench <command>``):

``engine --engine NAME``
    Every workload for one engine, run in that engine's virtualenv. Each
    (workload, size) is measured by its own ``measure`` process, so peak memory
    and compilation state never leak from one workload into the next.
``measure --engine NAME --workload W --size S --out FILE``
    One workload at one size: a first call in this process (it also writes
    numba's cache), then warm calls (the median of at least 5, with min and
    max), then first calls in fresh processes (``first-call``, one subprocess
    each, started after the cache is written), and the resident memory of the
    warm calls (peak RSS of each call: the kernel's high-water mark is reset
    before it through ``/proc/self/clear_refs``, then read back with
    ``resource.getrusage``).
``first-call``
    Import the engine, build the inputs, time one call; prints JSON (the fresh process).
``explain``
    The root-cause search of one stored scenario against a run made under one changed knob.
``profile``
    Where the reference engine's time and memory go on the largest workloads.
``validate --nox-python PY``
    Times ``nox -r -s validate`` (environments reused) and checks that the
    parallel runs' outputs are byte-identical to a serial run.
``report``
    Merges ``reports/bench/raw/`` into ``reports/bench/bench.json`` and ``bench.md``.

Workloads (deterministic, built from fixed seeds with numpy; each asset from its
own seed, so a smaller size is the first columns of the larger one):

- W1: one asset, 100,000 bars, random entries and exits with stop-loss,
  trailing stop, take-profit and time exit.
- W2: the same rules on 1,000 assets x 2,520 bars (one shared cash pool); its
  scaling series is 1/10, 1/3 and the full number of assets.
- W3: rotation, 500 assets x 2,520 bars, the top 10 % by 63-bar momentum at
  equal weight, rebalanced every 21 bars (monthly).

Every engine first runs each workload at its shared size (50 assets, which
Backtrader finishes in seconds); an engine runs the full size only when its
shared-size warm time, scaled linearly to the full size, stays within
``FULL_CALL_LIMIT_S`` per call. The reference engine runs every size, so each
ratio compares equal work.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Size", "Workload", "WORKLOADS", "build_scenario", "input_bytes", "main"]

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "reports" / "bench"
RAW_DIR = BENCH_DIR / "raw"

FULL_CALL_LIMIT_S = 20.0  # an engine runs a full size only if one call is expected to take at most this
MEASURE_TIMEOUT_S = 1200  # one measure process (a framework that hangs is reported, not waited for)
MIN_WARM_RUNS = 5
FAST_WARM_RUNS = 21  # calls under FAST_CALL_S get more warm runs (a steadier median)
FAST_CALL_S = 0.5
REFERENCE = "reference"  # the engine every ratio is taken against (the registry's reference engine)

EXPLAIN_SCENARIO = "real_goog_daily_close"
EXPLAIN_CHANGE = ("stops_from", "after_booking")  # the knob the "engine" run was made under
EXPLAIN_REPEATS = 5


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True, slots=True)
class Size:
    bars: int
    assets: int

    @property
    def cells(self) -> int:
        return self.bars * self.assets

    def __str__(self) -> str:
        return f"{self.bars:,} bars x {self.assets:,} asset{'s' if self.assets != 1 else ''}"


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    kind: str  # "signals" or "rotation"
    title: str
    seed: int
    sizes: MappingProxyType  # label -> Size; "full" and "shared" always, scaling labels optional
    scaling: tuple[str, ...] = ()  # labels of the scaling series, smallest first, ending with "full"

    def size(self, label: str) -> Size:
        if label not in self.sizes:
            raise SystemExit(f"workload {self.name} has no size {label!r} (sizes: {', '.join(self.sizes)})")
        return self.sizes[label]


SIGNAL_RULES = dict(stop_loss=0.05, take_profit=0.08, trailing_stop=0.06, trail_source="high", max_bars=15,
                    stop_reference="close")
ENTRY_PROB = 0.02
EXIT_PROB = 0.02
ROTATION_LOOKBACK = 63
ROTATION_EVERY = 21
ROTATION_TOP = 0.10  # fraction of the assets held
ROTATION_GROSS = 0.95

WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", "signals", "one asset, 100,000 bars: stop-loss + trailing + take-profit + time exit, "
                   "random entry and exit signals", 20260101,
                   MappingProxyType({"full": Size(100_000, 1), "shared": Size(100_000, 1)})),
    "W2": Workload("W2", "signals", "1,000 assets x 2,520 bars, the same rules, random entry and exit signals, "
                   "one cash pool", 20260102,
                   MappingProxyType({"shared": Size(2520, 50), "tenth": Size(2520, 100), "third": Size(2520, 333),
                                     "full": Size(2520, 1000)}),
                   scaling=("tenth", "third", "full")),
    "W3": Workload("W3", "rotation", "rotation, 500 assets x 2,520 bars: top 10 % by 63-bar momentum (50 of 500) "
                   "at equal weight, rebalanced every 21 bars", 20260103,
                   MappingProxyType({"shared": Size(2520, 50), "full": Size(2520, 500)})),
}
SCALING_NAMES = {"tenth": "1/10", "third": "1/3", "full": "full"}


def _timestamps(n: int) -> tuple[str, ...]:
    days = np.busday_offset(np.datetime64("1990-01-01"), np.arange(n), roll="forward")
    return tuple(days.astype(str).tolist())


def _asset_ohlc(seed: int, j: int, bars: int) -> tuple[np.ndarray, ...]:
    """One asset's bars: a random walk in log price minus its 500-bar moving average (so 100,000
    bars stay in a sane price range), opens gapped from the previous close, highs and lows outside
    both. Each asset has its own generator, so a column does not depend on how many there are."""
    rng = np.random.default_rng([seed, j])
    vol = rng.uniform(0.008, 0.02)
    walk = np.cumsum(rng.normal(0.0, vol, bars))
    window = min(500, bars)
    csum = np.concatenate(([0.0], np.cumsum(walk)))
    idx = np.arange(bars)
    lo = np.maximum(idx - window + 1, 0)
    trend = (csum[idx + 1] - csum[lo]) / (idx - lo + 1)
    close = rng.uniform(20.0, 200.0) * np.exp(walk - trend)
    prev = np.concatenate((close[:1], close[:-1]))
    open_ = prev * np.exp(rng.normal(0.0, vol / 4.0, bars))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, vol / 2.0, bars)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, vol / 2.0, bars)))
    return open_, high, low, close


def _asset_signals(seed: int, j: int, bars: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, j, 1])
    entries = rng.random(bars) < ENTRY_PROB
    exits = (rng.random(bars) < EXIT_PROB) & ~entries  # never both on one bar (the loader's rule)
    return entries, exits


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _momentum_weights(close: np.ndarray) -> np.ndarray:
    """Target weights: on every ROTATION_EVERY-th bar from ROTATION_LOOKBACK on, the top
    ROTATION_TOP of the assets by lookback return at ROTATION_GROSS / k each, the rest at 0
    (ties: the lower asset index first); NaN on the other bars."""
    bars, assets = close.shape
    k = max(1, round(assets * ROTATION_TOP))
    weights = np.full((bars, assets), np.nan)
    for t in range(ROTATION_LOOKBACK, bars - 1, ROTATION_EVERY):
        score = close[t] / close[t - ROTATION_LOOKBACK] - 1.0
        picked = np.argsort(-score, kind="stable")[:k]
        row = np.zeros(assets)
        row[picked] = ROTATION_GROSS / k
        weights[t] = row
    return weights


def build_scenario(workload: Workload, label: str):
    """The in-memory Scenario of ``workload`` at size ``label`` (deterministic)."""
    from harness.contract import Contract
    from harness.scenario import Market, Scenario, ScenarioSpec

    size = workload.size(label)
    cols = [_asset_ohlc(workload.seed, j, size.bars) for j in range(size.assets)]
    open_, high, low, close = (np.column_stack([c[k] for c in cols]) for k in range(4))
    volume = np.full((size.bars, size.assets), 1000.0)
    if workload.kind == "signals":
        sig = [_asset_signals(workload.seed, j, size.bars) for j in range(size.assets)]
        entries = np.column_stack([s[0] for s in sig])
        exits = np.column_stack([s[1] for s in sig])
        weights = None
        contract = Contract(fill="close", cash=10_000.0 * size.assets, sizing_mode="fixed", size=10.0, fee=0.001,
                            slippage=0.0005, **SIGNAL_RULES)  # type: ignore[arg-type]
    else:
        entries = np.zeros((size.bars, size.assets), dtype=bool)
        exits = entries.copy()
        weights = _frozen(_momentum_weights(close))
        contract = Contract(fill="close", cash=1_000_000.0, sizing_mode="target_weights", size=None, fee=0.001,
                            slippage=0.0005, units="fractional")  # type: ignore[arg-type]
    name = f"bench_{workload.name.lower()}_{label}"
    spec = ScenarioSpec(name=name, description=workload.title, family="bench", tags=("bench",), contract=contract,
                        generator=MappingProxyType({"name": "harness.bench", "seed": workload.seed,
                                                    "bars": size.bars, "assets": size.assets}),
                        inputs=MappingProxyType({}), folder=BENCH_DIR)
    market = Market(timestamps=_timestamps(size.bars), assets=tuple(f"B{j:04d}" for j in range(size.assets)),
                    open=_frozen(open_), high=_frozen(high), low=_frozen(low), close=_frozen(close),
                    volume=_frozen(volume), entries=_frozen(entries), exits=_frozen(exits), weights=weights)
    return Scenario(spec=spec, market=market)


def input_bytes(scenario) -> int:
    """Bytes of the scenario's input arrays (prices, volume, signals, weights)."""
    m = scenario.market
    arrays = [m.open, m.high, m.low, m.close, m.volume, m.entries, m.exits]
    if m.weights is not None:
        arrays.append(m.weights)
    return int(sum(a.nbytes for a in arrays))


# --------------------------------------------------------------------------- memory


def _rss_bytes() -> int:
    """Current resident set size."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _maxrss_bytes() -> int:
    """Peak resident set size (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _trim() -> None:
    """Collect garbage and hand freed heap memory back to the system (glibc ``malloc_trim``), so the
    RSS before a call is what is live, and what the call's peak adds above it is its own working set."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux >= 4.0), so ru_maxrss measures what follows."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- measuring


def _digest(result) -> str:
    """A fingerprint of a canonical result (fills, rejections, final value): repeated calls must agree."""
    h = hashlib.sha256()
    for f in result.fills:
        h.update(f"{f.asset},{f.bar},{f.side},{f.size!r},{f.price!r},{f.fee!r},{f.reason}\n".encode())
    for r in result.rejections:
        h.update(f"R{r.asset},{r.bar},{r.side},{r.size!r},{r.reason}\n".encode())
    h.update(repr(result.final_value).encode())
    return h.hexdigest()[:16]


def _outcome(result) -> dict[str, Any]:
    return {"n_fills": len(result.fills), "n_rejections": len(result.rejections),
            "final_value": result.final_value, "digest": _digest(result)}


def _refusal(exc: BaseException) -> dict[str, Any] | None:
    """A refusal the engine states (Unsupported, or the adapter's NotImplementedError), or None."""
    from harness.engines import Unsupported

    if isinstance(exc, (Unsupported, NotImplementedError)):
        return {"status": "unsupported", "why": " ".join(str(exc).split())}
    return None


def _short_trace(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}{where}"


def _versions(engine) -> dict[str, str]:
    try:
        framework_version = engine.framework_version()
    except Exception:  # noqa: BLE001 - a version we cannot read is not a reason to stop
        framework_version = "?"
    return {"framework": engine.framework, "framework_version": framework_version,
            "python": platform.python_version(), "numpy": np.__version__}


def cmd_first_call(args: argparse.Namespace) -> int:
    """The fresh process: import, build, one timed call; JSON on stdout."""
    t0 = time.perf_counter()
    from harness.engines import load_engine

    engine = load_engine(args.engine)
    import_s = time.perf_counter() - t0
    scenario = build_scenario(WORKLOADS[args.workload], args.size)
    _trim()
    rss_ready = _rss_bytes()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t = time.perf_counter()
    try:
        result = engine.run(scenario, "contract")
    except Exception as exc:  # noqa: BLE001
        print(json.dumps({"status": "error", "error": _short_trace(exc)}))
        return 1
    call_s = time.perf_counter() - t
    if profiler is not None:
        profiler.disable()
    doc: dict[str, Any] = {"status": "ok", "import_s": import_s, "first_call_s": call_s, "rss_ready": rss_ready,
                           "maxrss": _maxrss_bytes(), **_outcome(result)}
    if profiler is not None:
        doc["profile"] = _profile_rows(profiler, limit=args.profile)
    print(json.dumps(doc))
    return 0


def _profile_rows(profiler, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` entries with the largest cumulative time of a cProfile run."""
    import pstats

    stats = pstats.Stats(profiler)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short_file(file)}:{line}({func})", "calls": nc, "own_s": tt, "cumulative_s": ct})
    rows.sort(key=lambda r: -r["cumulative_s"])
    return rows[:limit]


def _short_file(file: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _fresh_first_calls(args: argparse.Namespace, repeats: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(repeats):
        cmd = [sys.executable, "-m", "harness.bench", "first-call", "--engine", args.engine,
               "--workload", args.workload, "--size", args.size]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=MEASURE_TIMEOUT_S)
        try:
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        except (IndexError, json.JSONDecodeError):
            out.append({"status": "error", "error": f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}"})
    return out


def cmd_measure(args: argparse.Namespace) -> int:
    """One (engine, workload, size) in this process; writes ``--out``."""
    workload = WORKLOADS[args.workload]
    size = workload.size(args.size)
    doc: dict[str, Any] = {"engine": args.engine, "workload": workload.name, "size": args.size,
                           "bars": size.bars, "assets": size.assets, "cells": size.cells,
                           "load_before": os.getloadavg()[0]}
    t0 = time.perf_counter()
    from harness.engines import load_engine

    try:
        engine = load_engine(args.engine)
    except Exception as exc:  # noqa: BLE001 - an engine that cannot be imported is a result too
        doc.update(status="error", error=f"cannot load the engine: {_short_trace(exc)}")
        return _write_doc(args.out, doc)
    doc["import_s"] = time.perf_counter() - t0
    doc.update(_versions(engine))
    t0 = time.perf_counter()
    scenario = build_scenario(workload, args.size)
    doc["generate_s"] = time.perf_counter() - t0
    doc["input_bytes"] = input_bytes(scenario)
    gc.collect()
    doc["rss_ready"] = _rss_bytes()

    # First call in this process (compiles, or loads numba's cache, and writes it).
    t0 = time.perf_counter()
    try:
        result = engine.run(scenario, "contract")
    except Exception as exc:  # noqa: BLE001
        refusal = _refusal(exc)
        doc.update(refusal or {"status": "error", "error": _short_trace(exc)})
        doc["first_call_here_s"] = time.perf_counter() - t0
        return _write_doc(args.out, doc)
    doc["first_call_here_s"] = time.perf_counter() - t0
    doc["maxrss_after_first_call"] = _maxrss_bytes()
    doc.update(_outcome(result))
    expected = doc["digest"]
    del result

    # Warm calls, each with its own peak RSS.
    can_reset = _reset_peak()
    times: list[float] = []
    cpu: list[float] = []
    extra: list[int] = []
    peaks: list[int] = []
    n_runs = args.runs
    while len(times) < n_runs:
        _trim()
        _reset_peak()
        before = _rss_bytes()
        c0 = time.process_time()
        t0 = time.perf_counter()
        result = engine.run(scenario, "contract")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        peak = _maxrss_bytes()
        peaks.append(peak)
        extra.append(max(0, peak - before))
        if _digest(result) != expected:
            doc.update(status="error", error="a warm call's result differs from the first call's (not deterministic)")
            return _write_doc(args.out, doc)
        del result
        if len(times) == 1 and times[0] < FAST_CALL_S:
            n_runs = max(n_runs, FAST_WARM_RUNS)
    doc.update(status="ok", warm_s=times, warm_median_s=statistics.median(times), warm_min_s=min(times),
               warm_max_s=max(times), warm_runs=len(times), cells_per_s=size.cells / statistics.median(times),
               warm_cpu_s=cpu, warm_cpu_median_s=statistics.median(cpu),
               run_peak_rss=max(peaks) if can_reset else None, run_extra_rss=max(extra) if can_reset else None,
               peak_reset=can_reset, maxrss_process=_maxrss_bytes())

    # First calls in fresh processes, numba's cache now written.
    repeats = args.fresh if args.fresh is not None else (3 if doc["warm_median_s"] < 2.0 else 1)
    fresh = _fresh_first_calls(args, repeats)
    doc["fresh"] = fresh
    ok = [f for f in fresh if f.get("status") == "ok"]
    if ok:
        doc["first_call_s"] = statistics.median(f["first_call_s"] for f in ok)
        doc["fresh_import_s"] = statistics.median(f["import_s"] for f in ok)
        doc["fresh_maxrss"] = max(f["maxrss"] for f in ok)
        if any(f["digest"] != expected for f in ok):
            doc["status"] = "error"
            doc["error"] = "a fresh process's result differs from this process's"
    else:
        doc["first_call_s"] = None
    doc["load_after"] = os.getloadavg()[0]
    return _write_doc(args.out, doc)


def _write_doc(path: str | Path, doc: dict[str, Any]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return 0 if doc.get("status") in ("ok", "unsupported", "skipped") else 1


# --------------------------------------------------------------------------- one engine, every workload


def _mb(n: float | None) -> str:
    return "-" if n is None else f"{n / 1e6:,.0f} MB"


def _secs(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:,.1f} ms" if s < 1.0 else f"{s:,.2f} s"


def _progress(doc: dict[str, Any]) -> str:
    head = f"[bench] {doc['engine']:<11s} {doc['workload']} {doc['size']:<6s} ({Size(doc['bars'], doc['assets'])})"
    if doc["status"] != "ok":
        return f"{head}: {doc['status']}: {doc.get('why') or doc.get('error') or doc.get('reason')}"
    return (f"{head}: warm {_secs(doc['warm_median_s'])} (median of {doc['warm_runs']}), first call in a fresh "
            f"process {_secs(doc.get('first_call_s'))}, {doc['cells_per_s'] / 1e6:,.2f} M bar-assets/s, "
            f"{doc['n_fills']:,} fills, run peak RSS +{_mb(doc.get('run_extra_rss'))}")


def _measure_in_subprocess(engine: str, workload: str, label: str, out: Path, extra: Sequence[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "harness.bench", "measure", "--engine", engine, "--workload", workload,
           "--size", label, "--out", str(out), *extra]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=MEASURE_TIMEOUT_S, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        size = WORKLOADS[workload].size(label)
        doc = {"engine": engine, "workload": workload, "size": label, "bars": size.bars, "assets": size.assets,
               "cells": size.cells, "status": "error", "error": f"timed out after {MEASURE_TIMEOUT_S} s"}
        _write_doc(out, doc)
        return doc
    if not out.is_file():
        size = WORKLOADS[workload].size(label)
        doc = {"engine": engine, "workload": workload, "size": label, "bars": size.bars, "assets": size.assets,
               "cells": size.cells, "status": "error",
               "error": f"the measuring process died (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"}
        _write_doc(out, doc)
        return doc
    return json.loads(out.read_text(encoding="utf-8"))


def _skip(engine: str, workload: Workload, label: str, out: Path, reason: str) -> dict[str, Any]:
    size = workload.size(label)
    doc = {"engine": engine, "workload": workload.name, "size": label, "bars": size.bars, "assets": size.assets,
           "cells": size.cells, "status": "skipped", "reason": reason}
    _write_doc(out, doc)
    return doc


def cmd_engine(args: argparse.Namespace) -> int:
    """Every workload for one engine, one measuring process per (workload, size)."""
    out_dir = Path(args.raw) / args.engine
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    extra = ["--runs", str(args.runs)]
    failures = 0
    for name in args.workload or list(WORKLOADS):
        workload = WORKLOADS[name]
        same = workload.sizes["shared"] == workload.sizes["full"]
        labels = ["full"] if same else ["shared", "full"]
        done: dict[str, dict[str, Any]] = {}
        for label in labels + [lab for lab in workload.scaling if lab not in ("full", "shared")]:
            out = out_dir / f"{name}-{label}.json"
            if label != labels[0]:
                first = done[labels[0]]
                if first["status"] != "ok":
                    said = first.get("why") or first.get("error") or first.get("reason")
                    done[label] = _skip(args.engine, workload, label, out,
                                        f"not run: at the {labels[0]} size the engine's answer was "
                                        f"{first['status']} ({said})")
                    print(_progress(done[label]), flush=True)
                    continue
                if label != "full" and done.get("full", {}).get("status") != "ok":
                    done[label] = _skip(args.engine, workload, label, out, "not run: the engine did not run the full size")
                    print(_progress(done[label]), flush=True)
                    continue
                if label == "full":
                    scale = workload.sizes["full"].cells / workload.sizes[labels[0]].cells
                    estimate = first["warm_median_s"] * scale
                    if estimate > FULL_CALL_LIMIT_S:
                        done[label] = _skip(args.engine, workload, label, out,
                                            f"not run: one call would take about {estimate:,.0f} s (the shared size's "
                                            f"{first['warm_median_s']:.2f} s x {scale:,.0f}), over the "
                                            f"{FULL_CALL_LIMIT_S:.0f} s limit per call")
                        print(_progress(done[label]), flush=True)
                        continue
            print(f"[bench] {args.engine:<11s} {name} {label:<6s} ({workload.size(label)}): measuring ...", flush=True)
            done[label] = _measure_in_subprocess(args.engine, name, label, out, extra)
            failures += done[label]["status"] == "error"
            print(_progress(done[label]), flush=True)
    return 1 if failures else 0


# --------------------------------------------------------------------------- root-cause search


def cmd_explain(args: argparse.Namespace) -> int:
    """harness.explain.search_root_cause on a stored scenario, the "engine" run made under one changed knob."""
    from harness import golden
    from harness.contract import KNOB_BY_FIELD
    from harness.explain import reference_result, search_root_cause
    from harness.scenario import SCENARIOS_DIR, load_scenario

    scenario = load_scenario(SCENARIOS_DIR / EXPLAIN_SCENARIO)
    base = scenario.spec.contract
    field, value = EXPLAIN_CHANGE
    obtained = reference_result(scenario, base.replace(**{field: value}))
    expected = golden.load(EXPLAIN_SCENARIO)
    search_root_cause(scenario, base, obtained, expected)  # warm: every code path compiled or loaded
    times, finding = [], {}
    for _ in range(EXPLAIN_REPEATS):
        t0 = time.perf_counter()
        finding = search_root_cause(scenario, base, obtained, expected)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    doc = {"scenario": EXPLAIN_SCENARIO, "bars": scenario.market.n_bars, "assets": scenario.market.n_assets,
           "changed_knob": f"{field} = {value!r}", "verdict": finding["verdict"],
           "explained_by": finding["explained_by"], "configurations": finding["configurations_tried"],
           "seconds": times, "median_s": median, "min_s": min(times), "max_s": max(times),
           "configurations_per_s": finding["configurations_tried"] / median, "status": "ok"}
    knob = KNOB_BY_FIELD[field].name
    doc["found_the_knob"] = any(len(e) == 1 and e[0].split(" = ")[0] == knob for e in finding["explained_by"])
    print(f"[bench] root-cause search: {EXPLAIN_SCENARIO} under {field} = {value!r}: {finding['verdict']} "
          f"({finding['explained_by']}), {finding['configurations_tried']} configurations in {_secs(median)} "
          f"-> {doc['configurations_per_s']:,.0f} configurations/s", flush=True)
    return _write_doc(Path(args.raw) / "explain.json", doc)


# --------------------------------------------------------------------------- reference profile


PROFILED = (("W1", "full"), ("W2", "shared"), ("W2", "tenth"), ("W2", "third"), ("W2", "full"),
            ("W3", "shared"), ("W3", "full"))


class _GcClock:
    """Time the cyclic garbage collector spends, per generation, while it is installed."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.collections[info["generation"]] += 1
            self.seconds[info["generation"]] += time.perf_counter() - self._start


def _profile_one(engine, workload: Workload, label: str, repeats: int = 5) -> dict[str, Any]:
    """One warm call split into its parts (median of ``repeats``), the garbage collector's share,
    the kernel's buffers and a cProfile of one call."""
    import cProfile
    import pstats

    from engine import kernel, reference
    from harness.results import build_result, validate_result

    scenario = build_scenario(workload, label)
    contract = scenario.spec.contract
    engine.run(scenario, "contract")  # warm
    parts: dict[str, list[float]] = {k: [] for k in ("total", "kernel", "records_to_fills", "build_result",
                                                     "validate_result")}
    clock = _GcClock()
    for _ in range(repeats):
        _trim()
        gc.callbacks.append(clock)
        t0 = time.perf_counter()
        engine.run(scenario, "contract")
        parts["total"].append(time.perf_counter() - t0)
        gc.callbacks.remove(clock)
        t0 = time.perf_counter()
        raw = reference._raw(scenario, contract)
        t1 = time.perf_counter()
        fills = reference._fills(scenario, raw[0][:raw[1]])
        rejections = reference._rejections(scenario, raw[2][:raw[3]])
        t2 = time.perf_counter()
        result = build_result(scenario, engine=REFERENCE, framework="numba", framework_version="-",
                              contract=contract, fills=fills, equity=raw[4], final_value=float(raw[4][-1]),
                              rejections=rejections)
        t3 = time.perf_counter()
        validate_result(result)
        t4 = time.perf_counter()
        parts["kernel"].append(t1 - t0)
        parts["records_to_fills"].append(t2 - t1)
        parts["build_result"].append(t3 - t2)
        parts["validate_result"].append(t4 - t3)
        del fills, rejections, result
    fills, n_fills, rejections, n_rejected, equity = raw
    size = workload.size(label)
    # The kernel's upper bound on the records: a buy needs an entry signal and a sell a position, and a
    # refused order is an entry's buy or a rule's sell on the bar its position closes (signals);
    # at most one order per asset and rebalance bar (rotation).
    if workload.kind == "signals":
        n_entries = int(np.count_nonzero(scenario.market.entries))
        bound_fills, bound_rejections = 2 * n_entries, 2 * n_entries  # the kernel's own bounds
    else:
        bound_fills = bound_rejections = int(np.count_nonzero(scenario.market.rebalance)) * scenario.market.n_assets
    entry: dict[str, Any] = {
        "workload": workload.name, "label": label, "size": str(size), "cells": size.cells,
        "parts_median_s": {k: statistics.median(v) for k, v in parts.items()},
        "gc_per_call": {"collections": [c / repeats for c in clock.collections],
                        "seconds": [t / repeats for t in clock.seconds]},
        "input_bytes": input_bytes(scenario), "n_fills": int(n_fills),
        "buffers": {
            "fills": {"rows_allocated": int(fills.shape[0]), "rows_used": int(n_fills), "rows_bound": bound_fills,
                      "bytes_allocated": int(fills.nbytes), "bytes_used": int(n_fills * fills.shape[1] * fills.itemsize),
                      "bytes_bound": bound_fills * fills.shape[1] * fills.itemsize},
            "rejections": {"rows_allocated": int(rejections.shape[0]), "rows_used": int(n_rejected),
                           "rows_bound": bound_rejections, "bytes_allocated": int(rejections.nbytes),
                           "bytes_used": int(n_rejected * rejections.shape[1] * rejections.itemsize),
                           "bytes_bound": bound_rejections * rejections.shape[1] * rejections.itemsize},
        },
        "columnar_s": _columnar_estimate(scenario, raw),
    }
    if workload.kind == "signals":
        # The kernel's floor: the same bars with no entry signal (every per-bar loop, no position).
        m = scenario.market
        args_ = (m.open, m.high, m.low, m.close, np.zeros_like(m.entries), m.exits, False, contract.cash,
                 contract.size, contract.fee, contract.slippage, contract.stop_loss, contract.take_profit, False,
                 contract.trailing_stop, True, contract.max_bars)
        kernel.simulate_signals(*args_)
        floor = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            kernel.simulate_signals(*args_)
            floor.append(time.perf_counter() - t0)
        entry["kernel_no_positions_s"] = statistics.median(floor)
    profiler = cProfile.Profile()
    profiler.enable()
    engine.run(scenario, "contract")
    profiler.disable()
    own = [{"function": f"{_short_file(file)}:{line}({func})", "calls": nc, "own_s": tt, "cumulative_s": ct}
           for (file, line, func), (_cc, nc, tt, ct, _callers) in pstats.Stats(profiler).stats.items()]  # type: ignore[attr-defined]
    own.sort(key=lambda r: -r["own_s"])
    entry["profile_own_time"] = own[:8]
    return entry


def cmd_profile(args: argparse.Namespace) -> int:
    """Where the reference engine's time and memory go on each workload and size, and in a fresh first call."""
    from harness.engines import load_engine

    engine = load_engine(REFERENCE)
    doc: dict[str, Any] = {"status": "ok", "workloads": {}}
    for name, label in PROFILED:
        if args.workload and name not in args.workload:
            continue
        entry = _profile_one(engine, WORKLOADS[name], label)
        doc["workloads"][f"{name}-{label}"] = entry
        ph = entry["parts_median_s"]
        gc_s = sum(entry["gc_per_call"]["seconds"])
        print(f"[bench] profile reference {name} {label:<6s}: warm {_secs(ph['total'])} = kernel {_secs(ph['kernel'])} "
              f"+ records->fills {_secs(ph['records_to_fills'])} + build_result {_secs(ph['build_result'])} "
              f"+ validate_result {_secs(ph['validate_result'])} (garbage collector {_secs(gc_s)} of it); "
              f"fill buffer {_mb(entry['buffers']['fills']['bytes_allocated'])} allocated, "
              f"{_mb(entry['buffers']['fills']['bytes_used'])} used", flush=True)
        gc.collect()

    # A fresh process's first call, profiled (numba's cache is written by now).
    cmd = [sys.executable, "-m", "harness.bench", "first-call", "--engine", REFERENCE, "--workload", "W3",
           "--size", "full", "--profile", "25"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=MEASURE_TIMEOUT_S)
    try:
        doc["fresh_first_call"] = {"workload": "W3", "size": "full", **json.loads(proc.stdout.strip().splitlines()[-1])}
    except (IndexError, json.JSONDecodeError):
        doc["fresh_first_call"] = {"status": "error", "error": proc.stderr.strip()[-400:]}
    return _write_doc(Path(args.raw) / "profile.json", doc)


def _columnar_estimate(scenario, raw) -> float:
    """Seconds to put the kernel's records in canonical order and check the schema while they stay in
    arrays (np.lexsort, vectorised checks): a prototype of a columnar canonical result, for comparison
    with the per-fill Python objects of ``harness.results``. Median of 5."""
    from engine import kernel
    from harness.contract import REASONS, SIDE_CODE

    fills, n_fills, _rej, _n_rej, equity = raw
    recs = fills[:n_fills]
    market = scenario.market
    asset_rank = np.argsort(np.argsort(np.asarray(market.assets)))  # the canonical order sorts by name
    reason_rank = np.argsort(np.argsort(np.asarray(REASONS)))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        a = recs[:, kernel.F_ASSET].astype(np.intp)
        b = recs[:, kernel.F_BAR].astype(np.intp)
        r = recs[:, kernel.F_REASON].astype(np.intp)
        buy = recs[:, kernel.F_SIDE] != SIDE_CODE["sell"]
        # One integer key in canonical order: bar, sells first, asset name, reason.
        key = ((b * 2 + buy) * market.n_assets + asset_rank[a]) * len(REASONS) + reason_rank[r]
        order = np.argsort(key, kind="stable")
        out = recs[order]
        values = out[:, [kernel.F_SIZE, kernel.F_PRICE, kernel.F_FEE]]
        ok = bool(np.isfinite(values).all() and (values[:, :2] > 0).all() and (values[:, 2] >= 0).all()
                  and ((b >= 0) & (b < market.n_bars)).all() and np.isfinite(equity).all()
                  and (np.diff(key[order]) > 0).all())  # identities (asset, bar, side, reason) unique
        times.append(time.perf_counter() - t0)
        if not ok:
            raise AssertionError("the kernel's records fail the schema checks")
    return statistics.median(times)


# --------------------------------------------------------------------------- nox -s validate


def _run_list(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['seconds']:.1f} s" for r in runs if not r.get("cold"))


def _engine_timing(name: str, t: dict[str, Any]) -> str:
    return f"{name} {t['seconds']:.1f} s with {t['jobs']} jobs"


def _tree_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "timings.json"}


def cmd_validate(args: argparse.Namespace) -> int:
    """Time ``nox -r -s validate`` (environments reused); check its parallel runs against a serial run."""
    from harness.registry import engine_entries

    nox = [args.nox_python, "-m", "nox", "-f", str(ROOT / "noxfile.py")]
    engines = [name for name, entry in engine_entries().items() if entry.gate]
    doc: dict[str, Any] = {"command": "nox -r -s validate", "engines": engines, "status": "ok"}

    # Environments first (untimed): create any that are missing and install the pins. A run right after an
    # environment was created compiles what vectorbt caches on disk; that run is timed apart (cold).
    missing = [name for name in ("validate", *engines) if not (ROOT / ".nox" / name).is_dir()]
    doc["created_environments"] = missing
    t0 = time.perf_counter()
    print(f"[bench] validate: preparing environments (nox -r --install-only -s validate {' '.join(engines)})",
          flush=True)
    prep = subprocess.run([*nox, "-r", "--install-only", "-s", "validate", *engines], cwd=ROOT,
                          capture_output=True, text=True)
    doc["prepare_s"] = time.perf_counter() - t0
    if prep.returncode != 0:
        doc.update(status="error", error=f"preparing the environments failed: {prep.stderr.strip()[-600:]}")
        return _write_doc(Path(args.raw) / "validate.json", doc)

    runs: list[dict[str, Any]] = []
    n_runs = args.validate_runs + (1 if missing else 0)
    for k in range(n_runs):
        cold = bool(missing) and k == 0
        print(f"[bench] validate: timing `nox -r -s validate` (run {k + 1} of {n_runs}"
              f"{', the first after creating ' + ', '.join(missing) + ': reported apart' if cold else ''}) ...",
              flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run([*nox, "-r", "-s", "validate"], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        tail = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()][-6:]
        timings = {}
        for name in engines:
            path = ROOT / "reports" / "runs" / name / "timings.json"
            if path.is_file():
                t = json.loads(path.read_text(encoding="utf-8"))
                slowest = sorted(((sec, f"{mode}/{scenario}") for mode, per in t.get("scenarios", {}).items()
                                  for scenario, sec in per.items()), reverse=True)[:3]
                timings[name] = {"seconds": t.get("seconds"), "jobs": t.get("jobs"),
                                 "slowest": [[label, sec] for sec, label in slowest]}
        runs.append({"seconds": seconds, "exit_code": proc.returncode, "engine_runs": timings, "tail": tail,
                     "cold": cold})
        print(f"[bench] validate: {seconds:.1f} s, exit code {proc.returncode} "
              f"({', '.join(_engine_timing(n, t) for n, t in timings.items())})", flush=True)
    doc["runs"] = runs
    doc["seconds"] = statistics.median(r["seconds"] for r in runs if not r["cold"])
    doc["cold_seconds"] = next((r["seconds"] for r in runs if r["cold"]), None)
    doc["exit_code"] = runs[-1]["exit_code"]
    gate = ROOT / "reports" / "latest" / "summary.json"
    if gate.is_file():
        summary = json.loads(gate.read_text(encoding="utf-8"))
        doc["gate_passed"] = summary.get("passed")
        doc["gate_counts"] = summary.get("counts")
        causes: dict[str, int] = {}
        for rec in summary.get("records", []):
            if rec.get("status") in ("error", "fail"):
                problem = (rec.get("problems") or ["?"])[0]
                problem = re.sub(r"golden/[\w.-]+", "golden/<scenario>", problem)
                problem = re.sub(r"\b\d+ assets\b", "N assets", problem)
                problem = re.sub(r" \(at [^)]*\)", "", problem)
                key = f"{rec['status']} ({rec.get('engine')}, {rec.get('mode')}): {problem[:160]}"
                causes[key] = causes.get(key, 0) + 1
        doc["gate_causes"] = [[k, n] for k, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))]

    if args.serial_check:
        serial_root = BENCH_DIR / "serial-runs"
        if serial_root.exists():
            shutil.rmtree(serial_root)
        identical = {}
        for name in engines:
            print(f"[bench] validate: serial run of {name} (--jobs 1) to compare with the parallel one ...", flush=True)
            t0 = time.perf_counter()
            rel = serial_root.relative_to(ROOT)
            proc = subprocess.run([*nox, "-R", "-s", name, "--", "--jobs", "1", "--quiet", "--runs-root", str(rel)],
                                  cwd=ROOT, capture_output=True, text=True)
            parallel = _tree_files(ROOT / "reports" / "runs" / name)
            serial = _tree_files(serial_root / name)
            differ = sorted(k for k in set(parallel) | set(serial) if parallel.get(k) != serial.get(k))
            jobs = json.loads((ROOT / "reports" / "runs" / name / "timings.json").read_text()).get("jobs")
            identical[name] = {"files": len(parallel), "differ": differ[:20], "n_differ": len(differ),
                               "identical": not differ and bool(parallel), "parallel_jobs": jobs,
                               "serial_s": time.perf_counter() - t0, "serial_exit": proc.returncode}
            print(f"[bench] validate: {name}: {len(parallel)} files, "
                  f"{'byte-identical' if not differ else f'{len(differ)} differ'} "
                  f"(parallel run: {jobs} jobs)", flush=True)
        doc["serial_check"] = identical
        shutil.rmtree(serial_root, ignore_errors=True)
    return _write_doc(Path(args.raw) / "validate.json", doc)


# --------------------------------------------------------------------------- report


def _load_raw(raw: Path) -> dict[str, Any]:
    from harness.registry import engine_entries

    engines = list(engine_entries())
    data: dict[str, Any] = {"engines": engines, "measurements": {}, "explain": None, "profile": None,
                            "validate": None}
    for name in engines:
        for path in sorted((raw / name).glob("*.json")) if (raw / name).is_dir() else []:
            doc = json.loads(path.read_text(encoding="utf-8"))
            data["measurements"].setdefault(doc["workload"], {}).setdefault(doc["size"], {})[name] = doc
    for key in ("explain", "profile", "validate"):
        path = raw / f"{key}.json"
        if path.is_file():
            data[key] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _ratio(doc: dict[str, Any] | None, ref: dict[str, Any] | None) -> float | None:
    if not doc or not ref or doc.get("status") != "ok" or ref.get("status") != "ok":
        return None
    return doc["warm_median_s"] / ref["warm_median_s"]


def _fmt_ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}x" if r >= 10 else f"{r:,.2f}x"


def _verdict(ok: bool | None) -> str:
    return {True: "**met**", False: "**missed**", None: "**not measurable**"}[ok]


def _slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    x = np.log([p[0] for p in points])
    y = np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def _prof(data: dict[str, Any], w: str, label: str) -> dict[str, Any] | None:
    return ((data.get("profile") or {}).get("workloads") or {}).get(f"{w}-{label}")


def _projected(p: dict[str, Any]) -> float:
    """The warm call's time if canonical results stayed in arrays: the kernel plus the columnar prototype
    (the door's own checks are microseconds)."""
    return p["parts_median_s"]["kernel"] + p["columnar_s"]


def _where_time_goes(p: dict[str, Any]) -> str:
    ph = p["parts_median_s"]
    total = ph["total"]
    gc_s = sum(p["gc_per_call"]["seconds"])
    return (f"the reference's warm call ({_secs(total)} in the profile run) is kernel {_secs(ph['kernel'])} "
            f"({ph['kernel'] / total:.0%}), Fill objects from the kernel's records {_secs(ph['records_to_fills'])}, "
            f"`build_result` {_secs(ph['build_result'])}, `validate_result` {_secs(ph['validate_result'])}; the "
            f"garbage collector takes {_secs(gc_s)} ({gc_s / total:.0%}) of the call")


def _targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    m = data["measurements"]
    engines = [e for e in data["engines"] if e != REFERENCE]
    out: list[dict[str, Any]] = []

    def get(w: str, label: str, engine: str) -> dict[str, Any] | None:
        return m.get(w, {}).get(label, {}).get(engine)

    def ok(d: dict[str, Any] | None) -> bool:
        return bool(d and d.get("status") == "ok")

    def size_of(d: dict[str, Any]) -> str:
        return str(Size(d["bars"], d["assets"]))

    # 1. reference vs every other engine, warm: 30x over an engine that runs the large workloads at
    # their full size, 1,000x over one that runs them only at the shared size (on every workload).
    for engine in engines:
        full_size = _runs_full_size(m, engine)
        need = 30.0 if full_size else 1000.0
        for w in ("W1", "W2", "W3"):
            if full_size and w == "W1":
                continue  # no target for one asset: its ratio is in the W1 table
            label = "full" if full_size or WORKLOADS[w].sizes["shared"] == WORKLOADS[w].sizes["full"] else "shared"
            doc, ref = get(w, label, engine), get(w, label, REFERENCE)
            if doc is None:
                continue
            r = _ratio(doc, ref)
            target = {"target": f"reference warm >= {need:,.0f}x {engine} warm on {w} ({label} size)",
                      "met": None if r is None else r >= need, "value": r}
            cpu = (doc["warm_cpu_median_s"] / ref["warm_cpu_median_s"]
                   if r is not None and doc.get("warm_cpu_median_s") and ref.get("warm_cpu_median_s") else None)
            if cpu is not None and cpu < need:
                target["met"] = False  # met only when it holds on CPU time too (other processes inflate wall time)
            if r is None:
                target["evidence"] = (f"{engine} {doc['status']} at {size_of(doc)}: "
                                      f"{doc.get('why') or doc.get('error') or doc.get('reason')}")
                target["closing"] = (f"{engine} has to run the workload first; nothing here measures it. The "
                                     f"bench picks it up unchanged once the engine runs this scenario shape.")
            else:
                target["cpu_ratio"] = cpu
                target["evidence"] = (f"{_fmt_ratio(r)}: {engine} {_secs(doc['warm_median_s'])}, reference "
                                      f"{_secs(ref['warm_median_s'])} at {size_of(doc)}"
                                      + (f" (on CPU time {_fmt_ratio(cpu)}: {_secs(doc['warm_cpu_median_s'])} / "
                                         f"{_secs(ref['warm_cpu_median_s'])})" if cpu else ""))
                p = _prof(data, w, label)
                if p and not target["met"]:
                    proj = _projected(p)
                    target["closing"] = (f"{_where_time_goes(p)}. With canonical results kept in arrays the call "
                                         f"would take about {_secs(proj)} (kernel plus the columnar prototype's "
                                         f"{_secs(p['columnar_s'])}): {doc['warm_median_s'] / proj:,.0f}x.")
            out.append(target)

    # 2. throughput on W2.
    ref = get("W2", "full", REFERENCE)
    if ok(ref):
        t = {"target": ">= 100 M bar-assets/s on W2 (reference, full size, end to end)",
             "met": ref["cells_per_s"] >= 100e6, "value": ref["cells_per_s"],
             "evidence": f"{ref['cells_per_s'] / 1e6:,.1f} M bar-assets/s ({ref['cells']:,} bar-assets in "
                         f"{_secs(ref['warm_median_s'])}; fastest call {ref['cells'] / ref['warm_min_s'] / 1e6:,.1f} M/s)"}
        p = _prof(data, "W2", "full")
        if p and not t["met"]:
            ph = p["parts_median_s"]
            proj = _projected(p)
            floor = p.get("kernel_no_positions_s")
            t["closing"] = (f"{_where_time_goes(p)}. The kernel alone runs {ref['cells'] / ph['kernel'] / 1e6:,.0f} M "
                            f"bar-assets/s; with canonical results kept in arrays the call would run about "
                            f"{ref['cells'] / proj / 1e6:,.0f} M/s. The rest is the kernel: its scans of every asset "
                            f"on every bar cost {_secs(floor)} with no position open (the floor), the stop checks of "
                            f"open positions and the {p['n_fills']:,} fills the remainder. Candidates there (not "
                            f"measured here): visit only open positions in the stop phase (a compact index list), "
                            f"compute a position's stop-loss and take-profit levels once at its entry rather than on "
                            f"every bar, and add up the bar's value in the entry pass instead of a fifth pass over "
                            f"the assets.")
        out.append(t)

    # 3. first call within 0.3 s of warm (reference, every workload and size it ran).
    gaps = [(d["first_call_s"] - d["warm_median_s"], w, label, d)
            for w, sizes in m.items() for label, per in sizes.items()
            for d in [per.get(REFERENCE)] if ok(d) and d.get("first_call_s") is not None]
    if gaps:
        worst = max(gaps, key=lambda g: g[0])
        t = {"target": "first call in a new process (numba's cache written) within 0.3 s of warm (reference)",
             "met": worst[0] <= 0.3, "value": worst[0],
             "evidence": f"largest gap {_secs(worst[0])} on {worst[1]} {worst[2]} (first call "
                         f"{_secs(worst[3]['first_call_s'])}, warm {_secs(worst[3]['warm_median_s'])}); "
                         + ", ".join(f"{g[1]} {g[2]} {_secs(g[0])}" for g in sorted(gaps, key=lambda g: (g[1], g[2])))}
        fresh = (data.get("profile") or {}).get("fresh_first_call") or {}
        rows = {r["function"].split(":", 1)[1] if ":" in r["function"] else r["function"]: r
                for r in fresh.get("profile", [])}
        load = next((r for k, r in rows.items() if k.endswith("(load_overload)")), None)
        refresh = next((r for k, r in rows.items() if k.endswith("(refresh)") and "base.py" in r["function"]), None)
        if not t["met"] and load:
            t["closing"] = (f"in a fresh process numba's first dispatch loads the cached kernel: `load_overload` "
                            f"{_secs(load['cumulative_s'])} under cProfile (first call of {fresh['workload']} "
                            f"{fresh['size']}), of which initialising numba's typing and lowering registries "
                            f"(`BaseContext.refresh`, the imports it triggers) "
                            f"{_secs(refresh['cumulative_s']) if refresh else '?'}; nothing is compiled. That cost is "
                            f"numba's, once per process; the kernel's code does not change it. Loading the kernels at "
                            f"`engine.reference` import (e.g. a call on a two-bar array) would move it into the import, "
                            f"not remove it. The rest of the gap is the first pass over the Python side (object "
                            f"allocation, first garbage collections).")
        out.append(t)

    # 4. linear cost across the scaling series.
    for w, workload in WORKLOADS.items():
        if not workload.scaling:
            continue
        docs = [(lab, get(w, lab, REFERENCE)) for lab in workload.scaling]
        docs = [(lab, d) for lab, d in docs if ok(d)]
        s_med = _slope([(d["cells"], d["warm_median_s"]) for _, d in docs])
        s_min = _slope([(d["cells"], d["warm_min_s"]) for _, d in docs])
        if s_med is None:
            continue
        per_cell = ", ".join(f"{SCALING_NAMES[lab]} {d['warm_median_s'] / d['cells'] * 1e9:,.0f} ns" for lab, d in docs)
        t = {"target": f"cost linear in bars x assets across the {w} scaling series (reference)",
             "met": 0.85 <= s_med <= 1.15, "value": s_med,
             "evidence": f"log-log slope of warm time against bar-assets {s_med:.2f} on the medians, {s_min:.2f} on "
                         f"the fastest calls (1 is linear; 0.85 to 1.15 counted as linear); time per bar-asset "
                         f"{per_cell}"}
        profs = [(lab, _prof(data, w, lab)) for lab in workload.scaling]
        profs = [(lab, p) for lab, p in profs if p]
        if profs and not t["met"]:
            def ns(p: dict[str, Any], x: float) -> str:
                return f"{x / p['cells'] * 1e9:,.0f}"
            kern = ", ".join(f"{SCALING_NAMES[lab]} {ns(p, p['parts_median_s']['kernel'])}" for lab, p in profs)
            py = ", ".join(f"{SCALING_NAMES[lab]} {ns(p, p['parts_median_s']['records_to_fills'] + p['parts_median_s']['build_result'] + p['parts_median_s']['validate_result'])}"
                           for lab, p in profs)
            gcs = ", ".join(f"{SCALING_NAMES[lab]} {sum(p['gc_per_call']['seconds']) / p['parts_median_s']['total']:.0%} "
                            f"({p['gc_per_call']['collections'][2]:.1f} full collections per call)" for lab, p in profs)
            t["closing"] = (f"ns per bar-asset in the profile run: kernel {kern} (about linear); the per-fill Python "
                            f"side {py}; the garbage collector's share of the call {gcs}: every Fill object is a "
                            f"tracked container, and the full collections its numbers trigger traverse everything "
                            f"alive. Canonical results kept in arrays (no object per fill) remove both the per-fill "
                            f"cost and the collector's growth; the machine's load adds noise on top (see the min-max "
                            f"spread).")
        out.append(t)

    # 5. memory.
    for w in ("W2", "W3"):
        d = get(w, "full", REFERENCE)
        if not (ok(d) and d.get("run_extra_rss") is not None):
            continue
        ratio = d["run_extra_rss"] / d["input_bytes"]
        p = _prof(data, w, "full")
        met: bool | None = ratio <= 2.0
        evidence = (f"a warm call's peak RSS rises {_mb(d['run_extra_rss'])} above the RSS before it, {ratio:.2f}x the "
                    f"{_mb(d['input_bytes'])} of input arrays")
        closing = None
        if p:
            b = p["buffers"]
            allocated = b["fills"]["bytes_allocated"] + b["rejections"]["bytes_allocated"]
            used = b["fills"]["bytes_used"] + b["rejections"]["bytes_used"]
            evidence += (f"; the kernel sizes its fill and rejection buffers by the orders that can happen "
                         f"(2 x entry signals; one order per asset per rebalance bar): "
                         f"{_mb(allocated)} ({allocated / d['input_bytes']:.1f}x the inputs), {_mb(used)} of them "
                         f"written (only written pages become resident)")
            bound = b["fills"]["bytes_bound"] + b["rejections"]["bytes_bound"]
            if allocated > 2.0 * d["input_bytes"]:
                met = False
                closing = (f"the fill and rejection buffers ({_mb(allocated)}) exceed twice the inputs although "
                           f"they are sized by the orders (bound {_mb(bound)}, {_mb(used)} written): a workload this "
                           f"dense in entry signals needs buffers that start small and double when full.")
        t = {"target": f"peak memory <= 2x the input arrays on {w} (reference, full size)", "met": met,
             "value": ratio, "evidence": evidence}
        if closing:
            t["closing"] = closing
        out.append(t)

    # 6. validate.
    v = data.get("validate")
    if v and v.get("status") == "ok":
        out.append({"target": "nox -s validate with environments reused in under 60 s",
                    "met": v["seconds"] < 60.0, "value": v["seconds"],
                    "evidence": f"`{v['command']}` took {v['seconds']:.1f} s (exit code {v['exit_code']}: the gate's "
                                f"own verdict, see below); "
                                + ", ".join(_engine_timing(n, t) for n, t in v["runs"][-1]["engine_runs"].items())})
        sc = v.get("serial_check")
        if sc:
            out.append({"target": "validate's parallel outputs byte-identical to a serial run",
                        "met": all(x["identical"] for x in sc.values()), "value": None,
                        "evidence": "; ".join(f"{n}: {x['files']} files, "
                                              f"{'identical' if x['identical'] else str(x['n_differ']) + ' differ'} "
                                              f"({x['parallel_jobs']} jobs vs 1)" for n, x in sc.items())})
    elif v:
        out.append({"target": "nox -s validate with environments reused in under 60 s", "met": None, "value": None,
                    "evidence": v.get("error", "?")})
    return out


def _runs_full_size(m: dict[str, Any], engine: str) -> bool:
    """Did ``engine`` run (or state that it cannot run) W2 or W3 at full size, rather than skip it for time?"""
    return any(m.get(w, {}).get("full", {}).get(engine, {}).get("status") in ("ok", "unsupported")
               for w in ("W2", "W3"))


def cmd_report(args: argparse.Namespace) -> int:
    raw = Path(args.raw)
    data = _load_raw(raw)
    targets = _targets(data)
    doc = {"engines": data["engines"], "workloads": {w: {"title": wl.title, "sizes": {k: {"bars": s.bars, "assets": s.assets}
                                                                                      for k, s in wl.sizes.items()}}
                                                     for w, wl in WORKLOADS.items()},
           "measurements": data["measurements"], "explain": data["explain"], "profile": data["profile"],
           "validate": data["validate"], "targets": targets, "machine": _machine()}
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "bench.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (BENCH_DIR / "bench.md").write_text(_markdown(data, targets), encoding="utf-8")
    print(f"[bench] wrote {(BENCH_DIR / 'bench.md').relative_to(ROOT)} and {(BENCH_DIR / 'bench.json').relative_to(ROOT)}")
    for t in targets:
        print(f"[bench] {('MET' if t['met'] else 'MISSED' if t['met'] is False else 'N/A'):6s} {t['target']}: {t['evidence']}")
    return 0


def _machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "platform": platform.platform(), "load_at_report": os.getloadavg()[0],
            "pythondontwritebytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))}


def _markdown(data: dict[str, Any], targets: list[dict[str, Any]]) -> str:
    m = data["measurements"]
    engines = data["engines"]
    machine = _machine()
    lines = ["# Bench", "",
             f"`nox -s bench` on {machine['cpu']}, {machine['cores']} cores ({machine['platform']}). "
             "Each engine ran in its own virtualenv (`.nox/bench-<engine>`, its registry dependency group) on the "
             "same generated inputs (`harness/bench.py`, fixed seeds).", "",
             "**What is timed**: `engine.run(scenario, \"contract\")` on a Scenario built in memory, from its arrays "
             "to canonical fills, equity and final value (for every engine the same span; imports and input "
             "generation are outside it). **Warm**: the median of at least 5 calls in one process after a first "
             "call (min and max beside it); **warm CPU**: the median CPU time of those calls (`time.process_time`), "
             "which other processes on the machine disturb less than wall time. **First call**: one call in a fresh process (import and input "
             "generation untimed), started after numba's cache was written; the median of 3 fresh processes when "
             "a call takes under 2 s, else 1. **Bar-assets/s**: bars x assets / warm median. **Run peak RSS**: the "
             "largest rise of resident memory during a warm call over the resident memory just before it (the "
             "high-water mark is reset before each call; `ru_maxrss` after it). **Process peak**: `ru_maxrss` of "
             "the fresh first-call process (interpreter, imports, inputs, compilation). **vs reference**: the "
             "engine's warm time over the reference engine's at the same size (equal work: same inputs, same "
             "contract; fills and final value are listed to show it). A speed target counts as met only when it "
             "holds on the warm CPU times as well as on the wall times.", ""]
    load = [d.get("load_before") for sizes in m.values() for per in sizes.values() for d in per.values()
            if d.get("load_before") is not None]
    if load:
        lines += [f"1-minute load average when measurements started: {min(load):.2f} to {max(load):.2f} "
                  f"(other work on this {machine['cores']}-core machine shares it; the min-max spread shows the noise).", ""]
    lines += ["## Targets", "", "| target | verdict | measured |", "|---|---|---|"]
    for t in targets:
        lines.append(f"| {t['target']} | {_verdict(t['met'])} | {t['evidence']} |")
    lines.append("")
    closing = [t for t in targets if t["met"] is not True and t.get("closing")]
    if closing:
        lines += ["What would close each gap (from the profile below):", ""]
        lines += [f"- **{t['target']}**: {t['closing']}" for t in closing]
        lines.append("")

    for w, workload in WORKLOADS.items():
        sizes = m.get(w, {})
        if not sizes:
            continue
        lines += [f"## {w}: {workload.title}", "",
                  "| engine | size | first call (fresh) | warm median [min - max] (runs) | warm CPU | bar-assets/s | "
                  "run peak RSS | process peak | inputs | vs reference | fills / rejections | final value |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        order = [lab for lab in ("full", "shared", "third", "tenth") if lab in sizes]
        notes = []
        for label in order:
            if label in ("third", "tenth"):
                continue
            if label == "shared" and workload.sizes["shared"] == workload.sizes["full"]:
                continue
            ref = sizes[label].get(REFERENCE)
            for engine in engines:
                d = sizes[label].get(engine)
                if d is None:
                    continue
                size = f"{label}: {Size(d['bars'], d['assets'])}"
                if d["status"] != "ok":
                    reason = d.get("why") or d.get("error") or d.get("reason")
                    lines.append(f"| {engine} | {size} | {d['status']} | - | - | - | - | - | - | - | - | - |")
                    notes.append(f"- {engine}, {size}: {d['status']}: {reason}")
                    continue
                r = _ratio(d, ref) if engine != REFERENCE else None
                lines.append(
                    f"| {engine} | {size} | {_secs(d.get('first_call_s'))} | {_secs(d['warm_median_s'])} "
                    f"[{_secs(d['warm_min_s'])} - {_secs(d['warm_max_s'])}] ({d['warm_runs']}) | "
                    f"{_secs(d.get('warm_cpu_median_s'))} | {_rate(d['cells_per_s'])} | +{_mb(d.get('run_extra_rss'))} | {_mb(d.get('fresh_maxrss'))} | "
                    f"{_mb(d['input_bytes'])} | {'1 (baseline)' if engine == REFERENCE else _fmt_ratio(r) + ' slower' if r and r >= 1 else _fmt_ratio(r)} | "
                    f"{d['n_fills']:,} / {d['n_rejections']:,} | {d['final_value']:,.6f} |")
        lines.append("")
        lines += notes + ([""] if notes else [])
        agree = _agreement(sizes)
        if agree:
            lines += agree + [""]
        if workload.scaling:
            lines += [f"Scaling series ({w}, assets scaled at {workload.sizes['full'].bars:,} bars):", "",
                      "| engine | size | bar-assets | warm median | ns per bar-asset | bar-assets/s | run peak RSS | fills |",
                      "|---|---|---|---|---|---|---|---|"]
            for engine in engines:
                for lab in workload.scaling:
                    d = sizes.get(lab, {}).get(engine)
                    if not d or d["status"] != "ok":
                        continue
                    lines.append(f"| {engine} | {SCALING_NAMES[lab]} ({d['assets']:,} assets) | {d['cells']:,} | "
                                 f"{_secs(d['warm_median_s'])} | {d['warm_median_s'] / d['cells'] * 1e9:,.1f} | "
                                 f"{_rate(d['cells_per_s'])} | +{_mb(d.get('run_extra_rss'))} | {d['n_fills']:,} |")
            lines.append("")

    ex = data.get("explain")
    if ex:
        lines += ["## Root-cause search", "",
                  f"`harness.explain.search_root_cause` on the stored scenario `{ex['scenario']}` "
                  f"({ex['bars']:,} bars x {ex['assets']} asset), judged against its golden, with the \"engine\" "
                  f"result made by the reference engine under one changed knob ({ex['changed_knob']}). "
                  f"Verdict: {ex['verdict']}, explained by {ex['explained_by']} "
                  f"({'the changed knob was found' if ex['found_the_knob'] else 'the changed knob was NOT found'}).", "",
                  "| configurations tried | median time [min - max] (runs) | configurations/s |", "|---|---|---|",
                  f"| {ex['configurations']} | {_secs(ex['median_s'])} [{_secs(ex['min_s'])} - {_secs(ex['max_s'])}] "
                  f"({len(ex['seconds'])}) | {ex['configurations_per_s']:,.0f} |", ""]

    v = data.get("validate")
    if v:
        lines += ["## `nox -s validate`, environments reused", ""]
        if v.get("status") != "ok":
            lines += [f"Not measured: {v.get('error')}", ""]
        else:
            last = v["runs"][-1]
            cold = (f" The first run after creating {', '.join(v['created_environments'])} took "
                    f"{v['cold_seconds']:.1f} s (vectorbt compiles and caches its cache=True functions in its "
                    f"environment); it is not the figure judged." if v.get("cold_seconds") else "")
            lines += [f"Timed as a subprocess of the bench session: `{v['command']}` (after an untimed "
                      f"`nox -r --install-only` that created or updated the environments, {v['prepare_s']:.0f} s). "
                      f"Wall time {v['seconds']:.1f} s (median of {_run_list(v['runs'])}), exit code {v['exit_code']} "
                      f"(gate {'passed' if v.get('gate_passed') else 'failed'}: {v.get('gate_counts')}).{cold}", "",
                      "| engine | its `harness run` | jobs | slowest scenarios (the first of each code path compiles) |",
                      "|---|---|---|---|"]
            for n, t in last["engine_runs"].items():
                slow = ", ".join(f"{label} {sec:.2f} s" for label, sec in t.get("slowest", []))
                lines.append(f"| {n} | {t['seconds']:.1f} s | {t['jobs']} | {slow} |")
            lines += ["", f"The rest of the wall time is nox (one process per engine session, each checking its "
                      f"pins with `uv pip install`) and the gate (comparison with the goldens, reports, the "
                      f"root-cause search of each failing check).", ""]
            if v.get("serial_check"):
                lines += ["Parallel against serial (`--jobs 1`), every file of `reports/runs/<engine>/` but "
                          "`timings.json`:", ""]
                for n, x in v["serial_check"].items():
                    lines.append(f"- {n}: {x['files']} files, "
                                 f"{'byte-identical' if x['identical'] else 'DIFFER: ' + ', '.join(x['differ'])}")
                lines.append("")
            if v.get("gate_causes"):
                lines += ["Why the gate exits non-zero (the checks that did not pass, grouped; none is a timing matter):",
                          "", "| checks | status (engine, mode): first problem |", "|---|---|"]
                lines += [f"| {n} | {k} |" for k, n in v["gate_causes"]]
                lines.append("")

    prof = data.get("profile")
    if prof:
        lines += _profile_markdown(prof)
    return "\n".join(lines).rstrip() + "\n"


def _rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:,.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:,.1f} k"
    return f"{x:,.0f}"


def _agreement(sizes: dict[str, dict[str, Any]]) -> list[str]:
    """Do the engines that ran one size agree on the outcome (the same work)?"""
    out = []
    for label, per in sizes.items():
        ok = {e: d for e, d in per.items() if d.get("status") == "ok"}
        if len(ok) < 2:
            continue
        fills = {d["n_fills"] for d in ok.values()}
        values = [d["final_value"] for d in ok.values()]
        spread = (max(values) - min(values)) / max(abs(v) for v in values)
        same = len(fills) == 1 and spread <= 1e-9
        out.append(f"Equal work at {label} size: {', '.join(ok)} "
                   + ("agree (same fill count, final values within 1e-9 relative)." if same else
                      f"DISAGREE (fills {sorted(fills)}, final-value spread {spread:.2e}): the ratio compares "
                      "different outcomes."))
    return out


def _profile_markdown(prof: dict[str, Any]) -> list[str]:
    lines = ["## Where the reference engine's time and memory go", "",
             "`python -m harness.bench profile`, in the bench session's own process: each warm call split into "
             "its parts (median of 5): the kernel (`engine/kernel.py`, numba), the kernel's records made into "
             "`Fill`/`Rejection` objects (`engine/reference.py`), `build_result` (canonical order: a sort of every "
             "fill, equity made a tuple of floats) and `validate_result` (a Python loop over every fill and every "
             "equity value), both in `harness/results.py`. *GC*: time the cyclic garbage collector spent inside "
             "the warm calls (`gc.callbacks`). *Floor*: the kernel on the same bars with no entry signal. "
             "*Columnar*: the same canonical order and schema checks done on the kernel's record arrays "
             "(`np.argsort` of one integer key, vectorised checks; `_columnar_estimate` in harness/bench.py, a "
             "prototype, not the harness's code). The parts are timed in calls of their own, so their sum and the "
             "warm call differ by the machine's noise.", "",
             "| workload | warm call | kernel | records -> fills | build_result | validate_result | GC (full collections) | fills | kernel floor | columnar |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for key, e in prof["workloads"].items():
        ph = e["parts_median_s"]
        gc_s = sum(e["gc_per_call"]["seconds"])
        lines.append(f"| {key} ({e['size']}) | {_secs(ph['total'])} | {_secs(ph['kernel'])} "
                     f"({e['cells'] / ph['kernel'] / 1e6:,.0f} M bar-assets/s) | "
                     f"{_secs(ph['records_to_fills'])} | {_secs(ph['build_result'])} | {_secs(ph['validate_result'])} | "
                     f"{_secs(gc_s)} ({e['gc_per_call']['collections'][2]:.1f}) | {e['n_fills']:,} | "
                     f"{_secs(e.get('kernel_no_positions_s'))} | {_secs(e.get('columnar_s'))} |")
    lines += ["", "Kernel buffers (`np.empty` sized by the bound; only the rows written become resident):", "",
              "| workload | inputs | fill rows allocated / bound / used | fill bytes allocated / bound / used | rejection rows allocated / bound / used | rejection bytes allocated / bound / used |",
              "|---|---|---|---|---|---|"]
    for key, e in prof["workloads"].items():
        f, r = e["buffers"]["fills"], e["buffers"]["rejections"]
        lines.append(f"| {key} | {_mb(e['input_bytes'])} | {f['rows_allocated']:,} / {f['rows_bound']:,} / {f['rows_used']:,} | "
                     f"{_mb(f['bytes_allocated'])} / {_mb(f['bytes_bound'])} / {_mb(f['bytes_used'])} | "
                     f"{r['rows_allocated']:,} / {r['rows_bound']:,} / {r['rows_used']:,} | "
                     f"{_mb(r['bytes_allocated'])} / {_mb(r['bytes_bound'])} / {_mb(r['bytes_used'])} |")
    lines += ["", "*Bound*: the most rows the run could need (fills <= 2 x entry signals, rejections <= 2 x entry signals; "
              "rotation: rebalance bars x assets)."]
    lines.append("")
    for key in ("W1-full", "W2-full", "W3-full"):
        e = prof["workloads"].get(key)
        if not e:
            continue
        lines += [f"Largest own times in one warm call of {key} (cProfile; its overhead inflates the Python parts):", "",
                  "| function | calls | own time |", "|---|---|---|"]
        for row in e["profile_own_time"][:6]:
            lines.append(f"| `{row['function']}` | {row['calls']:,} | {_secs(row['own_s'])} |")
        lines.append("")
    fresh = prof.get("fresh_first_call")
    if fresh and fresh.get("status") == "ok":
        lines += [f"A fresh process's first call of {fresh['workload']} ({fresh['size']}), under cProfile: "
                  f"{_secs(fresh['first_call_s'])} (the import before it, untimed: {_secs(fresh['import_s'])}). "
                  "Largest cumulative times:", "", "| function | calls | cumulative |", "|---|---|---|"]
        for row in fresh.get("profile", [])[:14]:
            lines.append(f"| `{row['function']}` | {row['calls']:,} | {_secs(row['cumulative_s'])} |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.bench", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--raw", default=str(RAW_DIR), help="where the per-engine results go")
        q.add_argument("--workload", action="append", choices=list(WORKLOADS), help="only this workload (repeatable)")
        q.add_argument("--runs", type=int, default=MIN_WARM_RUNS, help="warm calls per measurement (at least 5)")
        q.add_argument("--validate-runs", type=int, default=2, help="timed `nox -r -s validate` runs (median)")
        q.add_argument("--no-serial-check", dest="serial_check", action="store_false",
                       help="skip the serial run that checks validate's outputs")
        q.add_argument("--no-validate", dest="validate", action="store_false", help="skip timing nox -s validate")

    q = sub.add_parser("engine", help="every workload for one engine")
    q.add_argument("--engine", required=True)
    common(q)
    q = sub.add_parser("measure", help="one workload at one size")
    q.add_argument("--engine", required=True)
    q.add_argument("--workload", required=True, choices=list(WORKLOADS))
    q.add_argument("--size", required=True)
    q.add_argument("--out", required=True)
    q.add_argument("--runs", type=int, default=MIN_WARM_RUNS)
    q.add_argument("--fresh", type=int, default=None, help="fresh-process first calls (default 3 if a call < 2 s, else 1)")
    q = sub.add_parser("first-call", help="one call in this (fresh) process; JSON on stdout")
    q.add_argument("--engine", required=True)
    q.add_argument("--workload", required=True, choices=list(WORKLOADS))
    q.add_argument("--size", required=True)
    q.add_argument("--profile", type=int, default=0, help="cProfile the call; list this many entries")
    for name in ("explain", "profile", "report", "clean"):
        q = sub.add_parser(name)
        common(q)
    q = sub.add_parser("validate")
    q.add_argument("--nox-python", required=True, help="the Python that runs nox")
    common(q)
    return p


def cmd_clean(args: argparse.Namespace) -> int:
    if Path(args.raw).exists():
        shutil.rmtree(args.raw)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "engine": cmd_engine, "measure": cmd_measure, "first-call": cmd_first_call, "explain": cmd_explain,
    "profile": cmd_profile, "validate": cmd_validate, "report": cmd_report, "clean": cmd_clean,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "runs", MIN_WARM_RUNS) < MIN_WARM_RUNS:
        raise SystemExit(f"--runs must be at least {MIN_WARM_RUNS}")
    if args.command == "validate" and not args.validate:
        return 0
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
