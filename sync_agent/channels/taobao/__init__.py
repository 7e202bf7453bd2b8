"""Taobao and Tmall (Taobao Open Platform, TOP; marketplace-apis.md §5):
how its trades and refunds read (`mapper`) and the router's HTTP detail
(`adapter`: signing, call limits, modification windows)."""
from ..base import ChannelKind
from . import mapper
from .adapter import TaobaoAdapter
from .mapper import (
    CHANNEL_STATUSES,
    KIND,
    channel_status,
    external_id,
    normalize_order,
    normalize_returns,
)

CHANNEL = ChannelKind(KIND, TaobaoAdapter, mapper)

__all__ = ['CHANNEL', 'CHANNEL_STATUSES', 'KIND', 'TaobaoAdapter',
    'channel_status', 'external_id', 'normalize_order', 'normalize_returns']
