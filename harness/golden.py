"""The golden store: agreed results per scenario, with their provenance.

``golden/<scenario>/`` holds the same files as a run; its summary.json adds
``provenance``: the engines, modes and framework versions that agreed on it, the
input hashes and full contract it was made from, and the tolerances they agreed
at. :func:`load` is the one way a golden result is read; :func:`review` is the one
compare-or-write core (pytest-regressions' shape): it works out what every golden
would become, diffs it against what is stored, and only with ``write=True``
replaces the golden tree, all at once.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from harness.atomic import STAGING_PREFIX, recover, replace_dir
from harness.compare import Comparison, compare_results, error, rel_diff
from harness.contract import TOLERANCES, Contract
from harness.errors import HarnessError, InputError
from harness.results import RunResult, read_results, write_results
from harness.scenario import SCENARIOS_DIR, ScenarioSpec

__all__ = ["GOLDEN_DIR", "load", "check", "provenance", "Review", "review", "DisagreementError"]

GOLDEN_DIR = SCENARIOS_DIR.parent / "golden"
REGENERATE = "regenerate it with `nox -s golden -- --write` (writes only where all engines agree)"


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
    if not expected.fills and not expected.rejections:
        return error(scenario, obtained.engine, f"golden: {root.name}/{scenario} has no fills and no rejections: "
                     "there is nothing to compare; a scenario must make fills", obtained.mode)
    return compare_results(expected, obtained)


SPEC_WITNESS = "the [[expected]] fills and [[rejected]] orders written by hand in scenario.toml"


def provenance(results: Mapping[str, RunResult], contract: Contract, source: str = "reference",
               spec_witness: bool = False) -> dict:
    """Who agreed on a golden result, on what, and how closely."""
    agreed = {name: f"{r.framework} {r.framework_version}" for name, r in sorted(results.items())}
    if spec_witness:
        agreed["spec"] = SPEC_WITNESS
    return {
        "source_engine": source,
        "agreed": agreed,
        "modes": {name: r.mode for name, r in sorted(results.items())},
        "contract": asdict(contract),
        "tolerances": asdict(TOLERANCES),
        "written_by": "nox -s golden -- --write",
    }


def spec_disagreement(result: RunResult, spec: ScenarioSpec) -> str | None:
    """Where ``result`` departs from what a hand-written spec says: its fills ([[expected]], in execution
    order; a fill without a size has the contract's ``size``; a fee is checked where one is written) and its rejections ([[rejected]]), at the
    gate's tolerances. None: the result is exactly what the spec writes down."""
    got = [(f.asset, f.bar, f.side, f.reason) for f in result.fills]
    want = [(e["asset"], e["bar"], e["side"], e["reason"]) for e in spec.expected]
    if got != want:
        return f"fills {got} are not the spec's [[expected]] {want}"
    for fill, e in zip(result.fills, spec.expected):
        if rel_diff(e["price"], fill.price) > TOLERANCES.price_rel:
            return f"fill at bar {fill.bar}: price {fill.price!r}, the spec says {e['price']!r}"
        size = e["size"] if e.get("size") is not None else spec.contract.size
        if size is not None and rel_diff(size, fill.size) > TOLERANCES.size_rel:
            return f"fill at bar {fill.bar}: size {fill.size!r}, the spec says {size!r}"
        if e.get("fee") is not None and rel_diff(e["fee"], fill.fee) > TOLERANCES.fee_rel:
            return f"fill at bar {fill.bar}: fee {fill.fee!r}, the spec says {e['fee']!r}"
    got = [(r.asset, r.bar, r.side, r.reason) for r in result.rejections]
    want = [(e["asset"], e["bar"], e["side"], e["reason"]) for e in spec.rejected]
    if got != want:
        return f"rejections {got} are not the spec's [[rejected]] {want}"
    for rejection, e in zip(result.rejections, spec.rejected):
        if rel_diff(e["size"], rejection.size) > TOLERANCES.size_rel:
            return f"rejection at bar {rejection.bar}: size {rejection.size!r}, the spec says {e['size']!r}"
    return None


def agreed_result(scenario: str, results: Mapping[str, RunResult], spec: ScenarioSpec,
                  source: str = "reference") -> RunResult:
    """``results[source]`` with its provenance, if every witness agrees with it; else DisagreementError.

    Witnesses: every other engine's contract-mode result and, for a hand-built
    scenario, the fills and rejections its spec writes down. A golden needs at least one.
    """
    if source not in results:
        raise HarnessError(f"{scenario}: no {source} result")
    if not results[source].fills and not results[source].rejections:
        raise HarnessError(f"{scenario}: the {source} engine made no fills and no rejections; a golden result "
                           "must have something to compare")
    if spec.hand_written:
        problem = spec_disagreement(results[source], spec)
        if problem:
            raise HarnessError(f"{scenario}: not written: the {source} engine's {problem}")
    if len(results) < 2 and not spec.hand_written:
        raise HarnessError(f"{scenario}: a golden result needs a second witness: another engine that runs the "
                           "scenario in contract mode, or [[expected]] fills (and [[rejected]] orders) written in "
                           "its spec")
    disagreements = [c for c in (compare_results(results[source], r) for name, r in results.items() if name != source)
                     if not c.passed]
    if disagreements:
        raise DisagreementError(scenario, disagreements)
    # Everything the source engine produced, plus provenance: nothing is rebuilt by hand here.
    record = provenance(results, spec.contract, source, spec_witness=spec.hand_written)
    return dataclasses.replace(results[source], extra=MappingProxyType({"provenance": record}))


@dataclass(frozen=True, slots=True)
class Review:
    """What one scenario's golden would become."""

    scenario: str
    state: str  # "current", "new", "changed", "refused"
    candidate: RunResult | None = None
    diff: Comparison | None = None  # stored golden vs candidate, when both exist
    notes: tuple[str, ...] = ()  # why refused, or what changed besides fills

    @property
    def changes(self) -> bool:
        return self.state in ("new", "changed")


def _review_one(name: str, results: Mapping[str, RunResult], spec: ScenarioSpec, root: Path) -> Review:
    try:
        candidate = agreed_result(name, results, spec)
    except DisagreementError as exc:
        notes = [str(exc)] + [f"    {c.engine}: {p}" for c in exc.disagreements for p in c.problems]
        return Review(name, "refused", notes=tuple(notes))
    except HarnessError as exc:
        return Review(name, "refused", notes=(str(exc),))
    try:
        stored = load(name, root)
    except InputError as exc:
        return Review(name, "new", candidate, notes=(f"no usable golden yet ({exc.problem})",))
    diff = compare_results(stored, candidate)
    notes = []
    if stored.extra.get("provenance") != candidate.extra["provenance"]:
        old, new = stored.extra.get("provenance", {}), candidate.extra["provenance"]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                notes.append(f"provenance {key}: {old.get(key)!r} -> {new.get(key)!r}")
    if stored.summary() != candidate.summary() and not notes and not diff.problems:
        notes.append("summary.json fields changed")
    same = not diff.problems and not diff.differs and not notes
    return Review(name, "current" if same else "changed", candidate, diff, tuple(notes))


def review(results: Mapping[str, Mapping[str, RunResult]], specs: Mapping[str, ScenarioSpec], *,
           root: Path = GOLDEN_DIR, write: bool = False) -> list[Review]:
    """Every scenario's golden as the engines' contract runs make it, against what is stored.

    ``results``: scenario -> engine -> its contract-mode result; ``specs``: each
    scenario's spec (its contract, and any fills it writes down). With ``write``,
    every new or changed golden (never a refused one) is written, and the whole
    golden tree is replaced at once: an interrupted write leaves every golden as
    it was and no staging folder behind.
    """
    recover(root.parent)  # a writer killed earlier
    reviews = [_review_one(name, results[name], specs[name], root) for name in sorted(results)]
    if write and any(r.changes for r in reviews):
        _replace_tree(root, [r for r in reviews if r.changes])
    return reviews


def _replace_tree(root: Path, changed: list[Review]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{root.name}.", dir=root.parent))
    try:
        tree = staging / "tree"
        if root.exists():
            shutil.copytree(root, tree, symlinks=False)
        else:
            tree.mkdir()
        for r in changed:
            write_results(tree / r.scenario, r.candidate)
        replace_dir(root, tree)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
