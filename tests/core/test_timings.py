"""reports/latest/timings.md: every engine's run time per mode, and each large scenario per engine and mode."""

from __future__ import annotations

from harness.report import timings_markdown

TIMINGS = {
    "reference": {"engine": "reference", "jobs": 2, "seconds": 30.5,
                  "scenarios": {"contract": {"plain_close": 0.01, "multi_signals_large": 1.25}}},
    "vectorbt": {"engine": "vectorbt", "jobs": 1, "seconds": 61.0,
                 "scenarios": {"contract": {"plain_close": 0.4, "multi_signals_large": 31.136},
                               "stock": {"plain_close": 0.3, "multi_signals_large": 0.0}}},
}
STATUSES = {
    "reference": {"contract": {"plain_close": "ok", "multi_signals_large": "ok"}},
    "vectorbt": {"contract": {"plain_close": "ok", "multi_signals_large": "ok"},
                 "stock": {"plain_close": "ok", "multi_signals_large": "unsupported"}},
}


def test_each_large_scenario_has_its_time_per_engine_and_mode_or_what_it_was_instead() -> None:
    text = timings_markdown(TIMINGS, ["multi_signals_large"], STATUSES)
    large = text.split("Large scenarios:\n\n", 1)[1].splitlines()
    assert large == ["| scenario | reference/contract | vectorbt/contract | vectorbt/stock |",
                     "|---|---|---|---|",
                     "| multi_signals_large | 1.25 | 31.14 | unsupported |"]
    assert "| vectorbt | 1 | 61.0 | contract | 2 | 31.5 | multi_signals_large 31.14, plain_close 0.40 |" in text


def test_a_large_scenario_an_engine_did_not_run_is_a_dash() -> None:
    timings = {"reference": TIMINGS["reference"],
               "zipline": {"engine": "zipline", "jobs": 1, "seconds": 5.0,
                           "scenarios": {"contract": {"plain_close": 0.2}}}}
    text = timings_markdown(timings, ["multi_signals_large"], {"reference": STATUSES["reference"]})
    assert text.endswith("| multi_signals_large | 1.25 | - |\n")


def test_without_large_scenarios_there_is_no_large_table() -> None:
    assert "Large scenarios" not in timings_markdown(TIMINGS, [], STATUSES)
