"""Deliberate breaks of one engine fail the gate, and the root-cause search names the knob that explains each.

Each twin of the toy engine (tests/core/toy_engine.py) changes one rule. Run on
stored scenarios that exercise the rule, it must fail the gate, and every
failing check's root-cause search must name the knob change that reproduces the
twin exactly. A break no knob describes (a next_open entry one bar late) must
come out `unexplained`, with its first divergent fill.
"""

from __future__ import annotations

import pytest

from harness.gate import validate
from harness.registry import EngineEntry
from harness.runner import run_engine
from harness.scenario import SCENARIOS_DIR, load_spec

pytestmark = pytest.mark.reference

BREAKS = {
    # twin: (scenarios that exercise the rule, the knob change that explains it (None: unexplained))
    "toy_trail_on_closes": (["rnd_trail_high_close", "rnd_trail_high_next_open", "exit_trail_high"],
                            lambda c: 'trail_source = "close"'),
    "toy_stop_before_gapped_tp": (["exit_tp_gap_beats_stop", "exit_tp_gap_beats_stop_next_open"],
                                  lambda c: "gaps_first = false"),
    "toy_time_exit_late": (["rnd_time_close", "rnd_time_next_open", "exit_time_close"],
                           lambda c: f"max_bars = {c.max_bars + 1}"),
    "toy_stop_reference_swapped": (["rnd_sl_close", "rnd_combo_close_fillref"],
                                   lambda c: 'stop_reference = "{}"'.format(
                                       "fill_price" if c.stop_reference == "close" else "close")),
    "toy_unslipped_tp": (["rnd_tp_close", "rnd_tp_next_open"], lambda c: "slip_take_profit = false"),
    "toy_late_entry": (["plain_next_open", "costs_next_open"], None),
}


def entry(name: str) -> dict[str, EngineEntry]:
    return {name: EngineEntry(name=name, module="tests.core.toy_engine", group="core", python="3.11",
                              modes=("contract",), gate=True)}


@pytest.mark.parametrize("twin", sorted(BREAKS))
def test_a_deliberate_break_fails_and_the_search_names_its_knob(twin, tmp_path):
    names, knob_change = BREAKS[twin]
    assert run_engine(twin, names, runs_root=tmp_path, entries=entry(twin), log=lambda _: None)
    checks = validate([twin], names, runs_root=tmp_path, modes={twin: ("contract",)}).checks
    failing = [c for c in checks if c.status == "fail"]
    assert failing, f"{twin} passed every scenario: the break went unnoticed"
    for c in failing:
        finding = c.root_cause
        if knob_change is None:
            assert finding["verdict"] == "unexplained", (c.scenario, finding["explained_by"])
            first = finding["first_divergence"]
            assert first["kind"] in ("moved", "missing", "extra") and first["bars"], first
        else:
            expected = knob_change(load_spec(SCENARIOS_DIR / c.scenario).contract)
            assert [expected] in finding["explained_by"], (c.scenario, finding["explained_by"])
