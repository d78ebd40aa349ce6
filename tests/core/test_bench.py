"""The bench's workloads: deterministic, valid scenario inputs, smaller sizes the first columns of the full one.

No test here times anything; the figures live in reports/bench/ (``nox -s bench``).
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.bench import WORKLOADS, Size, build_scenario, input_bytes


def _small(workload: str):
    """The workload's generator at a test-sized grid (same seeds, same rules)."""
    wl = WORKLOADS[workload]
    sizes = dict(wl.sizes)
    sizes["test"] = Size(300, 12)
    sizes["test_few"] = Size(300, 5)
    return type(wl)(wl.name, wl.kind, wl.title, wl.seed, type(wl.sizes)(sizes), wl.scaling)


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_inputs_are_deterministic_and_valid(workload):
    wl = _small(workload)
    a, b = build_scenario(wl, "test"), build_scenario(wl, "test")
    m = a.market
    for name in ("open", "high", "low", "close", "volume", "entries", "exits"):
        assert np.array_equal(getattr(m, name), getattr(b.market, name)), name
        assert not getattr(m, name).flags.writeable
    assert np.all(np.isfinite(m.close)) and np.all(m.low > 0)
    assert np.all(m.low <= np.minimum(m.open, m.close)) and np.all(np.maximum(m.open, m.close) <= m.high)
    assert not np.any(m.entries & m.exits)
    assert input_bytes(a) == sum(getattr(m, n).nbytes for n in ("open", "high", "low", "close", "volume", "entries", "exits")) \
        + (m.weights.nbytes if m.weights is not None else 0)
    if wl.kind == "rotation":
        rows = m.weights[m.rebalance]
        assert len(rows) > 0 and np.all(rows >= 0) and np.all(rows.sum(axis=1) <= 1.0)
        assert a.spec.contract.sizing_mode == "target_weights"
    else:
        assert m.entries.any() and a.spec.contract.has_exit_rules


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_a_smaller_size_is_the_first_columns_of_a_larger_one(workload):
    wl = _small(workload)
    big, few = build_scenario(wl, "test").market, build_scenario(wl, "test_few").market
    for name in ("open", "high", "low", "close", "entries", "exits"):
        assert np.array_equal(getattr(big, name)[:, :5], getattr(few, name)), name


def test_the_workloads_are_the_ones_the_bench_promises():
    assert WORKLOADS["W1"].sizes["full"] == Size(100_000, 1)
    assert WORKLOADS["W2"].sizes["full"] == Size(2520, 1000)
    assert WORKLOADS["W3"].sizes["full"] == Size(2520, 500)
    assert WORKLOADS["W2"].scaling == ("tenth", "third", "full")
    assert [WORKLOADS["W2"].sizes[s].assets for s in WORKLOADS["W2"].scaling] == [100, 333, 1000]
