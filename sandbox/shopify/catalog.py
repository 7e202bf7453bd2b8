"""Products, variants, locations and inventory levels of the Shopify shop,
and the GraphQL roots serving them: ``productVariants``, ``locations``,
``inventoryItems``, ``inventoryItem``, ``inventorySetQuantities``."""
from __future__ import annotations

import json
from bisect import bisect_right
from decimal import Decimal
from typing import Any

from .. import generator
from ..web import iso_z
from .model import (
    ID_TERM,
    MAX_INPUT,
    MUTATION_COST,
    REASONS,
    Call,
    GraphQLError,
    Variant,
    cursor,
    gid,
    gid_number,
    invalid_variable,
    read_cursor,
    sku_terms,
    user_error,
)

# What the calls counter names the inventorySetQuantities calls that
# refused some of their quantities (Shopify then applies none of them)
REFUSED_SET = 'inventorySetQuantities refused'


class Catalog:
    "The shop's catalog (a part of ShopifyShop)"

    def add_location(self, name: str) -> str:
        "A new location (stock 0 for every item); its gid"
        with self.lock:
            number = self._next('Location')
            self._locations[number] = name
            for variant in self._variants.values():
                self._levels[(variant.inventory_item_id, number)] = 0
            return gid('Location', number)

    def locations(self) -> dict[str, str]:
        "name → gid"
        with self.lock:
            return {name: gid('Location', n)
                for n, name in self._locations.items()}

    @property
    def default_location(self) -> int:
        return next(iter(self._locations))

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, variant_of: str | None = None) -> dict:
        """A variant with its inventory item, stocked at the first
        location. variant_of: the SKU of another variant of the same
        product."""
        with self.lock:
            if sku in self._by_sku:
                raise ValueError(f"SKU {sku!r} exists in {self.name}")
            if variant_of is not None:
                parent = self._by_sku.get(variant_of)
                if parent is None:
                    raise ValueError(f"no variant with SKU {variant_of!r}")
                product_id, product_title = (
                    parent.product_id, parent.product_title)
            else:
                product_id, product_title = self._next('Product'), title
            variant = Variant(self._next('ProductVariant'), product_id,
                self._next('InventoryItem'), sku, title, product_title,
                generator.cents(price))
            self._variants[variant.id] = variant
            self._by_sku[sku] = variant
            self._by_item[variant.inventory_item_id] = variant
            for location in self._locations:
                self._levels[(variant.inventory_item_id, location)] = 0
            self._levels[(variant.inventory_item_id,
                    self.default_location)] = int(stock)
            self._add_catalog(sku, title, variant.price, variant)
            return self._variant_ids(variant)

    def _variant_ids(self, variant: Variant) -> dict[str, Any]:
        return {'sku': variant.sku, 'title': variant.title,
            'price': str(variant.price),
            'product_id': gid('Product', variant.product_id),
            'variant_id': gid('ProductVariant', variant.id),
            'inventory_item_id': gid('InventoryItem',
                variant.inventory_item_id)}

    def product(self, sku: str) -> dict[str, Any]:
        "The ids of a SKU's variant, product and inventory item"
        with self.lock:
            return self._variant_ids(self._by_sku[sku])

    def _location_number(self, location: str | int | None) -> int | None:
        if location is None:
            return None
        if isinstance(location, int):
            return location
        number = gid_number(location, 'Location')
        if number is not None:
            return number
        for number, name in self._locations.items():
            if name == location:
                return number
        raise KeyError(f"no location {location!r}")

    def inventory(self, sku: str, location: str | int | None = None) -> int:
        """Available quantity of a SKU at a location (name or gid), or
        summed over all locations"""
        with self.lock:
            item = self._by_sku[sku].inventory_item_id
            number = self._location_number(location)
            if number is not None:
                return self._levels[(item, number)]
            return sum(self._levels[(item, n)] for n in self._locations)

    def available(self, item: generator.CatalogItem) -> int:
        "What the default location has: where new orders take stock"
        return self._levels[(item.ref.inventory_item_id,
                self.default_location)]

    def inventory_levels(self, by_location: bool = False) -> dict[str, Any]:
        "SKU → available (summed), or SKU → {location name: available}"
        with self.lock:
            result: dict[str, Any] = {}
            for sku, variant in self._by_sku.items():
                levels = {name: self._levels[(variant.inventory_item_id, n)]
                    for n, name in self._locations.items()}
                result[sku] = levels if by_location else sum(levels.values())
            return result

    def set_inventory(self, sku: str, quantity: int,
            location: str | int | None = None) -> None:
        "Set a level directly, as a merchant editing stock would"
        with self.lock:
            number = self._location_number(location) or self.default_location
            self._levels[(self._by_sku[sku].inventory_item_id,
                    number)] = int(quantity)

    def q_product_variants(self, call: Call) -> tuple[dict[str, Any], int]:
        first = call.first()
        text = call.arg('query') or ''
        skus = sku_terms(text)
        if skus is None:
            candidates = sorted(self._variants)
        elif self.sku_search_prefix:
            candidates = sorted(v.id for v in self._variants.values()
                if any(v.sku.startswith(s) for s in skus))
        else:
            candidates = sorted(self._by_sku[s].id for s in set(skus)
                if s in self._by_sku)
        after = call.arg('after')
        if after is not None:
            last = read_cursor(after)['last_id']
            candidates = candidates[bisect_right(candidates, last):]
        page = candidates[:first]
        nodes = [self._variant_node(self._variants[n]) for n in page]
        return {'pageInfo': {'hasNextPage': len(candidates) > first,
                'endCursor': cursor(last_id=page[-1]) if page else None},
            'nodes': nodes}, 1 + len(nodes)

    def _variant_node(self, variant: Variant) -> dict[str, Any]:
        item = variant.inventory_item_id
        return {
            'id': gid('ProductVariant', variant.id),
            'legacyResourceId': str(variant.id),
            'sku': variant.sku, 'title': variant.title,
            'displayName': (variant.product_title if variant.title
                == variant.product_title
                else f"{variant.product_title} - {variant.title}"),
            'price': str(variant.price),
            'inventoryQuantity': sum(self._levels[(item, n)]
                for n in self._locations),
            'inventoryItem': {'id': gid('InventoryItem', item),
                'tracked': True},
            'product': {'id': gid('Product', variant.product_id),
                'title': variant.product_title}}

    def q_locations(self, call: Call) -> tuple[dict[str, Any], int]:
        first = call.first(default=50)
        numbers = list(self._locations)
        after = call.arg('after')
        if after is not None:
            last = read_cursor(after)['last_id']
            numbers = [n for n in numbers if n > last]
        page = numbers[:first]
        return {'pageInfo': {'hasNextPage': len(numbers) > first,
                'endCursor': cursor(last_id=page[-1]) if page else None},
            'nodes': [{'id': gid('Location', n), 'name': self._locations[n],
                    'legacyResourceId': str(n), 'isActive': True}
                for n in page]}, 1 + len(page)

    def _item_node(self, variant: Variant, levels_first: int | None = None
            ) -> dict[str, Any]:
        item = variant.inventory_item_id
        levels = []
        locations = list(self._locations.items())
        for number, name in locations[:levels_first]:
            quantity = self._levels[(item, number)]
            levels.append({
                'id': (f'gid://shopify/InventoryLevel/{number}'
                    f'?inventory_item_id={item}'),
                'location': {'id': gid('Location', number), 'name': name},
                'quantities': [{'name': 'available', 'quantity': quantity},
                    {'name': 'on_hand', 'quantity': quantity}]})
        return {'id': gid('InventoryItem', item),
            'legacyResourceId': str(item), 'sku': variant.sku,
            'tracked': True,
            'variant': {'id': gid('ProductVariant', variant.id)},
            'inventoryLevels': {'nodes': levels, 'pageInfo': {
                    'hasNextPage': len(levels) < len(locations)}}}

    def q_inventory_items(self, call: Call) -> tuple[dict[str, Any], int]:
        "Items by `sku:` and `id:` terms (any of them), or all"
        first = call.first()
        text = call.arg('query') or ''
        skus = set(sku_terms(text) or ())
        ids = {int(n) for n in ID_TERM.findall(text)}
        variants = sorted((v for v in self._variants.values()
                if not text.strip() or v.sku in skus
                or v.inventory_item_id in ids),
            key=lambda v: v.inventory_item_id)
        after = call.arg('after')
        if after is not None:
            last = read_cursor(after)['last_id']
            variants = [v for v in variants if v.inventory_item_id > last]
        page = variants[:first]
        return {'pageInfo': {'hasNextPage': len(variants) > first,
                'endCursor': cursor(last_id=page[-1].inventory_item_id)
                if page else None},
            'nodes': [self._item_node(v, call.levels_first())
                for v in page]}, 1 + len(page)

    def q_inventory_item(self, call: Call) -> tuple[dict | None, int]:
        number = gid_number(call.arg('id'), 'InventoryItem')
        if number is None:
            raise GraphQLError(f"Invalid global id '{call.arg('id')}'",
                'argumentLiteralsIncompatible')
        variant = self._by_item.get(number)
        return (self._item_node(variant, call.levels_first())
            if variant else None), 1

    def m_inventory_set_quantities(self, call: Call) -> tuple[dict, int]:
        values = call.arg('input')
        if not isinstance(values, dict):
            raise invalid_variable('input', 'InventorySetQuantitiesInput!',
                "Expected value to not be null")
        quantities = values.get('quantities')
        if not isinstance(quantities, list):
            raise invalid_variable('input', 'InventorySetQuantitiesInput!',
                "quantities (Expected value to not be null)")
        if len(quantities) > MAX_INPUT:
            raise GraphQLError(
                f"The input array size of {len(quantities)} is greater than "
                f"the maximum allowed of {MAX_INPUT}.",
                'MAX_INPUT_SIZE_EXCEEDED',
                path=['inventorySetQuantities', 'input', 'quantities'])
        for n, quantity in enumerate(quantities):
            if not isinstance(quantity, dict):
                raise invalid_variable(
                    'input', 'InventorySetQuantitiesInput!',
                    f"quantities.{n} (Expected value to be an object)")
            for field in ('inventoryItemId', 'locationId', 'quantity'):
                if quantity.get(field) is None:
                    raise invalid_variable(
                        'input', 'InventorySetQuantitiesInput!',
                        f"quantities.{n}.{field} (Expected value to not be "
                        "null)")
            for field in ('quantity', 'changeFromQuantity'):
                value = quantity.get(field)
                if value is not None and (isinstance(value, bool)
                        or not isinstance(value, int)):
                    raise invalid_variable(
                        'input', 'InventorySetQuantitiesInput!',
                        f"quantities.{n}.{field} (Could not coerce value "
                        f"{json.dumps(value)} to Int)")
        empty = {'inventoryAdjustmentGroup': None}
        result = self._once(call,
            lambda: self._set_quantities(values, quantities), empty,
            required=True)
        if result.get('userErrors'):
            # All or nothing: the caller sends the rest again (benchmarks
            # count such calls apart from the minimum)
            self.calls[REFUSED_SET] += 1
        return result, MUTATION_COST

    def _set_quantities(self, values: dict[str, Any],
            quantities: list[dict[str, Any]]) -> dict[str, Any]:
        "Check every quantity, then apply all or nothing"
        errors = []
        name = values.get('name')
        if name not in ('available', 'on_hand'):
            errors.append(user_error(['input', 'name'],
                    f"The quantity name {name!r} is not valid: use "
                    "available or on_hand.", 'INVALID_NAME'))
        reason = values.get('reason')
        if reason not in REASONS:
            errors.append(user_error(['input', 'reason'],
                    f"The reason {reason!r} is not valid.", 'INVALID_REASON'))
        staged: dict[tuple[int, int], int] = {}
        changes = []
        for n, quantity in enumerate(quantities):
            field = ['input', 'quantities', str(n)]
            item = gid_number(quantity['inventoryItemId'], 'InventoryItem')
            location = gid_number(quantity['locationId'], 'Location')
            if item not in self._by_item:
                errors.append(user_error(field + ['inventoryItemId'],
                        "The specified inventory item could not be found.",
                        'INVALID_INVENTORY_ITEM'))
                continue
            if location not in self._locations:
                errors.append(user_error(field + ['locationId'],
                        "The specified location could not be found.",
                        'INVALID_LOCATION'))
                continue
            if 'changeFromQuantity' not in quantity:
                # Mandatory from 2026-04 (§1.4); mirrored here.
                errors.append(user_error(field + ['changeFromQuantity'],
                        "changeFromQuantity is required: pass the quantity "
                        "you expect, or null to skip the check.",
                        'CHANGE_FROM_QUANTITY_REQUIRED'))
                continue
            level = (item, location)
            current = staged.get(level, self._levels[level])
            expected = quantity['changeFromQuantity']
            if expected is not None and expected != current:
                errors.append(user_error(field + ['changeFromQuantity'],
                        "The changeFromQuantity value does not match "
                        "persisted value.", 'CHANGE_FROM_QUANTITY_STALE'))
                continue
            staged[level] = quantity['quantity']
            delta = quantity['quantity'] - current
            for change_name in (name, 'on_hand' if name == 'available'
                    else 'available'):
                changes.append({
                    'name': change_name, 'delta': delta,
                    'quantityAfterChange': quantity['quantity'],
                    'item': {'id': gid('InventoryItem', item),
                        'sku': self._by_item[item].sku},
                    'location': {'id': gid('Location', location),
                        'name': self._locations[location]},
                    'ledgerDocumentUri': None})
        if errors:
            return {'inventoryAdjustmentGroup': None, 'userErrors': errors}
        self._levels.update(staged)
        return {'inventoryAdjustmentGroup': {
                'id': gid('InventoryAdjustmentGroup',
                    self._next('InventoryAdjustmentGroup')),
                'createdAt': iso_z(self.now()),
                'reason': reason,
                'referenceDocumentUri': values.get('referenceDocumentUri'),
                'changes': changes},
            'userErrors': []}
