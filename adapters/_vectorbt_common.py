"""What the vectorbt signal and rotation paths share."""

from __future__ import annotations

__all__ = ["ContractDivergence"]


class ContractDivergence(RuntimeError):
    """vectorbt did something the contract forbids, and the adapter cannot undo it."""
