"""Shopify (Admin GraphQL API; marketplace-apis.md §1): how its payloads
read (`mapper`), the documents sent (`queries`), the API's HTTP detail
(`adapter`) and what a shipment or refund writes (`plans`)."""
from ..base import ChannelKind
from . import mapper
from .adapter import ShopifyAdapter
from .mapper import (
    CHANNEL_STATUSES,
    KIND,
    channel_status,
    external_id,
    normalize_order,
    normalize_returns,
)

CHANNEL = ChannelKind(KIND, ShopifyAdapter, mapper)

__all__ = ['CHANNEL', 'CHANNEL_STATUSES', 'KIND', 'ShopifyAdapter',
    'channel_status', 'external_id', 'normalize_order', 'normalize_returns']
