"""The stock of a Taobao adapter (marketplace-apis.md §5.4): quantities
set absolutely (``type=1``) per item (宝贝):
- ``taobao.skus.quantity.update`` for up to 20 SKUs of one item a call;
- ``taobao.item.quantity.update`` for an item without SKUs.
So the fewest calls are, per item, ceil(its changed SKUs / 20), and one
per item without SKUs.

A SKU code (``outer_sku_id``, or an item's ``outer_id``) is known by its
``num_iid`` and ``sku_id``: from the ERP's listing (external ids) where it
has them, else looked up once with ``taobao.items.custom.get`` (40 codes a
call) and kept in the state directory."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from typing import Any

from oms_contract.models import StockRefusal

from ..base import StockKey, StockResult, StockUpdate, chunks
from ..transport import ChannelError
from .mapper import listed
from .router import Router, TopError

SKUS_A_CALL = 20  # taobao.skus.quantity.update
CODES_A_LOOKUP = 40  # taobao.items.custom.get (unconfirmed)
# Items' SKUs are asked for as `sku` in some of TOP's reference pages and
# `skus` (the field's name) in others: both (unknown names are ignored)
LOOKUP_FIELDS = 'num_iid,outer_id,num,sku,skus'
ABSOLUTE = 1

# Where a SKU code is sold: (num_iid, sku_id); sku_id None for an item
# without SKUs
Place = tuple[str, str | None]


class Items:
    """The stock part of TaobaoAdapter: its `router`, the cache helpers of
    Adapter and the `places` cache (SKU code → [num_iid, sku_id])"""
    router: Router
    places: dict[str, list[str | None]]

    def stock_calls(self, skus: Collection[str]) -> int:
        """Per item: its SKUs in twenties; one per item without SKUs (and
        per SKU not known yet)"""
        calls, per_item = 0, defaultdict(int)
        for sku in skus:
            place = self.places.get(sku)
            if place is None or place[1] is None:
                calls += 1
            else:
                per_item[place[0]] += 1
        return calls + sum(-(-n // SKUS_A_CALL) for n in per_item.values())

    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        "Set each SKU's quantity, in the fewest calls (see the module)"
        results, placed = self._placed(updates)
        by_item: dict[str, list[tuple[StockUpdate, str | None]]] = \
            defaultdict(list)
        for update, (num_iid, sku_id) in placed:
            by_item[num_iid].append((update, sku_id))
        for num_iid, wanted in by_item.items():
            singles = [update for update, sku_id in wanted if sku_id is None]
            for update in singles:
                results += self._write(
                    [update], 'taobao.item.quantity.update',
                    num_iid=num_iid, quantity=update.quantity, type=ABSOLUTE)
            skus = [(update, sku_id) for update, sku_id in wanted
                if sku_id is not None]
            for chunk in chunks(skus, SKUS_A_CALL):
                results += self._write(
                    [update for update, _ in chunk],
                    'taobao.skus.quantity.update', num_iid=num_iid,
                    skuid_quantities=';'.join(f'{sku_id}:{update.quantity}'
                        for update, sku_id in chunk), type=ABSOLUTE)
        return results

    def read_stock(self, updates: list[StockUpdate]
            ) -> dict[StockKey, int | None]:
        "What Taobao shows for each SKU, read fresh (40 codes a call)"
        found: dict[StockKey, int | None] = {}
        shown = self._look_up([u.sku for u in updates])
        for update in updates:
            if update.sku in shown:
                found[update.key] = shown[update.sku][1]
        return found

    def _write(self, updates: list[StockUpdate], method: str,
            **arguments: Any) -> list[StockResult]:
        "One quantity call: its updates all set, or all refused with why"
        try:
            self.router.call(method, **arguments)
        except TopError as error:
            # Ids kept from an earlier lookup may be stale (an item
            # relisted): looked up again at the next push
            for update in updates:
                self.places.pop(update.sku, None)
            self.store_cache('places', self.places)
            return [StockResult(update, str(error), StockRefusal.refused)
                for update in updates]
        return [StockResult(update) for update in updates]

    def _placed(self, updates: list[StockUpdate]
            ) -> tuple[list[StockResult], list[tuple[StockUpdate, Place]]]:
        "Refusals of SKUs Taobao does not know, and where the others are"
        for update in updates:
            if update.external_id and update.sku not in self.places:
                # The ERP's listing knows the item (and its SKU)
                self.places[update.sku] = [update.external_id,
                    update.external_variant_id]
        missing = self.to_look_up(u.sku for u in updates
            if u.sku not in self.places)
        if missing:
            for sku, (place, _) in self._look_up(missing).items():
                self.places[sku] = list(place)
            self.not_found(s for s in missing if s not in self.places)
            self.store_cache('places', self.places)
        refused, placed = [], []
        for update in updates:
            place = self.places.get(update.sku)
            if place is None:
                refused.append(StockResult(update,
                        "Taobao has no item or SKU with this merchant code "
                        "(商家编码) on sale in this shop",
                        StockRefusal.unknown_sku))
            else:
                placed.append((update, (str(place[0]), place[1])))
        return refused, placed

    def _look_up(self, skus: Iterable[str]
            ) -> dict[str, tuple[Place, int | None]]:
        """Where each SKU code is sold and the quantity Taobao shows, by
        ``taobao.items.custom.get``; codes it does not know are left out"""
        found: dict[str, tuple[Place, int | None]] = {}
        for codes in chunks(sorted(set(skus)), CODES_A_LOOKUP):
            try:
                answer = self.router.call('taobao.items.custom.get',
                    outer_id=','.join(codes), fields=LOOKUP_FIELDS)
            except TopError as error:
                raise ChannelError(f"looking SKUs up: {error}") from error
            wanted = set(codes)
            for item in listed(answer.get('items'), 'item'):
                num_iid = str(item.get('num_iid'))
                skus_of_item = listed(item.get('skus'), 'sku')
                for sku in skus_of_item:
                    code = sku.get('outer_id')
                    if code in wanted:
                        found[code] = ((num_iid, str(sku.get('sku_id'))),
                            _count(sku.get('quantity')))
                code = item.get('outer_id')
                if code in wanted and not skus_of_item:
                    found[code] = ((num_iid, None), _count(item.get('num')))
        return found


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
