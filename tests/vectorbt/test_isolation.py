"""The vectorbt venv is its own: Backtrader is not importable here."""

import importlib

import pytest

pytestmark = pytest.mark.vectorbt


def test_backtrader_is_not_importable():
    with pytest.raises(ImportError):
        importlib.import_module("backtrader")


def test_vectorbt_is_the_pinned_version():
    import vectorbt

    assert vectorbt.__version__ == "1.2.0"


def test_the_gate_finds_the_adapter_by_name():
    from harness.engines import import_engine

    module = import_engine("vectorbt")
    assert module.ENGINE == "vectorbt"
    assert module.FRAMEWORK == "vectorbt"
    assert module.framework_version() == "1.2.0"
    assert callable(module.run)
