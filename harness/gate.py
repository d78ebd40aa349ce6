"""The gate: every (scenario, engine) result checked against its golden result."""

from __future__ import annotations

from pathlib import Path

from harness import golden
from harness.compare import Comparison, error
from harness.errors import HarnessError, InputError
from harness.runner import RUNS_DIR, load_run_result, read_run

__all__ = ["validate", "engine_results"]


def engine_results(engine: str, scenarios: list[str], runs_root: Path = RUNS_DIR):
    """Yield ``(scenario, RunResult | error message)`` for one engine's last run."""
    try:
        run = read_run(engine, runs_root)
    except HarnessError as exc:
        for name in scenarios:
            yield name, str(exc)
        return
    if "import_error" in run:
        for name in scenarios:
            yield name, f"engine {engine} cannot be imported: {run['import_error']}"
        return
    for name in scenarios:
        status = run["scenarios"].get(name)
        if status is None:
            yield name, f"engine {engine} did not run this scenario"
        elif status["status"] != "ok":
            yield name, f"engine {engine} failed: {status['error']}"
        else:
            try:
                yield name, load_run_result(engine, name, runs_root)
            except InputError as exc:
                yield name, f"engine {engine} wrote an unreadable result: {exc}"


def validate(engines: list[str], scenarios: list[str], *, runs_root: Path = RUNS_DIR,
             golden_root: Path = golden.GOLDEN_DIR) -> list[Comparison]:
    """One comparison per (scenario, engine), in scenario then engine order."""
    by_pair: dict[tuple[str, str], Comparison] = {}
    for engine in engines:
        for name, result in engine_results(engine, scenarios, runs_root):
            if isinstance(result, str):
                by_pair[name, engine] = error(name, engine, result)
            else:
                by_pair[name, engine] = golden.check(name, result, golden_root)
    return [by_pair[name, engine] for name in scenarios for engine in engines]
