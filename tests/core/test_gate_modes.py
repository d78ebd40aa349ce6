"""The gate on stock runs, unsupported runs and crashed runs, with real reference-engine runs of stored scenarios.

A fake engine's stock run is written as the reference engine's own result under
a profile: the gate must find it `explained` by exactly that profile, and a run
made under a different rule must fail with the rule named by the root-cause search.
"""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType

import pytest

from harness import golden
from harness.cli import main
from harness.explain import reference_result
from harness.gate import validate
from harness.results import json_text, write_results
from harness.scenario import SCENARIOS_DIR, load_scenario

pytestmark = pytest.mark.reference

COMBO = "rnd_combo_close_fillref"  # stop-loss, take-profit, trailing on highs, time exit, close fills


def write_run(runs, engine, mode, results=(), *, profile=None, unsupported=(), finished=True, running=None):
    record = {"engine": engine, "finished": finished, "modes": [mode], "results": {mode: {}},
              "framework": "fake", "framework_version": "0", "profile": profile or {}}
    for res in results:
        write_results(runs / engine / mode / res.scenario, dataclasses.replace(res, engine=engine, mode=mode))
        record["results"][mode][res.scenario] = {"status": "ok", "n_fills": len(res.fills)}
    for name, knob in unsupported:
        record["results"][mode][name] = {"status": "unsupported", "knob": knob, "why": "cannot"}
    if running:
        record["running"] = {"mode": mode, "scenario": running}
    (runs / engine).mkdir(parents=True, exist_ok=True)
    (runs / engine / "run.json").write_text(json_text(record))


def gate(runs, names, mode="stock", **kw):
    return validate(["fake"], names, runs_root=runs, modes={"fake": (mode,)}, **kw)


@pytest.fixture(scope="module")
def combo():
    return load_scenario(SCENARIOS_DIR / COMBO)


def test_a_stock_run_matching_its_profile_is_explained_with_the_fills_each_knob_moves(tmp_path, combo):
    judged = combo.spec.contract.replace(stop_resolution="queue")
    write_run(tmp_path, "fake", "stock", [reference_result(combo, judged)], profile={"stop_resolution": "queue"})
    [check] = gate(tmp_path, [COMBO]).checks
    assert check.status == "explained", check.problems
    [effect] = check.explanation
    assert effect["knob"] == "[exits] stop_resolution" and effect["value"] == "queue"
    assert effect["fills_moved"] == len(effect["fills"]) > 0
    # every moved fill is a trailing-stop exit that became a stop-loss exit on the same bar
    assert {(f["contract"].split("(")[-1], f["changed"].split("(")[-1]) for f in effect["fills"]} == \
        {("trailing_stop)", "stop_loss)")}


def test_a_stock_run_needs_no_golden_but_a_contract_run_does(tmp_path, combo):
    # The stock verdict is the reference engine's under the profile; the golden is only the attribution's baseline.
    judged = combo.spec.contract.replace(stop_resolution="queue")
    write_run(tmp_path, "fake", "stock", [reference_result(combo, judged)], profile={"stop_resolution": "queue"})
    [stock] = gate(tmp_path, [COMBO], golden_root=tmp_path / "no_goldens").checks
    assert stock.status == "explained", stock.problems
    [effect] = stock.explanation
    assert effect["fills_moved"] > 0
    write_run(tmp_path, "fake", "contract", [reference_result(combo, combo.spec.contract)])
    [contract] = gate(tmp_path, [COMBO], mode="contract", golden_root=tmp_path / "no_goldens").checks
    assert contract.status == "error" and "no golden result" in contract.problems[0]


def test_a_broken_golden_is_an_error_in_stock_mode_too(tmp_path, combo):
    write_run(tmp_path, "fake", "stock", [reference_result(combo, combo.spec.contract)], profile={})
    (tmp_path / "goldens" / COMBO).mkdir(parents=True)  # a golden folder without its files
    [check] = gate(tmp_path, [COMBO], golden_root=tmp_path / "goldens").checks
    assert check.status == "error" and "golden" in check.problems[0]


def off_profile(combo):
    """A stock run that behaves as stop_resolution = "queue" while its profile does not say so."""
    obtained = reference_result(combo, combo.spec.contract.replace(stop_resolution="queue"))
    return dataclasses.replace(obtained, contract=MappingProxyType(combo.spec.contract.as_dict()))


def test_a_stock_run_off_its_profile_fails_and_the_search_names_the_missing_knob(tmp_path, combo):
    write_run(tmp_path, "fake", "stock", [off_profile(combo)], profile={})
    [check] = gate(tmp_path, [COMBO]).checks
    assert check.status == "fail"
    assert check.root_cause["verdict"] == "explained"
    assert ["stop_resolution = \"queue\""] in check.root_cause["explained_by"]


def test_a_run_no_knob_describes_is_unexplained_with_its_first_divergent_fill(tmp_path, combo):
    truth = reference_result(combo, combo.spec.contract)
    buy = next(f for f in truth.fills if f.side == "buy")
    moved = tuple(dataclasses.replace(f, price=f.price * 1.01) if f is buy else f for f in truth.fills)
    write_run(tmp_path, "fake", "contract", [dataclasses.replace(truth, fills=moved)])
    [check] = gate(tmp_path, [COMBO], mode="contract").checks
    assert check.status == "fail" and check.root_cause["verdict"] == "unexplained"
    first = check.root_cause["first_divergence"]
    assert (first["asset"], first["bar"], first["kind"]) == (buy.asset, buy.bar, "changed")
    assert len(first["bars"]) == 5 and first["bars"][2]["bar"] == buy.bar
    assert any(f["bar"] == buy.bar for f in first["obtained_fills"])


def test_unsupported_is_reported_with_its_knob_and_never_counted_as_passed(tmp_path):
    write_run(tmp_path, "fake", "stock", unsupported=[(COMBO, "[exits] trail_source")])
    run = gate(tmp_path, [COMBO])
    [check] = run.checks
    assert check.status == "unsupported" and check.knob == "[exits] trail_source"
    assert not check.passed and check.gate_ok


def test_an_engine_that_died_mid_run_names_the_scenario_it_died_on(tmp_path, combo):
    write_run(tmp_path, "fake", "contract", [reference_result(combo, combo.spec.contract)], finished=False,
              running="rnd_sl_close")
    checks = gate(tmp_path, [COMBO, "rnd_sl_close", "rnd_tp_close"], mode="contract").checks
    assert [c.status for c in checks] == ["pass", "error", "error"]
    assert "died while running this scenario" in checks[1].problems[0]
    assert "it died earlier, while running rnd_sl_close" in checks[2].problems[0]


def test_a_gate_that_cannot_run_replaces_an_older_passing_report(tmp_path, capsys):
    out = tmp_path / "latest"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps({"passed": True}))
    code = main(["gate", "--engine", "no_such_engine", "--out", str(out), "--runs-root", str(tmp_path)])
    assert code == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False and "no_such_engine" in summary["error"]
    assert "no_such_engine" in capsys.readouterr().err


def test_reports_are_deterministic_for_stock_and_failing_runs(tmp_path, combo):
    from harness.report import html_report, junit_xml, markdown

    write_run(tmp_path, "fake", "stock", [off_profile(combo)], profile={})
    texts = []
    for _ in range(2):
        run = gate(tmp_path, [COMBO])
        texts.append((markdown(run.checks, run.engines, run.pair_views), html_report(run.checks, run.engines),
                      junit_xml(run.checks)))
    assert texts[0] == texts[1]
    md, page, junit = texts[0]
    assert "stop_resolution" in md and "<svg" in page and "<failure" in junit


def test_the_golden_is_what_the_contract_run_reproduces(combo):
    assert not dataclasses.replace(golden.load(COMBO)).rejections  # sanity: the scenario is a signals one
    truth = reference_result(combo, combo.spec.contract)
    assert truth.fills == golden.load(COMBO).fills


def test_when_the_golden_is_what_moved_the_search_says_so(tmp_path, combo):
    import shutil

    gold = tmp_path / "golden"
    shutil.copytree(golden.GOLDEN_DIR / COMBO, gold / COMBO)
    fills = gold / COMBO / "fills.csv"
    lines = fills.read_text().splitlines()
    cells = lines[1].split(",")
    cells[5] = repr(float(cells[5]) * 1.001)  # a hand edit of the golden's first fill price
    lines[1] = ",".join(cells)
    fills.write_text("\n".join(lines) + "\n")
    write_run(tmp_path / "runs", "fake", "contract", [reference_result(combo, combo.spec.contract)])
    [check] = validate(["fake"], [COMBO], runs_root=tmp_path / "runs", golden_root=gold,
                       modes={"fake": ("contract",)}).checks
    assert check.status == "fail"
    assert check.root_cause["verdict"] == "golden" and check.root_cause["explained_by"] == []
    assert "golden" in check.root_cause["note"]
