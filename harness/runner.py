"""Run one engine over the scenario library, in each of its modes, and store canonical results.

Results go to ``reports/runs/<engine>/<mode>/<scenario>/``. ``run.json`` beside
them records what ran (framework and version, the engine's profile, capabilities
and witness table) and each scenario's outcome: ``ok``, ``unsupported`` (with
the knob) or ``error`` (one line). It is written before the first scenario and
after every scenario, with ``finished: false`` and the scenario being run, so a
process that dies mid-run (a segfault in a framework) still leaves a record
naming the scenario it died on.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from harness.engines import ANY, Engine, Unsupported, load_engine
from harness.errors import HarnessError, InputError, display_path
from harness.registry import EngineEntry, engine_entries
from harness.results import json_text, read_results, write_results
from harness.scenario import SCENARIOS_DIR, Scenario, load_scenario

__all__ = ["RUNS_DIR", "run_engine", "read_run", "scenario_outcome", "load_run_result", "engine_metadata"]

RUNS_DIR = SCENARIOS_DIR.parent / "reports" / "runs"


def _short_trace(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}{where}"


def engine_metadata(engine: Engine) -> dict[str, Any]:
    """What the gate and the reports need to know of an engine without importing it."""
    return {
        "framework": engine.framework,
        "framework_version": engine.framework_version(),
        "modes": list(engine.modes),
        "profile": dict(engine.profile),
        "profile_evidence": dict(engine.profile_evidence),
        "capabilities": {mode: {field: "any" if accepted is ANY else list(accepted)
                                for field, accepted in table.items()}
                         for mode, table in engine.capabilities.items()},
        "witness": {mode: {field: list(entry) for field, entry in table.items()}
                    for mode, table in engine.witness.items()},
    }


def _write_record(path: Path, record: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json_text(record), encoding="utf-8")
    os.replace(tmp, path)


def _run_one(engine: Engine, out: Path, scenario: Scenario | InputError, mode: str,
             name: str) -> tuple[dict[str, Any], str, float]:
    """Run one (loaded) scenario in one mode and store its result: (status, console line, seconds)."""
    t0 = time.perf_counter()
    try:
        if isinstance(scenario, InputError):
            raise scenario
        result = engine.run(scenario, mode)
        write_results(out / mode / name, result)
        status: dict[str, Any] = {"status": "ok", "n_fills": len(result.fills)}
        line = f"{len(result.fills):6d} fills  final value {result.final_value!r}"
    except Unsupported as exc:
        status = {"status": "unsupported", "knob": exc.knob, "why": exc.why}
        line = f"unsupported: {exc}"
    except InputError as exc:
        status = {"status": "error", "error": str(exc)}
        line = f"ERROR {exc}"
    except Exception as exc:
        status = {"status": "error", "error": _short_trace(exc)}
        line = f"ERROR {status['error']}"
    return status, line, time.perf_counter() - t0


_WORKER: dict[str, Any] = {}  # the forked workers' engine and output folder (inherited from the parent)


def _worker_run(task: tuple[str, str]) -> tuple[dict[str, Any], str, float]:
    return _run_one(_WORKER["engine"], _WORKER["out"], _WORKER["scenarios"][task[1]], *task)


def _load(name: str) -> Scenario | InputError:
    try:
        return load_scenario(SCENARIOS_DIR / name)
    except InputError as exc:
        return exc


def _path_of(scenario: Scenario | InputError, mode: str) -> tuple[str, str, bool]:
    """Which code path of an engine a scenario takes (its first run compiles or imports what the path needs)."""
    if isinstance(scenario, InputError):
        return mode, "?", False
    return mode, scenario.spec.contract.sizing_mode, scenario.spec.contract.has_exit_rules


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def run_engine(engine_name: str, scenarios: list[str], *, modes: list[str] | None = None,
               runs_root: Path = RUNS_DIR, log: Callable[[str], None] = print, quiet: bool = False,
               entries: dict[str, EngineEntry] | None = None, jobs: int = 1) -> bool:
    """Run ``engine_name`` on each scenario in each mode; True when nothing errored.

    Unsupported scenarios are not errors (they are reported as such by the gate).
    ``entries`` replaces the registry (tests register engines of their own).
    ``jobs`` > 1 runs scenarios in forked worker processes, after the first
    scenario of each code path has run here (so workers inherit what it
    compiled). Every scenario is loaded here, before any fork: workers never
    call polars, whose thread pool does not survive a fork. Every output is
    the same as a serial run's.
    """
    entries = engine_entries() if entries is None else entries
    if engine_name not in entries:
        raise HarnessError(f"unknown engine {engine_name!r}; registered engines: {', '.join(entries)}")
    modes = list(modes or entries[engine_name].modes)
    for mode in modes:
        if mode not in entries[engine_name].modes:
            raise HarnessError(f"engine {engine_name} has no {mode!r} mode (registry: {', '.join(entries[engine_name].modes)})")
    if jobs < 1:
        raise HarnessError(f"--jobs must be at least 1, got {jobs}")
    out = runs_root / engine_name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    record: dict[str, Any] = {"engine": engine_name, "python": sys.version.split()[0], "finished": False,
                              "results": {mode: {} for mode in modes}}
    run_json = out / "run.json"
    _write_record(run_json, record)
    try:
        engine = load_engine(engine_name, entries)
        record.update(engine_metadata(engine))
    except Exception as exc:  # ImportError, or a framework that breaks while importing
        record["import_error"] = _short_trace(exc)
        record["finished"] = True
        _write_record(run_json, record)
        log(f"[{engine_name}] cannot load the engine: {record['import_error']}")
        return False

    tasks = [(mode, name) for mode in modes for name in scenarios]
    forks = engine.fork_safe and "fork" in multiprocessing.get_all_start_methods()
    jobs = min(jobs, len(tasks)) if forks else 1
    log(f"[{engine_name}] {engine.framework} {record['framework_version']}: {len(scenarios)} scenario(s) x "
        f"{len(modes)} mode(s) ({', '.join(modes)}), {jobs} job(s)")
    started = time.perf_counter()
    outcomes: dict[tuple[str, str], tuple[dict[str, Any], str, float]] = {}
    done = 0

    def record_outcome(task: tuple[str, str], outcome: tuple[dict[str, Any], str, float]) -> None:
        nonlocal done
        done += 1
        outcomes[task] = outcome
        status, line, seconds = outcome
        record["results"][task[0]][task[1]] = status  # reordered into task order at the end
        if not quiet or status["status"] == "error":
            log(f"[{engine_name}/{task[0]}] ({done}/{len(tasks)}) {task[1]:38s} {line}  [{seconds:.2f}s]")

    loaded = {name: _load(name) for name in scenarios}

    def run_here(task: tuple[str, str]) -> None:
        record["running"] = {"mode": task[0], "scenario": task[1]}
        _write_record(run_json, record)
        record_outcome(task, _run_one(engine, out, loaded[task[1]], *task))

    rest = tasks
    if jobs > 1:
        first_of_path: dict[tuple, tuple[str, str]] = {}
        for task in tasks:
            first_of_path.setdefault(_path_of(loaded[task[1]], task[0]), task)
        for task in first_of_path.values():
            run_here(task)
        rest = [task for task in tasks if task not in outcomes]
        _WORKER.update(engine=engine, out=out, scenarios=loaded)
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(_worker_run, task): task for task in rest}
            try:
                for future in concurrent.futures.as_completed(futures):
                    record_outcome(futures[future], future.result())
            except concurrent.futures.process.BrokenProcessPool:
                log(f"[{engine_name}] a worker process died; running the unfinished scenarios one by one")
        rest = [task for task in tasks if task not in outcomes]  # a crash here names its scenario in run.json
    for task in rest:
        run_here(task)

    record["results"] = {mode: {name: outcomes[mode, name][0] for name in scenarios} for mode in modes}
    record.pop("running", None)
    record["finished"] = True
    _write_record(run_json, record)
    # Wall times vary run to run, so they live apart from the (byte-identical) results.
    _write_record(out / "timings.json", {
        "engine": engine_name, "jobs": jobs, "seconds": round(time.perf_counter() - started, 3),
        "scenarios": {mode: {name: round(outcomes[mode, name][2], 3) for name in scenarios} for mode in modes}})
    counts = {s: sum(o[0]["status"] == s for o in outcomes.values()) for s in ("ok", "unsupported", "error")}
    log(f"[{engine_name}] done in {time.perf_counter() - started:.1f}s: {counts['ok']} ran, "
        f"{counts['unsupported']} unsupported, {counts['error']} errors")
    return counts["error"] == 0


def read_run(engine: str, runs_root: Path = RUNS_DIR) -> dict:
    """The engine's run.json (``finished`` False if its process died mid-run); HarnessError when absent."""
    path = runs_root / engine / "run.json"
    if not path.is_file():
        entry = engine_entries().get(engine)
        python = "" if entry is None else (
            f" (it runs on Python {entry.python}: if nox says `Python interpreter {entry.python} not found`, install "
            f"one, e.g. `uv python install {entry.python}` or `pyenv install {entry.python}`)")
        raise HarnessError(f"engine {engine} has no run ({display_path(path)} is missing): its session did not start "
                           f"or failed before running anything{python}; run `nox -s {engine}` and read its output")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"engine {engine}: {display_path(path)} is unreadable ({exc}); run `nox -s {engine}` again") from None
    if not isinstance(record, dict) or not isinstance(record.get("results"), dict):
        raise HarnessError(f"engine {engine}: {display_path(path)} is not a run record; run `nox -s {engine}` again")
    return record


def scenario_outcome(record: dict, mode: str, scenario: str) -> dict:
    """One scenario's status in a run record, with the crash explained when the run did not finish."""
    engine = record.get("engine", "?")
    if "import_error" in record:
        return {"status": "error", "error": f"engine {engine} cannot be loaded: {record['import_error']}"}
    if mode not in record["results"]:
        return {"status": "error", "error": f"engine {engine} did not run its {mode} mode"}
    status = record["results"][mode].get(scenario)
    if status is not None:
        return status
    running = record.get("running")
    if not record.get("finished") and running:
        if running == {"mode": mode, "scenario": scenario}:
            return {"status": "error", "error": f"engine {engine} died while running this scenario ({mode} mode): "
                                                f"its process ended without a result (a crash in the framework, or killed); "
                                                f"run `nox -s {engine} -- --scenario {scenario}` to see its output"}
        return {"status": "error", "error": f"engine {engine} did not run this scenario: it died earlier, while running "
                                            f"{running['scenario']} ({running['mode']} mode)"}
    if not record.get("finished"):
        return {"status": "error", "error": f"engine {engine} did not finish its run; run `nox -s {engine}` to see why"}
    return {"status": "error", "error": f"engine {engine} did not run this scenario (not selected in its session?)"}


def load_run_result(engine: str, mode: str, scenario: str, runs_root: Path = RUNS_DIR):
    return read_results(runs_root / engine / mode / scenario)
