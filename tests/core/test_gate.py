"""The gate fails closed: missing or corrupt goldens, missing or crashed engines are errors, never passes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness import golden
from pathlib import Path
from types import MappingProxyType

from harness.contract import Contract
from harness.scenario import ScenarioSpec
from harness.gate import validate as gate_validate
from harness.report import markdown, summary_doc, write_reports
from harness.results import json_text, read_results, write_results
from tests.core.test_compare import GOLDEN


def write_run(runs, engine, results, errors=(), import_error=None, mode="contract", finished=True, running=None):
    record = {"engine": engine, "finished": finished, "results": {mode: {}}, "modes": [mode]}
    if import_error:
        record["import_error"] = import_error
    for res in results:
        write_results(runs / engine / mode / res.scenario, dataclasses.replace(res, engine=engine, mode=mode))
        record["results"][mode][res.scenario] = {"status": "ok", "n_fills": len(res.fills)}
    for name, message in errors:
        record["results"][mode][name] = {"status": "error", "error": message}
    if running:
        record["running"] = {"mode": mode, "scenario": running}
    (runs / engine).mkdir(parents=True, exist_ok=True)
    (runs / engine / "run.json").write_text(json_text(record))


def validate(engines, scenarios, **kw):
    """The gate on contract-mode runs only (the registry's modes are not these tests' business)."""
    return gate_validate(engines, scenarios, modes={e: ("contract",) for e in engines}, **kw).checks


CONTRACT = Contract(fill="close", cash=10_000.0, sizing_mode="fixed", size=10.0, fee=0.0, slippage=0.0)
SPEC = ScenarioSpec(name="s", description="d", family="f", tags=(), contract=CONTRACT,
                    generator=MappingProxyType({"name": "x", "seed": 0}), inputs=MappingProxyType({}), folder=Path("."))


def write_golden(name, results, root):
    [review] = golden.review({name: results}, {name: SPEC}, root=root, write=True)
    if review.state == "refused":
        raise golden.DisagreementError(name, []) if not review.notes else AssertionError(review.notes)
    return review


@pytest.fixture
def store(tmp_path):
    runs, gold = tmp_path / "runs", tmp_path / "golden"
    write_golden("s", {"reference": dataclasses.replace(GOLDEN, engine="reference"),
                       "other": dataclasses.replace(GOLDEN, engine="other")}, root=gold)
    return runs, gold


def test_agreeing_engines_pass(store):
    runs, gold = store
    for engine in ("reference", "engine_b"):
        write_run(runs, engine, [GOLDEN])
    comparisons = validate(["reference", "engine_b"], ["s"], runs_root=runs, golden_root=gold)
    assert [c.status for c in comparisons] == ["pass", "pass"]
    assert summary_doc(comparisons)["passed"] is True


def test_golden_round_trip_is_exact_and_carries_provenance(store):
    _, gold = store
    stored = golden.load("s", gold)
    assert stored.fills == GOLDEN.fills and stored.final_value == GOLDEN.final_value
    assert stored.extra["provenance"]["agreed"] == {"other": "x 1", "reference": "x 1"}


def test_a_missing_golden_file_is_an_error(store):
    runs, gold = store
    write_run(runs, "reference", [GOLDEN])
    (gold / "s" / "fills.csv").unlink()
    [c] = validate(["reference"], ["s"], runs_root=runs, golden_root=gold)
    assert c.status == "error"
    assert "fills.csv" in c.problems[0] and "nox -s golden" in c.problems[0]


@pytest.mark.parametrize("corruption", [
    ("fills.csv", lambda t: t.replace("107.0", "10x7.0")),
    ("fills.csv", lambda t: t.replace("asset,bar", "asset,baz")),
    ("fills.csv", lambda t: t.rsplit("\n", 2)[0] + "\n"),  # a row lost: n_fills disagrees
    ("equity.csv", lambda t: t.replace("\n5,", "\n6,", 1)),
    ("summary.json", lambda t: t[: len(t) // 2]),
])
def test_a_corrupt_golden_file_is_an_error(store, corruption):
    runs, gold = store
    name, corrupt = corruption
    write_run(runs, "reference", [GOLDEN])
    path = gold / "s" / name
    path.write_text(corrupt(path.read_text()))
    [c] = validate(["reference"], ["s"], runs_root=runs, golden_root=gold)
    assert c.status == "error", c.problems
    assert name in c.problems[0]


def test_an_engine_that_never_ran_is_an_error(store):
    runs, gold = store
    [c] = validate(["engine_v"], ["s"], runs_root=runs, golden_root=gold)
    assert c.status == "error" and "has no run" in c.problems[0] and "nox -s engine_v" in c.problems[0]


def test_a_registered_engine_that_never_ran_is_told_which_python_it_needs(store):
    # Its nox session fails before running anything when its Python is not found; the gate says how to get one.
    from harness.registry import engine_entries

    runs, gold = store
    name, entry = next(iter(engine_entries().items()))
    [c] = validate([name], ["s"], runs_root=runs, golden_root=gold)
    assert c.status == "error" and "\n" not in c.problems[0]
    assert f"Python {entry.python}" in c.problems[0] and f"uv python install {entry.python}" in c.problems[0]


def test_an_engine_that_cannot_be_imported_is_an_error(store):
    runs, gold = store
    write_run(runs, "engine_b", [], import_error="ModuleNotFoundError: No module named 'framework_b'")
    [c] = validate(["engine_b"], ["s"], runs_root=runs, golden_root=gold)
    assert c.status == "error" and "No module named 'framework_b'" in c.problems[0]


def test_a_crashed_scenario_is_an_error(store):
    runs, gold = store
    write_run(runs, "engine_v", [], errors=[("s", "ValueError: boom")])
    [c] = validate(["engine_v"], ["s"], runs_root=runs, golden_root=gold)
    assert c.status == "error" and "boom" in c.problems[0]


def test_a_moved_golden_price_fails_and_the_report_names_scenario_engine_asset_bar_and_field(store, tmp_path):
    runs, gold = store
    write_run(runs, "engine_b", [GOLDEN])
    path = gold / "s" / "fills.csv"
    path.write_text(path.read_text().replace(",107.0,", f",{107.0 * (1 + 1e-9)!r},"))
    comparisons = validate(["engine_b"], ["s"], runs_root=runs, golden_root=gold)
    assert comparisons[0].status == "fail"
    write_reports(comparisons, tmp_path / "latest")
    report = (tmp_path / "latest" / "report.md").read_text()
    assert "### s / engine_b / contract: fail" in report
    assert "| changed | A00 | 3 | sell | signal | price |" in report
    summary = json.loads((tmp_path / "latest" / "summary.json").read_text())
    assert summary["passed"] is False and summary["records"][0]["status"] == "fail"


def test_golden_keeps_every_part_of_the_result_rejections_included(tmp_path):
    from harness.results import Rejection

    refused = (Rejection(asset="A00", bar=2, timestamp=GOLDEN.timestamps[2], side="buy", size=5.0, reason="rebalance"),)
    source = dataclasses.replace(GOLDEN, engine="reference", rejections=refused)
    write_golden("s", {"reference": source, "other": dataclasses.replace(source, engine="other")}, root=tmp_path)
    stored = golden.load("s", tmp_path)
    assert stored.rejections == refused
    assert (stored.fills, stored.equity, stored.final_value) == (source.fills, source.equity, source.final_value)


def test_golden_write_refuses_when_engines_disagree(tmp_path):
    other = dataclasses.replace(GOLDEN, engine="engine_v", final_value=GOLDEN.final_value + 1)
    root = tmp_path / "golden"
    [review] = golden.review({"s": {"reference": dataclasses.replace(GOLDEN, engine="reference"), "engine_v": other}},
                             {"s": SPEC}, root=root, write=True)
    assert review.state == "refused" and "engine_v disagree" in review.notes[0]
    assert not (root / "s").exists()


def test_reports_are_byte_identical_run_after_run(store, tmp_path):
    runs, gold = store
    write_run(runs, "reference", [GOLDEN])
    first = markdown(validate(["reference"], ["s"], runs_root=runs, golden_root=gold))
    second = markdown(validate(["reference"], ["s"], runs_root=runs, golden_root=gold))
    assert first == second


def test_results_round_trip_bit_for_bit(tmp_path):
    awkward = dataclasses.replace(GOLDEN, final_value=0.1 + 0.2, equity=tuple([1 / 3] * 9 + [0.1 + 0.2]))
    write_results(tmp_path / "r", awkward)
    back = read_results(tmp_path / "r")
    assert back.fills == awkward.fills and back.equity == awkward.equity and back.final_value == 0.1 + 0.2
    first = (tmp_path / "r" / "fills.csv").read_bytes()
    write_results(tmp_path / "r", awkward)
    assert (tmp_path / "r" / "fills.csv").read_bytes() == first
