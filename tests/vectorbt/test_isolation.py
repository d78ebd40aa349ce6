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
    from adapters.vectorbt import Vectorbt
    from harness.engines import Engine, load_engine

    engine = load_engine("vectorbt")
    assert type(engine) is Vectorbt and isinstance(engine, Engine)
    assert engine.name == "vectorbt"
    assert engine.framework == "vectorbt"
    assert engine.framework_version() == "1.2.0"
    assert engine.modes == ("contract", "stock")
    assert callable(engine.run)
