"""The comparator must catch every kind of difference, each at the tolerance defined once."""

from __future__ import annotations

import dataclasses

import pytest

from harness.compare import compare_results, rel_diff
from harness.contract import TOLERANCES
from harness.results import Fill, RunResult

STAMPS = tuple(f"2021-01-{d:02d}" for d in range(4, 14))  # 10 bars


def fill(bar, side, price, size=10.0, fee=0.0, reason="signal", asset="A00"):
    return Fill(asset=asset, bar=bar, timestamp=STAMPS[bar], side=side, size=size, price=price, fee=fee, reason=reason)


def result(fills, final_value=10_040.0, equity=None, engine="candidate", inputs=None):
    equity = equity if equity is not None else tuple([10_000.0] * 9 + [final_value])
    return RunResult(scenario="s", engine=engine, framework="x", framework_version="1", fills=tuple(fills),
                     timestamps=STAMPS, equity=equity, final_value=final_value,
                     inputs=inputs or {"prices.csv": "a" * 64}, contract={"fill": "close"})


GOLDEN = result([fill(1, "buy", 103.0, fee=1.03), fill(3, "sell", 107.0, fee=1.07),
                 fill(5, "buy", 101.5, fee=1.015), fill(8, "sell", 99.25, fee=0.9925)])


def replace_fill(res, index, **changes):
    fills = list(res.fills)
    fills[index] = dataclasses.replace(fills[index], **changes)
    if "bar" in changes:
        fills[index] = dataclasses.replace(fills[index], timestamp=STAMPS[changes["bar"]])
    return dataclasses.replace(res, fills=tuple(fills))


def test_identical_results_pass():
    c = compare_results(GOLDEN, GOLDEN)
    assert c.status == "pass", c.problems
    assert c.matched == 4 and not (c.missing or c.extra or c.moved or c.field_diffs)


def test_fills_are_paired_by_identity_not_by_position():
    shuffled = dataclasses.replace(GOLDEN, fills=tuple(reversed(GOLDEN.fills)))
    assert compare_results(GOLDEN, shuffled).status == "pass"


def test_a_fill_one_bar_late_is_reported_as_moved_with_both_bars():
    c = compare_results(GOLDEN, replace_fill(GOLDEN, 1, bar=4))
    assert c.status == "fail"
    assert [(m.asset, m.side, m.reason, m.expected_bar, m.obtained_bar) for m in c.moved] == [("A00", "sell", "signal", 3, 4)]
    assert not c.missing and not c.extra
    assert c.matched == 3


def test_a_price_moved_by_1e9_relative_fails_and_names_the_fill_and_field():
    moved = 107.0 * (1 + 1e-9)
    c = compare_results(GOLDEN, replace_fill(GOLDEN, 1, price=moved))
    assert c.status == "fail"
    [d] = c.field_diffs
    assert (d.asset, d.bar, d.side, d.field, d.expected, d.obtained) == ("A00", 3, "sell", "price", 107.0, moved)
    assert d.rel == pytest.approx(1e-9, rel=1e-3)


def test_a_price_one_ulp_away_is_within_the_price_tolerance():
    import math

    c = compare_results(GOLDEN, replace_fill(GOLDEN, 1, price=math.nextafter(107.0, 200.0)))
    assert c.status == "pass", c.problems
    assert 0 < c.max_rel["price"] < TOLERANCES.price_rel


def test_a_price_just_beyond_1e12_relative_fails():
    c = compare_results(GOLDEN, replace_fill(GOLDEN, 0, price=103.0 * (1 + 3e-12)))
    assert c.status == "fail" and c.field_diffs[0].field == "price"


def test_a_missing_fill_fails():
    c = compare_results(GOLDEN, dataclasses.replace(GOLDEN, fills=GOLDEN.fills[:3]))
    assert c.status == "fail"
    assert [(f.bar, f.side) for f in c.missing] == [(8, "sell")]
    assert not c.extra and not c.moved


def test_an_extra_fill_fails():
    c = compare_results(GOLDEN, dataclasses.replace(GOLDEN, fills=GOLDEN.fills + (fill(9, "buy", 98.0),)))
    assert c.status == "fail"
    assert [(f.bar, f.side) for f in c.extra] == [(9, "buy")]
    assert not c.missing and not c.moved


def test_same_bar_but_another_side_or_reason_is_not_a_match():
    c = compare_results(GOLDEN, replace_fill(GOLDEN, 0, reason="rebalance"))
    assert c.status == "fail"
    assert [f.reason for f in c.missing] == ["signal"] and [f.reason for f in c.extra] == ["rebalance"]


def test_a_final_value_off_by_1e6_relative_fails():
    c = compare_results(GOLDEN, dataclasses.replace(GOLDEN, final_value=GOLDEN.final_value * (1 + 1e-6)))
    assert c.status == "fail"
    assert any("final value" in p for p in c.problems)


def test_size_and_fee_beyond_1e9_relative_fail():
    c = compare_results(GOLDEN, replace_fill(GOLDEN, 2, size=10.0 * (1 + 1e-8), fee=1.015 * (1 + 1e-8)))
    assert sorted(d.field for d in c.field_diffs) == ["fee", "size"]


def test_an_equity_bar_off_beyond_tolerance_fails_and_names_the_bar():
    equity = list(GOLDEN.equity)
    equity[6] *= 1 + 1e-7
    c = compare_results(GOLDEN, dataclasses.replace(GOLDEN, equity=tuple(equity)))
    assert c.status == "fail"
    assert [e.bar for e in c.equity_diffs] == [6]


def test_results_from_other_inputs_fail():
    c = compare_results(GOLDEN, dataclasses.replace(GOLDEN, inputs={"prices.csv": "b" * 64}))
    assert c.status == "fail" and any("input hashes" in p for p in c.problems)


def test_an_expected_result_without_fills_is_a_failure_not_a_pass():
    empty = result([], final_value=10_000.0)
    assert compare_results(empty, empty).status == "fail"


def test_several_moved_fills_pair_in_bar_order():
    late = GOLDEN
    for index, bar in ((0, 2), (2, 6)):
        late = replace_fill(late, index, bar=bar)
    c = compare_results(GOLDEN, late)
    assert [(m.expected_bar, m.obtained_bar) for m in c.moved] == [(1, 2), (5, 6)]


def test_rel_diff_is_symmetric_and_zero_only_for_equal_values():
    assert rel_diff(100.0, 100.0) == 0.0
    assert rel_diff(0.0, 0.0) == 0.0
    assert rel_diff(100.0, 101.0) == rel_diff(101.0, 100.0) > 0
    assert rel_diff(0.0, 1e-300) == 1.0


def with_rejections(res, *rejections):
    from harness.results import Rejection

    return dataclasses.replace(res, rejections=tuple(
        Rejection(asset="A00", bar=b, timestamp=STAMPS[b], side="buy", size=size, reason="rebalance")
        for b, size in rejections))


def test_rejections_are_compared_like_fills():
    golden = with_rejections(GOLDEN, (2, 5.0), (6, 7.5))
    assert compare_results(golden, golden).status == "pass"
    c = compare_results(golden, with_rejections(GOLDEN, (2, 5.0)))
    assert c.status == "fail" and [r.bar for r in c.rejections_missing] == [6]
    c = compare_results(golden, with_rejections(GOLDEN, (2, 5.0), (6, 7.5), (9, 1.0)))
    assert c.status == "fail" and [r.bar for r in c.rejections_extra] == [9]
    c = compare_results(golden, with_rejections(GOLDEN, (3, 5.0), (6, 7.5)))
    assert c.status == "fail" and [(m.expected_bar, m.obtained_bar) for m in c.rejections_moved] == [(2, 3)]
    c = compare_results(golden, with_rejections(GOLDEN, (2, 5.0 * (1 + 1e-8)), (6, 7.5)))
    assert c.status == "fail" and [d.field for d in c.field_diffs] == ["rejected size"]


def test_an_expected_result_of_rejections_only_is_compared():
    # Every entry refused for lack of cash: nothing filled, and the refusals are what there is to compare.
    refused = with_rejections(result([], final_value=10_000.0), (2, 5.0))
    assert compare_results(refused, refused).status == "pass"
    c = compare_results(refused, with_rejections(result([], final_value=10_000.0), (3, 5.0)))
    assert c.status == "fail" and [(m.expected_bar, m.obtained_bar) for m in c.rejections_moved] == [(2, 3)]
