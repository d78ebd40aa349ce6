"""The Backtrader venv is its own: vectorbt is not importable here."""

import importlib

import pytest

pytestmark = pytest.mark.backtrader


def test_vectorbt_is_not_importable():
    with pytest.raises(ImportError):
        importlib.import_module("vectorbt")


def test_backtrader_is_the_pinned_version():
    import backtrader

    assert backtrader.__version__ == "1.9.78.123"
