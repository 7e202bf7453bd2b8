"""WooCommerce (REST API v3; marketplace-apis.md §2): how its payloads
read (`mapper`) and the API's HTTP detail (`adapter`)."""
from ..base import ChannelKind
from . import mapper
from .adapter import WooCommerceAdapter
from .mapper import (
    CHANNEL_STATUSES,
    KIND,
    channel_status,
    external_id,
    normalize_order,
    normalize_returns,
)

CHANNEL = ChannelKind(KIND, WooCommerceAdapter, mapper)

__all__ = ['CHANNEL', 'CHANNEL_STATUSES', 'KIND', 'WooCommerceAdapter',
    'channel_status', 'external_id', 'normalize_order', 'normalize_returns']
