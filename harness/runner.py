"""Run one engine over the scenario library and store its canonical results.

Results go to ``reports/runs/<engine>/<scenario>/``; ``run.json`` beside them
records what ran, at which version, and every error. An engine that cannot be
imported still writes ``run.json`` (with the import error), so the gate can say
why it has nothing to compare.
"""

from __future__ import annotations

import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from harness.engines import ENGINES, import_engine
from harness.errors import HarnessError
from harness.results import json_text, read_results, write_folder_atomically, write_results
from harness.scenario import SCENARIOS_DIR, load_scenario

__all__ = ["RUNS_DIR", "run_engine", "read_run"]

RUNS_DIR = SCENARIOS_DIR.parent / "reports" / "runs"


def _short_trace(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def run_engine(engine: str, scenarios: list[str], *, runs_root: Path = RUNS_DIR,
               log: Callable[[str], None] = print) -> bool:
    """Run ``engine`` on each scenario; return True when every scenario ran."""
    if engine not in ENGINES:
        raise HarnessError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    out = runs_root / engine
    if out.exists():
        shutil.rmtree(out)
    record: dict = {"engine": engine, "scenarios": {}, "python": sys.version.split()[0]}
    try:
        module = import_engine(engine)
        record["framework"] = module.FRAMEWORK
        record["framework_version"] = module.framework_version()
    except Exception as exc:  # ImportError, or a framework that breaks while importing
        record["import_error"] = _short_trace(exc)
        write_folder_atomically(out, {"run.json": json_text(record)})
        log(f"[{engine}] cannot import the engine: {record['import_error']}")
        return False

    log(f"[{engine}] {module.FRAMEWORK} {record['framework_version']}: {len(scenarios)} scenario(s)")
    ok = True
    started = time.perf_counter()
    for k, name in enumerate(scenarios, start=1):
        t0 = time.perf_counter()
        try:
            scenario = load_scenario(SCENARIOS_DIR / name)
            result = module.run(scenario)
            write_results(out / name, result)
            status = {"status": "ok", "n_fills": len(result.fills)}
            line = f"{len(result.fills):5d} fills  final value {result.final_value!r}"
        except Exception as exc:
            ok = False
            status = {"status": "error", "error": _short_trace(exc)}
            line = f"ERROR {status['error']}"
        seconds = time.perf_counter() - t0
        record["scenarios"][name] = status
        log(f"[{engine}] ({k}/{len(scenarios)}) {name:40s} {line}  [{seconds:.2f}s]")
    log(f"[{engine}] done in {time.perf_counter() - started:.1f}s")
    # Written last: its presence means the run finished.
    (out / "run.json").write_text(json_text(record), encoding="utf-8")
    return ok


def read_run(engine: str, runs_root: Path = RUNS_DIR) -> dict:
    """The engine's run.json; HarnessError when the engine never finished a run."""
    import json

    path = runs_root / engine / "run.json"
    if not path.is_file():
        raise HarnessError(f"engine {engine} produced no results ({path} is missing): "
                           f"its session failed before finishing; run `nox -s {engine}` and read its output")
    return json.loads(path.read_text(encoding="utf-8"))


def load_run_result(engine: str, scenario: str, runs_root: Path = RUNS_DIR):
    return read_results(runs_root / engine / scenario)
