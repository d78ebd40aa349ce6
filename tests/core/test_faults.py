"""Faults around the loader: a broken scenario, a crashing engine, an interrupted golden write.

Each is closed: no traceback, a one-line message with the file, field and fix
(or the scenario an engine died on), and nothing half-written.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness import golden, runner
from harness.atomic import recover
from harness.gate import validate
from harness.registry import EngineEntry
from harness.scenario import SCENARIOS_DIR

pytestmark = pytest.mark.reference

ROOT = Path(__file__).resolve().parents[2]


def toy(name: str) -> dict[str, EngineEntry]:
    return {name: EngineEntry(name=name, module="tests.core.toy_engine", group="core", python="3.11",
                              modes=("contract",), gate=True)}


@pytest.fixture
def broken_library(tmp_path, monkeypatch):
    """A scenario library of one good and one broken scenario (fee out of range)."""
    lib = tmp_path / "scenarios"
    for name in ("plain_close", "costs_close"):
        shutil.copytree(SCENARIOS_DIR / name, lib / name)
    spec = lib / "costs_close" / "scenario.toml"
    spec.write_text(spec.read_text().replace("fee = 0.001", "fee = 1.5"))
    monkeypatch.setattr(runner, "SCENARIOS_DIR", lib)
    import harness.gate

    monkeypatch.setattr(harness.gate, "SCENARIOS_DIR", lib)
    return lib


def test_a_broken_scenario_is_an_error_with_file_field_and_fix_and_the_run_record_exists(tmp_path, broken_library):
    runs = tmp_path / "runs"
    assert not runner.run_engine("toy", ["costs_close"], runs_root=runs, entries=toy("toy"), log=lambda _: None)
    record = json.loads((runs / "toy" / "run.json").read_text())
    assert record["finished"] is True
    status = record["results"]["contract"]["costs_close"]
    assert status["status"] == "error"
    assert status["error"].endswith("scenario.toml: [costs] fee: must be in [0, 1), got 1.5; e.g. fee = 0.001")
    [check] = validate(["toy"], ["costs_close"], runs_root=runs, modes={"toy": ("contract",)}).checks
    assert check.status == "error" and "[costs] fee: must be in [0, 1)" in check.problems[0]
    assert "Traceback" not in check.problems[0]


def test_an_engine_that_kills_its_interpreter_is_reported_on_the_scenario_it_died_on(tmp_path):
    runs = tmp_path / "runs"
    script = ("import sys; from harness.runner import run_engine; from harness.registry import EngineEntry;"
              "e = {'toy_crash': EngineEntry('toy_crash', 'tests.core.toy_engine', 'core', '3.11', ('contract',), True)};"
              f"run_engine('toy_crash', ['plain_close', 'exit_sl_gap', 'exit_tp_gap'], runs_root=__import__('pathlib').Path({str(runs)!r}),"
              " entries=e, jobs=1)")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0  # the process died
    checks = validate(["toy_crash"], ["plain_close", "exit_sl_gap", "exit_tp_gap"], runs_root=runs,
                      modes={"toy_crash": ("contract",)}).checks
    assert [c.status for c in checks] == ["pass", "error", "error"]
    assert "died while running this scenario" in checks[1].problems[0]
    assert "it died earlier, while running exit_sl_gap" in checks[2].problems[0]


def test_an_engine_that_cannot_fork_runs_its_scenarios_one_by_one(tmp_path):
    runs, names = tmp_path / "runs", ["plain_close", "costs_close", "exit_sl_gap", "exit_tp_gap"]
    assert runner.run_engine("toy_no_fork", names, runs_root=runs, entries=toy("toy_no_fork"), log=lambda _: None,
                             jobs=4)
    assert json.loads((runs / "toy_no_fork" / "timings.json").read_text())["jobs"] == 1
    record = json.loads((runs / "toy_no_fork" / "run.json").read_text())
    assert {s["status"] for s in record["results"]["contract"].values()} == {"ok"}


def test_an_interrupted_golden_write_leaves_every_golden_as_it_was_and_no_debris(tmp_path, monkeypatch):
    root = tmp_path / "golden"
    shutil.copytree(golden.GOLDEN_DIR / "plain_close", root / "plain_close")
    shutil.copytree(golden.GOLDEN_DIR / "costs_close", root / "costs_close")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    stored = {name: golden.load(name, root) for name in ("plain_close", "costs_close")}

    from harness.scenario import load_spec

    specs = {name: load_spec(SCENARIOS_DIR / name) for name in stored}
    # Two engines that agree on a result whose provenance differs from the stored one: both would be rewritten.
    results = {name: {"reference": r, "other": dataclasses.replace(r, engine="other")} for name, r in stored.items()}
    calls = []

    def write_then_die(folder, result, extra_files=None):
        calls.append(folder)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed halfway through the tree
        return real_write(folder, result, extra_files)

    real_write = golden.write_results
    monkeypatch.setattr(golden, "write_results", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        golden.review(results, specs, root=root, write=True)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golden"]  # no staging folder left behind


def test_a_writer_killed_between_two_renames_is_undone(tmp_path):
    # Where the atomic swap is unavailable, the old tree is parked beside the new one; recover() restores it.
    parked = tmp_path / ".staging-golden.old"
    (parked / "plain_close").mkdir(parents=True)
    (parked / "plain_close" / "fills.csv").write_text("x")
    (tmp_path / ".staging-golden.abc").mkdir()
    done = recover(tmp_path)
    assert (tmp_path / "golden" / "plain_close" / "fills.csv").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["golden"]
    assert done == ["removed .staging-golden.abc", "restored golden"]
