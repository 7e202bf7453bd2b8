"""The channel kinds the agent can sync, by name. Each kind is a package
`sync_agent.channels.<kind>`: its `mapper` (how the marketplace's payloads
read, with `normalize_order(raw)`, importable from the package) and its
adapter (all of that marketplace's HTTP detail). A new kind is one more
package and one more entry here (docs/adding-a-channel.md)."""
from __future__ import annotations

from . import amazon, shopify, taobao, woocommerce
from .base import ChannelKind

KINDS: dict[str, ChannelKind] = {
    kind.name: kind for kind in (
        shopify.CHANNEL, woocommerce.CHANNEL, amazon.CHANNEL,
        taobao.CHANNEL)}


def channel_kind(name: str) -> ChannelKind:
    "The kind of that name (KeyError for one the agent does not know)"
    return KINDS[name]
