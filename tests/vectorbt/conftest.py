"""Fixtures shared by the vectorbt tests."""

from __future__ import annotations

import pytest

import adapters.vectorbt as vbt_adapter


@pytest.fixture
def simulations(monkeypatch):
    """How many from_signals runs the adapter made."""
    count = [0]
    original = vbt_adapter._simulate

    def counting(*args, **kwargs):
        count[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(vbt_adapter, "_simulate", counting)
    return count
