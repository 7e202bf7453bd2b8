"""The agent's flows for one channel, each one call the scheduler (or
`oms-sync once`) makes: it reads what it needs from the ERP, talks to the
channel through its adapter (the interface of channels/base.py), and
writes back to the ERP only what the channel accepted.

- orders.py: the channel's orders into the ERP (pull_orders);
- stock.py: the ERP's stock levels to the channel, and the reconciliation
  with what the channel shows (push_stock, reconcile);
- fulfilments.py: the ERP's shipments marked on the channel
  (push_fulfilments);
- returns.py: the ERP's refunds made on the channel, the channel's
  refunds and returns into the ERP (sync_returns, push_refunds,
  pull_returns).

The ERP's outboxes (fulfilments, refunds) are drained by one protocol
(outbox.py); the cursors of the scans are read and backed off in one
place (cursor.py)."""
from __future__ import annotations

from .fulfilments import FulfilmentFlow
from .orders import OrderFlow, Translation
from .returns import ReturnFlow
from .stock import ChannelLevel, StockFlow

__all__ = ['ChannelLevel', 'ChannelSync', 'Translation']


class ChannelSync(OrderFlow, StockFlow, FulfilmentFlow, ReturnFlow):
    "Every flow of one channel, as the scheduler runs them"
