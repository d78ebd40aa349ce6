"""The gate on the real engine runs: it must fail, and say where, when a golden moves or an engine is missing.

Run by ``nox -s tests`` after the engine runs and the gate (session ``tests-e2e``): it needs
``reports/runs/`` from those runs. Goldens are perturbed in a copy; the repository's goldens are never
touched. The gates here leave out the ``large`` scenarios (the gate session before this one judged them):
each perturbation is of a small scenario, and the whole library is judged six times.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.golden import GOLDEN_DIR
from harness.registry import engine_entries
from harness.runner import RUNS_DIR
from harness.scenario import SCENARIOS_DIR, load_spec, scenario_names

ENTRIES = {name: e for name, e in engine_entries().items() if e.gate}
ENGINES = tuple(ENTRIES)
CHECKS_PER_SCENARIO = sum(len(e.modes) for e in ENTRIES.values())
SKIP = ["--skip-tag", "large"]
JUDGED = [n for n in scenario_names() if "large" not in load_spec(SCENARIOS_DIR / n, require_inputs=False).tags]


@pytest.fixture(scope="module", autouse=True)
def engine_runs_exist():
    missing = [e for e in ENGINES if not (RUNS_DIR / e / "run.json").is_file()]
    if missing:
        pytest.fail(f"no runs for {missing} under {RUNS_DIR}: run `nox -s validate` first (nox -s tests does)")


def gate(tmp_path: Path, golden_root: Path, runs_root: Path = RUNS_DIR) -> tuple[int, str, dict]:
    out = tmp_path / "report"
    code = main(["gate", "--golden-root", str(golden_root), "--runs-root", str(runs_root), "--out", str(out),
                 "--quiet", *SKIP])
    return code, (out / "report.md").read_text(), json.loads((out / "summary.json").read_text())


@pytest.fixture
def golden_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "golden"
    shutil.copytree(GOLDEN_DIR, copy)
    return copy


def test_unchanged_goldens_pass(tmp_path, golden_copy):
    code, _, summary = gate(tmp_path, golden_copy)
    assert code == 0 and summary["passed"]
    assert len(summary["records"]) == len(JUDGED) * CHECKS_PER_SCENARIO
    assert {r["status"] for r in summary["records"]} <= {"pass", "explained", "unsupported"}


def test_a_golden_price_moved_by_1e9_relative_fails_naming_scenario_engines_asset_bar_and_field(tmp_path, golden_copy):
    scenario = "costs_close"
    fills = golden_copy / scenario / "fills.csv"
    lines = fills.read_text().splitlines()
    asset, bar, ts, side, size, price, fee, reason = lines[3].split(",")
    moved = float(price) * (1 + 1e-9)
    lines[3] = ",".join([asset, bar, ts, side, size, repr(moved), fee, reason])
    fills.write_text("\n".join(lines) + "\n")

    code, report, summary = gate(tmp_path, golden_copy)
    assert code == 1 and not summary["passed"]
    # every contract-mode run is judged against the golden; stock runs against the reference under a profile
    failing = {(r["scenario"], r["engine"], r["mode"]) for r in summary["records"]
               if r["status"] not in ("pass", "explained", "unsupported")}
    ran = {r["engine"] for r in summary["records"]
           if r["scenario"] == scenario and r["mode"] == "contract" and r["status"] != "unsupported"}
    assert len(ran) >= 3 and "reference" in ran
    assert failing == {(scenario, e, "contract") for e in ran}
    for engine in ran:
        assert f"### {scenario} / {engine} / contract: fail" in report
    # expected is the (moved) golden price, obtained what every engine really filled at
    assert f"| changed | {asset} | {bar} | {side} | {reason} | price | {moved!r} | {float(price)!r} |" in report


def test_a_deleted_golden_file_is_an_error_and_nothing_of_it_passes(tmp_path, golden_copy):
    (golden_copy / "plain_next_open" / "equity.csv").unlink()
    code, report, summary = gate(tmp_path, golden_copy)
    assert code == 1
    records = [r for r in summary["records"] if r["scenario"] == "plain_next_open"]
    assert len(records) == CHECKS_PER_SCENARIO
    # A run the engine could not express never reads the golden and stays `unsupported` (never a pass);
    # every run that did execute is an error naming the missing file.
    judged = [r for r in records if r["status"] != "unsupported"]
    assert {(r["engine"], r["mode"]) for r in judged} >= {("reference", "contract")}
    assert [r["status"] for r in judged] == ["error"] * len(judged)
    assert all("equity.csv: missing" in r["problems"][0] for r in judged)
    assert not any(r["status"] in ("pass", "explained") for r in records)


# A gate engine whose framework this venv (the reference engine's) lacks: running it here is a real import failure.
MISSING = next(name for name, e in ENTRIES.items() if e.group != "reference" and e.python == ENTRIES["reference"].python)


def test_an_unimportable_framework_fails_the_gate(tmp_path, golden_copy):
    runs = tmp_path / "runs"
    for engine in ENGINES:
        if engine != MISSING:
            shutil.copytree(RUNS_DIR / engine, runs / engine)
    assert main(["run", "--engine", MISSING, "--runs-root", str(runs)]) == 1
    code, _, summary = gate(tmp_path, golden_copy, runs_root=runs)
    assert code == 1
    missing = [r for r in summary["records"] if r["engine"] == MISSING]
    assert missing and all(r["status"] == "error" and "cannot be loaded" in r["problems"][0]
                           and "No module named" in r["problems"][0] for r in missing)
    assert all(r["status"] in ("pass", "explained", "unsupported") for r in summary["records"] if r["engine"] != MISSING)


def test_two_gate_processes_write_byte_identical_reports(tmp_path):
    import subprocess
    import sys

    outs = []
    for k in range(2):
        out = tmp_path / f"latest{k}"
        subprocess.run([sys.executable, "-m", "harness", "gate", "--out", str(out), "--quiet", *SKIP], check=False,
                       capture_output=True, cwd=Path(__file__).resolve().parents[2])
        # timings.md holds the engines' wall times, which vary run to run (and says so)
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.name != "timings.md"})
    assert set(outs[0]) == {"summary.json", "report.md", "report.html", "junit.xml"}
    assert outs[0] == outs[1]
