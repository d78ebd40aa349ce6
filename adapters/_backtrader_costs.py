"""The contract's cost knobs in Backtrader 1.9.78.123: commission scheme and absolute slippage.

Shared by the signal path (adapters/backtrader.py) and the broker settings in
adapters/_backtrader_feed.py.

* ``fee`` alone: the stock ``setcommission(commission=f)`` (``COMM_PERC``,
  ``percabs=True``: ``abs(size) * f * price``).
* ``fixed_fee``, ``per_share``, ``min_fee`` (any of them set):
  :class:`ContractCommInfo`, a ``CommInfoBase`` subclass overriding
  ``_getcommission``, the documented way to define a commission scheme
  (Backtrader docs, "User Defined Commissions"), installed with
  ``broker.addcommissioninfo``. Its fee is the contract's: the stock
  percentage term ``abs(size) * f * price``, then ``+ max(c * abs(size), m)``
  when ``c`` or ``m`` is set, then ``+ fixed_fee`` when set (the kernel's
  ``fee_of`` in the same order). The broker charges it on every executed
  part of an order (``BackBroker._execute``: ``getcommission(closed, price)``
  and ``getcommission(opened, price)`` only when that part is non-zero; a
  long-only fill is all one or the other, so a fixed fee is paid once per fill)
  and counts it in the cash check (``cash -= opencash; cash -= openedcomm; if
  cash < 0``: Margin).
* ``slippage_abs`` a: Backtrader's ``_slip_up`` / ``_slip_down``
  (bbroker.py:994-1036) apply ``slip_perc`` *or* ``slip_fixed``, never both
  (``if slip_perc: ... elif slip_fixed: ...``), and ``set_slippage_perc`` /
  ``set_slippage_fixed`` each zero the other. With ``slippage`` = 0 the broker
  is configured with ``set_slippage_fixed(a, ...)`` (``price + a``, ``price -
  a``: the contract's ``p * (1 + 0) + a``). With both set, the signal path's
  broker subclass (:class:`SlipBothMixin`) slips to ``p * (1 + s) + a`` /
  ``p * (1 - s) - a`` in those same two methods, so every fill the stock broker
  slips (market, close, stop and limit fills, gapped or not) gets both terms.
"""

from __future__ import annotations

import backtrader as bt

__all__ = ["COST_EXTRAS", "ContractCommInfo", "SlipBothMixin", "has_commission_extras", "configure_costs"]

COST_EXTRAS = ("fixed_fee", "per_share", "min_fee", "slippage_abs")  # beside fee and slippage


def has_commission_extras(contract) -> bool:
    return contract.fixed_fee != 0.0 or contract.per_share != 0.0 or contract.min_fee != 0.0


class ContractCommInfo(bt.CommInfoBase):
    """Stock-like percentage commission plus a per-share commission with a minimum, plus a fixed fee."""

    params = (
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
        ("per_share", 0.0),
        ("min_fee", 0.0),
        ("fixed_fee", 0.0),
    )

    def _getcommission(self, size, price, pseudoexec):
        size = abs(size)
        fee = size * self.p.commission * price  # CommInfoBase's own COMM_PERC term
        if self.p.per_share != 0.0 or self.p.min_fee != 0.0:
            fee = fee + max(self.p.per_share * size, self.p.min_fee)
        if self.p.fixed_fee != 0.0:
            fee = fee + self.p.fixed_fee
        return fee


class SlipBothMixin:
    """For a ``BackBroker`` subclass: ``slip_perc`` and ``slip_abs`` together, percentage first.

    Only in effect when both are set (``slip_abs`` is this mixin's attribute,
    not a broker parameter); otherwise the stock methods run unchanged. The
    bar clamp logic is the stock one (the adapters run with ``slip_match`` and
    ``slip_out``, so the slipped price is returned as it is).
    """

    slip_abs = 0.0

    def _slip_up(self, pmax, price, doslip=True, lim=False):
        if not (doslip and self.slip_abs and self.p.slip_perc):
            return super()._slip_up(pmax, price, doslip=doslip, lim=lim)
        pslip = price * (1.0 + self.p.slip_perc) + self.slip_abs
        if pslip <= pmax:
            return pslip
        if self.p.slip_match or (lim and self.p.slip_limit):
            return pslip if self.p.slip_out else pmax
        return None

    def _slip_down(self, pmin, price, doslip=True, lim=False):
        if not (doslip and self.slip_abs and self.p.slip_perc):
            return super()._slip_down(pmin, price, doslip=doslip, lim=lim)
        pslip = price * (1.0 - self.p.slip_perc) - self.slip_abs
        if pslip >= pmin:
            return pslip
        if self.p.slip_match or (lim and self.p.slip_limit):
            return pslip if self.p.slip_out else pmin
        return None


def configure_costs(broker, contract) -> None:
    """Commission and slippage settings for ``contract`` (see the module docstring)."""
    if has_commission_extras(contract):
        broker.addcommissioninfo(ContractCommInfo(commission=contract.fee, per_share=contract.per_share,
                                                  min_fee=contract.min_fee, fixed_fee=contract.fixed_fee))
    else:
        broker.setcommission(commission=contract.fee)
    flags = dict(slip_open=True, slip_limit=True, slip_match=True, slip_out=True)
    if contract.slippage == 0.0 and contract.slippage_abs != 0.0:
        broker.set_slippage_fixed(contract.slippage_abs, **flags)
        return
    broker.set_slippage_perc(contract.slippage, **flags)
    if contract.slippage_abs != 0.0:
        if not isinstance(broker, SlipBothMixin):
            raise NotImplementedError("slippage and slippage_abs together need a broker with SlipBothMixin")
        broker.slip_abs = contract.slippage_abs
