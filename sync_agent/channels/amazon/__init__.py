"""Amazon (Selling Partner API; marketplace-apis.md §3): how its payloads
read (`mapper`, both Orders v2026-01-01 and v0) and the API's HTTP detail
(`adapter`)."""
from ..base import ChannelKind
from . import mapper
from .adapter import AmazonAdapter
from .mapper import (
    CHANNEL_STATUSES,
    KIND,
    channel_status,
    external_id,
    normalize_order,
    normalize_returns,
)

CHANNEL = ChannelKind(KIND, AmazonAdapter, mapper)

__all__ = ['CHANNEL', 'CHANNEL_STATUSES', 'KIND', 'AmazonAdapter',
    'channel_status', 'external_id', 'normalize_order', 'normalize_returns']
