"""Items (宝贝) and their SKUs in the Taobao shop, their stock, and the
calls reading and writing them: ``taobao.items.custom.get``,
``taobao.item.quantity.update`` and ``taobao.skus.quantity.update``.

An item has a ``num_iid`` and the seller's ``outer_id`` (outer_iid in
trades); its SKUs a ``sku_id`` and their own ``outer_id`` (the seller's
SKU code, outer_sku_id in trades). An item with SKUs holds no stock of
its own: its ``num`` is their sum. ``add_product(sku)`` puts a SKU code
in the item named by the text before its last ``-`` (``MUG-RED`` in
``MUG``); a code without ``-`` (or ``item=sku``) is an item without
SKUs."""
from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .. import generator
from ..generator import CatalogItem
from .model import (
    NUM_IID_START,
    SKU_ID_START,
    Fields,
    Params,
    invalid,
    missing,
    nested,
    refused,
    top_time,
)

MAX_OUTER_IDS = 40       # items.custom.get (unconfirmed)
MAX_SKUS = 20            # skus.quantity.update
PROPERTY_ID = 1627207    # TOP's 颜色分类 property, for properties_name
ITEM_FIELDS = ('num_iid', 'outer_id', 'title', 'num', 'price', 'modified',
    'skus')
_QUANTITIES = re.compile(r'^[^:;]+:-?\d+(;[^:;]+:-?\d+)*;?$')


@dataclass
class Sku:
    sku_id: int
    outer_id: str
    title: str               # what add_product named it
    price: Decimal
    quantity: int
    value_id: int            # its value of the property
    modified: dt.datetime

    @property
    def properties_name(self) -> str:
        "pid:vid:property:value, as items list it"
        return f'{PROPERTY_ID}:{self.value_id}:颜色分类:{self.title}'

    @property
    def sku_properties_name(self) -> str:
        "property:value, as trade lines show it"
        return f'颜色分类:{self.title}'


@dataclass
class Item:
    num_iid: int
    outer_id: str
    title: str
    price: Decimal
    quantity: int            # an item without SKUs only
    modified: dt.datetime
    skus: dict[int, Sku] = field(default_factory=dict)

    @property
    def num(self) -> int:
        if self.skus:
            return sum(sku.quantity for sku in self.skus.values())
        return self.quantity


class Catalog:
    "The shop's items (a part of TaobaoShop)"

    def _init_catalog(self) -> None:
        self._items: dict[int, Item] = {}
        self._items_by_outer: dict[str, Item] = {}
        # The seller's code → (item, SKU or None for an item without)
        self._codes: dict[str, tuple[Item, Sku | None]] = {}
        self._num_iids = itertools.count(NUM_IID_START, 1_111)
        self._sku_ids = itertools.count(SKU_ID_START, 37)
        self._value_ids = itertools.count(28_320)

    # -- Python API ------------------------------------------------------

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, item: str | None = None) -> dict[str, Any]:
        """A SKU code sold by the shop: a SKU of the item whose outer_iid
        is `item` (default: the code before its last '-'), or an item
        without SKUs when `item` is the code itself (default for a code
        without '-')."""
        if not sku:
            raise ValueError("a Taobao product needs a code (its SKU)")
        outer_iid = item or (sku.rsplit('-', 1)[0] if '-' in sku else sku)
        with self.lock:
            if sku in self._codes:
                raise ValueError(f"code {sku!r} exists in {self.name}")
            now = self.now()
            price = generator.cents(price)
            owner = self._items_by_outer.get(outer_iid)
            if owner is not None and (outer_iid == sku or not owner.skus):
                raise ValueError(f"item {outer_iid!r} exists in {self.name}"
                    " without SKUs: it cannot take more")
            if owner is None:
                owner = Item(next(self._num_iids), outer_iid, title, price,
                    0, now)
                self._items[owner.num_iid] = owner
                self._items_by_outer[outer_iid] = owner
            entry = None
            if outer_iid == sku:
                owner.quantity = int(stock)
                ref: Item | Sku = owner
            else:
                entry = Sku(next(self._sku_ids), sku, title, price,
                    int(stock), next(self._value_ids), now)
                owner.skus[entry.sku_id] = entry
                ref = entry
            self._codes[sku] = (owner, entry)
            self._add_catalog(sku, title, price, ref)
            return {'sku': sku, 'title': title, 'price': str(price),
                'item': outer_iid, 'num_iid': owner.num_iid,
                'sku_id': entry.sku_id if entry else None}

    def _code(self, sku: str) -> tuple[Item, Sku | None]:
        found = self._codes.get(sku)
        if found is None:
            raise KeyError(f"{self.name}: no code {sku!r}")
        return found

    def inventory(self, sku: str) -> int:
        "What the SKU (or the item without SKUs) has left to sell"
        with self.lock:
            item, entry = self._code(sku)
            return entry.quantity if entry else item.quantity

    def set_inventory(self, sku: str, quantity: int) -> None:
        "The quantity as the seller sets it in the seller centre"
        with self.lock:
            item, entry = self._code(sku)
            self._set_quantity(item, entry, int(quantity))

    def inventory_levels(self) -> dict[str, int]:
        with self.lock:
            return {code: entry.quantity if entry else item.quantity
                for code, (item, entry) in self._codes.items()}

    def item(self, outer_iid: str) -> dict[str, Any]:
        "An item as items.custom.get serves it with every field"
        with self.lock:
            return self._item_json(self._items_by_outer[outer_iid],
                Fields.parse(ITEM_FIELDS))

    # -- stock -----------------------------------------------------------

    def available(self, item: CatalogItem) -> int:
        ref: Item | Sku = item.ref
        return ref.quantity

    def _set_quantity(self, item: Item, entry: Sku | None,
            quantity: int) -> None:
        now = self.now()
        if entry is None:
            item.quantity = quantity
        else:
            entry.quantity = quantity
            entry.modified = now
        item.modified = now

    def _take_stock(self, ref: Item | Sku | None, units: int) -> int:
        """Units a trade takes off a SKU or item (negative: gives back);
        what was taken, as TOP never shows less than zero"""
        if ref is None or not self.decrement_stock:
            return 0
        taken = min(units, max(ref.quantity, 0))
        item = ref if isinstance(ref, Item) else self._owner(ref)
        self._set_quantity(item, None if ref is item else ref,
            ref.quantity - taken)
        return taken

    def _owner(self, entry: Sku) -> Item:
        return self._codes[entry.outer_id][0]

    # -- calls -----------------------------------------------------------

    def _item_json(self, item: Item, fields: Fields) -> dict[str, Any]:
        record: dict[str, Any] = {'num_iid': item.num_iid,
            'outer_id': item.outer_id, 'title': item.title,
            'num': item.num, 'price': str(item.price),
            'modified': top_time(item.modified)}
        if item.skus:
            record.update(nested('skus', 'sku', [
                    {'sku_id': s.sku_id, 'outer_id': s.outer_id,
                        'quantity': s.quantity,
                        'properties_name': s.properties_name,
                        'price': str(s.price),
                        'modified': top_time(s.modified)}
                    for s in item.skus.values()]))
        return fields.serve(record)

    def _item_of(self, params: Params) -> Item:
        num_iid = params.id('num_iid')
        item = self._items.get(num_iid)
        if item is None:
            raise refused('isv.item-not-exist:invalid-numIid',
                f"No item with num_iid {num_iid}")
        return item

    @staticmethod
    def _update_type(params: Params) -> int:
        return params.integer('type', 1, 1, 2)

    @staticmethod
    def _new_quantity(old: int, quantity: int, kind: int) -> int:
        "type 1 sets the quantity, type 2 adds to it (never below zero)"
        return quantity if kind == 1 else max(0, old + quantity)

    def top_items_custom_get(self, params: Params) -> dict[str, Any]:
        """Items whose outer_id, or one of whose SKUs' outer_id, is named
        (unconfirmed: TOP documents items by their own outer_id)"""
        codes = params.csv('outer_id', required=True)
        if len(codes) > MAX_OUTER_IDS:
            raise invalid('outer_id', f"at most {MAX_OUTER_IDS} outer_id "
                "a call")
        fields = Fields.parse(params.csv('fields', required=True))
        found: dict[int, Item] = {}
        for code in codes:
            item = self._items_by_outer.get(code) or (
                self._codes[code][0] if code in self._codes else None)
            if item is not None:
                found.setdefault(item.num_iid, item)
        if not found:
            return {}
        return nested('items', 'item', [self._item_json(item, fields)
                for item in found.values()])

    def top_item_quantity_update(self, params: Params) -> dict[str, Any]:
        item = self._item_of(params)
        kind = self._update_type(params)
        quantity = params.integer('quantity')
        if kind == 1 and quantity < 0:
            raise invalid('quantity', "quantity must be >= 0 with type=1")
        sku_id, outer_id = params.get('sku_id'), params.get('outer_id')
        entry = None
        if sku_id is not None:
            entry = item.skus.get(params.id('sku_id'))
            if entry is None:
                raise refused('isv.item-quantity-item-update-service-error'
                    ':sku-not-exist', f"SKU {sku_id} is not a SKU of item "
                    f"{item.num_iid}")
        elif outer_id is not None and outer_id != item.outer_id:
            entry = next((s for s in item.skus.values()
                    if s.outer_id == outer_id), None)
            if entry is None:
                raise refused('isv.item-quantity-item-update-service-error'
                    ':sku-not-exist', f"No SKU of item {item.num_iid} has "
                    f"outer_id {outer_id!r}")
        if entry is None and item.skus:
            raise refused('isv.item-quantity-item-update-service-error'
                ':sku-required', f"Item {item.num_iid} has SKUs: give "
                "sku_id or outer_id")
        old = entry.quantity if entry else item.quantity
        self._set_quantity(item, entry, self._new_quantity(old, quantity,
                kind))
        return {'item': {'num_iid': item.num_iid, 'num': item.num,
                'modified': top_time(item.modified)}}

    def top_skus_quantity_update(self, params: Params) -> dict[str, Any]:
        """Several SKUs of one item, all or none: a SKU not of the item
        refuses the whole call"""
        item = self._item_of(params)
        kind = self._update_type(params)
        by_id = params.get('skuid_quantities') is not None
        name = 'skuid_quantities' if by_id else 'outerid_quantities'
        text = params.get(name)
        if text is None:
            raise missing('skuid_quantities')
        if not _QUANTITIES.match(text):
            raise invalid(name, f"{name} must be id:quantity;id:quantity")
        pairs = [pair.split(':') for pair in text.strip(';').split(';')]
        if len(pairs) > MAX_SKUS:
            raise invalid(name, f"at most {MAX_SKUS} SKUs a call")
        changes: list[tuple[Sku, int]] = []
        for key, number in pairs:
            quantity = int(number)
            if kind == 1 and quantity < 0:
                raise invalid(name, "quantities must be >= 0 with type=1")
            if by_id:
                entry = item.skus.get(int(key)) if key.isdigit() else None
                matched = [entry] if entry else []
            else:
                # An outer id several SKUs share updates them all
                matched = [s for s in item.skus.values()
                    if s.outer_id == key]
            if not matched:
                raise refused('isv.item-sku-not-exist', f"{key} is not a "
                    f"SKU of item {item.num_iid}")
            changes += [(entry, quantity) for entry in matched]
        for entry, quantity in changes:
            self._set_quantity(item, entry, self._new_quantity(
                    entry.quantity, quantity, kind))
        done = list({entry.sku_id: entry for entry, _ in changes}.values())
        return {'item': {'num_iid': item.num_iid, 'num': item.num,
                'modified': top_time(item.modified),
                **nested('skus', 'sku', [{'sku_id': s.sku_id,
                        'quantity': s.quantity,
                        'modified': top_time(s.modified)} for s in done])}}
