"""The golden store: agreed results per scenario, with their provenance.

``golden/<scenario>/`` holds the same three files as a run (fills.csv,
equity.csv, summary.json); summary.json adds ``provenance``: which engines, at
which versions, agreed on it. :func:`check` is the one place that loads a
golden result and compares a run with it; :func:`write` is the one place that
rewrites goldens, and it refuses unless every engine agrees.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from harness.compare import Comparison, compare_results, error
from harness.errors import HarnessError, InputError
from harness.results import RunResult, read_results, write_results
from harness.scenario import SCENARIOS_DIR

__all__ = ["GOLDEN_DIR", "load", "check", "write", "DisagreementError"]

GOLDEN_DIR = SCENARIOS_DIR.parent / "golden"
REGENERATE = "regenerate it with `nox -s golden` (writes only when all engines agree)"


class DisagreementError(HarnessError):
    """The engines do not agree, so no golden result is written."""

    def __init__(self, scenario: str, disagreements: list[Comparison]):
        self.scenario = scenario
        self.disagreements = disagreements
        names = ", ".join(c.engine for c in disagreements)
        super().__init__(f"{scenario}: not written, {names} disagree(s) with the reference engine")


def load(scenario: str, root: Path = GOLDEN_DIR) -> RunResult:
    folder = root / scenario
    if not folder.is_dir():
        raise InputError(folder, None, "no golden result for this scenario", REGENERATE)
    try:
        result = read_results(folder)
    except InputError as exc:
        raise InputError(exc.path, exc.field, exc.problem, REGENERATE) from None
    if result.scenario != scenario:
        raise InputError(folder / "summary.json", "scenario", f"is {result.scenario!r}, expected {scenario!r}", REGENERATE)
    if "provenance" not in result.extra:
        raise InputError(folder / "summary.json", "provenance", "missing", REGENERATE)
    return result


def check(scenario: str, obtained: RunResult, root: Path = GOLDEN_DIR) -> Comparison:
    """Compare one engine's result with the stored golden result."""
    try:
        expected = load(scenario, root)
    except InputError as exc:
        return error(scenario, obtained.engine, f"golden: {exc}", obtained.mode)
    if not expected.fills:
        return error(scenario, obtained.engine, f"golden: {root.name}/{scenario}/fills.csv has no fills: there is "
                     "nothing to compare; a scenario must make fills", obtained.mode)
    return compare_results(expected, obtained)


def agreement(results: Mapping[str, RunResult], source: str = "reference") -> list[Comparison]:
    """Every other engine's result compared with ``source``'s."""
    expected = results[source]
    return [compare_results(expected, obtained) for name, obtained in results.items() if name != source]


def write(scenario: str, results: Mapping[str, RunResult], root: Path = GOLDEN_DIR,
          source: str = "reference") -> RunResult:
    """Store ``results[source]`` as the golden result, only if every engine agrees with it."""
    if source not in results:
        raise HarnessError(f"{scenario}: no {source} result to write")
    if len(results) < 2:
        raise HarnessError(f"{scenario}: a golden result needs at least two engines in agreement")
    comparisons = agreement(results, source)
    disagreements = [c for c in comparisons if not c.passed]
    if disagreements:
        raise DisagreementError(scenario, disagreements)
    expected = results[source]
    provenance = {
        "source_engine": source,
        "agreed": {name: f"{r.framework} {r.framework_version}" for name, r in sorted(results.items())},
        "written_by": "nox -s golden",
    }
    # Everything the source engine produced, plus provenance: nothing is rebuilt by hand here.
    golden = dataclasses.replace(expected, extra=MappingProxyType({"provenance": provenance}))
    write_results(root / scenario, golden)
    return golden
