"""Products, variations and their stock of the WooCommerce shop, and the
REST routes serving them: GET/PUT /products, /products/batch,
/products/{id}/variations (and batch)."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .. import generator
from ..web import (
    Request,
    Response,
    iso_naive,
)
from .model import (
    Product,
    WooError,
    batch_body,
    int_value,
    integer_or_none,
    invalid_id,
    invalid_param,
    json_object,
    list_param,
    not_here,
)


class Catalog:
    "The shop's catalog (a part of WooCommerceShop)"

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, variant_of: str | None = None) -> dict:
        """A simple product managing its stock, or (variant_of: the SKU of
        a product) a variation of that product, which becomes variable"""
        with self.lock:
            if sku and (sku in self._product_skus
                    or self._variation_by_sku(sku)):
                raise ValueError(f"SKU {sku!r} exists in {self.name}")
            now = self.now()
            record = Product(self._post_id(), title, sku,
                generator.cents(price), True, int(stock),
                created=now, modified=now)
            if variant_of is None:
                self._products[record.id] = record
                if sku:
                    self._product_skus[sku] = record.id
            else:
                parent_id = self._product_skus.get(variant_of)
                if parent_id is None:
                    raise ValueError(f"no product with SKU {variant_of!r}")
                parent = self._products[parent_id]
                if parent.type == 'simple':
                    # Variable products sell their variations, not
                    # themselves; stock moves to the variations.
                    parent.type = 'variable'
                    parent.manage_stock = False
                    parent.stock_quantity = None
                    self._remove_catalog(parent.sku)
                record.type = 'variation'
                record.parent_id = parent_id
                parent.variations.append(record.id)
                self._variations[record.id] = record
                if sku:
                    self._variation_skus[sku] = record.id
            self._add_catalog(sku, title, record.price, record)
            return {'sku': sku, 'title': title, 'price': str(record.price),
                'product_id': record.parent_id or record.id,
                'variation_id': record.id if record.parent_id else 0}

    def _variation_by_sku(self, sku: str) -> Product | None:
        number = self._variation_skus.get(sku)
        return self._variations[number] if number is not None else None

    def _stocked(self, sku: str) -> Product:
        if sku in self._product_skus:
            return self._products[self._product_skus[sku]]
        variation = self._variation_by_sku(sku)
        if variation is None:
            raise KeyError(f"{self.name}: no SKU {sku!r}")
        return variation

    def inventory(self, sku: str) -> int | None:
        "stock_quantity of the SKU's product or variation (None: unmanaged)"
        with self.lock:
            return self._stocked(sku).stock_quantity

    def available(self, item: generator.CatalogItem) -> int | None:
        "Its stock quantity, None when it does not manage its stock"
        record = item.ref
        return record.stock_quantity if record.manage_stock else None

    def inventory_levels(self) -> dict[str, int | None]:
        with self.lock:
            levels = {p.sku: p.stock_quantity for p in self._products.values()
                if p.type == 'simple' and p.sku}
            levels.update((v.sku, v.stock_quantity)
                for v in self._variations.values() if v.sku)
            return levels

    def set_inventory(self, sku: str, quantity: int) -> None:
        with self.lock:
            record = self._stocked(sku)
            record.manage_stock = True
            record.stock_quantity = int(quantity)
            record.modified = self.now()

    def product(self, sku: str) -> dict[str, Any]:
        "The product (or variation) JSON of a SKU"
        with self.lock:
            record = self._stocked(sku)
            return (self._variation_json(record) if record.parent_id
                else self._product_json(record))

    def _stock_status(self, record: Product) -> str:
        if record.type == 'variable':
            return ('instock' if any((self._variations[v].stock_quantity
                        or 0) > 0 or not self._variations[v].manage_stock
                    for v in record.variations) else 'outofstock')
        if not record.manage_stock:
            return 'instock'
        return 'instock' if (record.stock_quantity or 0) > 0 \
            else 'outofstock'

    def _dates(self, record: Product) -> dict[str, str]:
        return {'date_created': self._local(record.created),
            'date_created_gmt': iso_naive(record.created),
            'date_modified': self._local(record.modified),
            'date_modified_gmt': iso_naive(record.modified)}

    def _product_json(self, record: Product) -> dict[str, Any]:
        price = record.price
        if record.type == 'variable' and record.variations:
            price = min(self._variations[v].price for v in record.variations)
        slug = re.sub(r'[^a-z0-9]+', '-', record.name.lower()).strip('-')
        return {
            'id': record.id, 'name': record.name, 'slug': slug,
            'permalink': f'{self.base_url}/product/{slug}/',
            **self._dates(record),
            'type': record.type, 'status': 'publish', 'featured': False,
            'catalog_visibility': 'visible', 'description': '',
            'short_description': '', 'sku': record.sku,
            'price': str(price), 'regular_price': str(price)
                if record.type == 'simple' else '',
            'sale_price': '', 'on_sale': False, 'purchasable': True,
            'virtual': False, 'downloadable': False,
            'tax_status': 'taxable', 'tax_class': '',
            'manage_stock': record.manage_stock,
            'stock_quantity': record.stock_quantity,
            'stock_status': self._stock_status(record),
            'backorders': 'no', 'backorders_allowed': False,
            'backordered': False, 'low_stock_amount': None,
            'parent_id': 0, 'categories': [], 'attributes': [],
            'variations': list(record.variations), 'meta_data': [],
            '_links': {
                'self': [{'href': f'{self.api_url}/products/{record.id}'}],
                'collection': [{'href': f'{self.api_url}/products'}]}}

    def _variation_json(self, record: Product) -> dict[str, Any]:
        return {
            'id': record.id, **self._dates(record),
            'description': '', 'name': record.name,
            'permalink': f'{self.base_url}/?p={record.id}',
            'type': 'variation', 'sku': record.sku,
            'price': str(record.price), 'regular_price': str(record.price),
            'sale_price': '', 'on_sale': False, 'status': 'publish',
            'purchasable': True, 'virtual': False, 'downloadable': False,
            'tax_status': 'taxable', 'tax_class': '',
            'manage_stock': record.manage_stock,
            'stock_quantity': record.stock_quantity,
            'stock_status': self._stock_status(record),
            'backorders': 'no', 'backorders_allowed': False,
            'backordered': False, 'parent_id': record.parent_id,
            'attributes': [{'id': 0, 'name': 'Option',
                    'option': record.name}],
            'meta_data': [],
            '_links': {
                'self': [{'href': f'{self.api_url}/products/'
                        f'{record.parent_id}/variations/{record.id}'}],
                'up': [{'href': f'{self.api_url}/products/'
                        f'{record.parent_id}'}]}}

    def _any_json(self, record_id: int) -> dict[str, Any]:
        if record_id in self._variations:
            return self._variation_json(self._variations[record_id])
        return self._product_json(self._products[record_id])

    def http_list_products(self, request: Request) -> Response:
        page, per_page, offset = self._paging(request)
        skus = list_param(request, 'sku')
        kind = request.param('type')
        include = {int(i) for i in list_param(request, 'include')
            if i.isdigit()}
        if skus:
            ids = [self._product_skus[s] for s in dict.fromkeys(skus)
                if s in self._product_skus]
            if self.sku_lookup_includes_variations:
                ids += [self._variation_skus[s] for s in dict.fromkeys(skus)
                    if s in self._variation_skus]
        else:
            ids = list(self._products)
        ids = [i for i in ids if (not kind or (i in self._products
                    and self._products[i].type == kind))
            and (not include or i in include)]
        orderby = request.param('orderby') or 'date'
        def created(record_id: int) -> tuple[dt.datetime, int]:
            record = (self._products.get(record_id)
                or self._variations[record_id])
            return record.created, record_id

        ids.sort(reverse=(request.param('order') or 'desc') == 'desc',
            key=(lambda i: i) if orderby == 'id' else created)
        return self._page(request, ids, self._any_json, page, per_page,
            offset)

    def _product(self, product_id: str) -> Product:
        record = self._products.get(int(product_id))
        if record is None:
            raise invalid_id('product')
        return record

    def http_get_product(self, request: Request, product_id: str) -> Response:
        return Response.json(self._product_json(self._product(product_id)))

    def http_update_product(self, request: Request,
            product_id: str) -> Response:
        record = self._product(product_id)
        self._update_stocked(record, json_object(request.json()))
        return Response.json(self._product_json(record))

    def _update_stocked(self, record: Product,
            values: dict[str, Any]) -> None:
        """Apply a product or variation update; checked first, so a bad
        value changes nothing"""
        manage = values.get('manage_stock', record.manage_stock)
        if isinstance(manage, str) and manage in ('true', 'false'):
            manage = manage == 'true'
        if not isinstance(manage, bool):
            raise invalid_param('manage_stock',
                'manage_stock is not of type boolean.')
        quantity = values.get('stock_quantity', record.stock_quantity)
        if 'stock_quantity' in values and values['stock_quantity'] is not None:
            quantity = integer_or_none(values['stock_quantity'])
            if quantity is None:
                raise invalid_param('stock_quantity',
                    'stock_quantity is not of type integer.')
        sku = values.get('sku', record.sku)
        if sku != record.sku and sku and (sku in self._product_skus
                or self._variation_by_sku(sku)):
            raise WooError(400, 'product_invalid_sku',
                'Invalid or duplicated SKU.', resource_id=record.id,
                unique_sku=sku)
        price = values.get('regular_price')
        if price not in (None, ''):
            try:
                price = generator.cents(Decimal(str(price)))
            except ArithmeticError:
                raise invalid_param('regular_price',
                    'regular_price is not of type string.') from None
        if record.type == 'variable':
            # Stock of a variable product lives on its variations.
            manage = bool(values.get('manage_stock', record.manage_stock))
        record.manage_stock = manage
        # WooCommerce drops stock_quantity unless stock is managed.
        record.stock_quantity = quantity if manage else None
        if sku != record.sku:
            skus = (self._variation_skus if record.parent_id
                else self._product_skus)
            skus.pop(record.sku, None)
            if sku:
                skus[sku] = record.id
            self._remove_catalog(record.sku)
            record.sku = sku
            self._add_catalog(sku, record.name, record.price, record)
        if price not in (None, ''):
            record.price = price
        if isinstance(values.get('name'), str):
            record.name = values['name']
        record.modified = self.now()

    def http_batch_products(self, request: Request) -> Response:
        values = batch_body(request)
        result: dict[str, list] = {'create': [], 'update': [], 'delete': []}
        for item in values.get('create', []):
            try:
                created = self.add_product(
                    sku=str(item.get('sku') or ''),
                    title=str(item.get('name') or 'Product'),
                    price=str(item.get('regular_price') or '0'),
                    stock=integer_or_none(
                        item.get('stock_quantity') or 0) or 0)
                result['create'].append(self._product_json(
                        self._products[created['product_id']]))
            except ValueError as error:
                result['create'].append({'id': 0, 'error': WooError(400,
                            'product_invalid_sku', str(error)).body})
        for item in values.get('update', []):
            record = self._products.get(int_value(item.get('id')))
            if record is None:
                result['update'].append({'id': item.get('id'),
                        'error': invalid_id('product', 400).body})
                continue
            result['update'].append(self._batch_update(record, item,
                    self._product_json))
        for item in values.get('delete', []):
            result['delete'].append({'id': item,
                    'error': not_here('delete')})
        return Response.json(result)

    def _batch_update(self, record: Product, item: dict[str, Any],
            serialize: Callable[[Product], dict]) -> dict[str, Any]:
        try:
            self._update_stocked(record, item)
        except WooError as error:
            return {'id': record.id, 'error': error.body}
        return serialize(record)

    def http_list_variations(self, request: Request,
            product_id: str) -> Response:
        record = self._product(product_id)
        page, per_page, offset = self._paging(request)
        skus = list_param(request, 'sku')
        include = {int(i) for i in list_param(request, 'include')
            if i.isdigit()}
        ids = [v for v in record.variations
            if (not skus or self._variations[v].sku in skus)
            and (not include or v in include)]
        ids.sort(reverse=(request.param('order') or 'desc') == 'desc')
        return self._page(request, ids, self._any_json, page, per_page,
            offset)

    def _variation(self, product_id: str, variation_id: str) -> Product:
        parent = self._product(product_id)
        record = self._variations.get(int(variation_id))
        if record is None or record.parent_id != parent.id:
            raise invalid_id('product_variation')
        return record

    def http_get_variation(self, request: Request, product_id: str,
            variation_id: str) -> Response:
        return Response.json(self._variation_json(
                self._variation(product_id, variation_id)))

    def http_update_variation(self, request: Request, product_id: str,
            variation_id: str) -> Response:
        record = self._variation(product_id, variation_id)
        self._update_stocked(record, json_object(request.json()))
        return Response.json(self._variation_json(record))

    def http_batch_variations(self, request: Request,
            product_id: str) -> Response:
        parent = self._product(product_id)
        values = batch_body(request)
        result: dict[str, list] = {'create': [], 'update': [], 'delete': []}
        for _ in values.get('create', []):
            result['create'].append({'id': 0, 'error': not_here('create')})
        for item in values.get('update', []):
            record = self._variations.get(int_value(item.get('id')))
            if record is None or record.parent_id != parent.id:
                result['update'].append({'id': item.get('id'),
                        'error': invalid_id('product_variation', 400).body})
                continue
            result['update'].append(self._batch_update(record, item,
                    self._variation_json))
        for item in values.get('delete', []):
            result['delete'].append({'id': item,
                    'error': not_here('delete')})
        return Response.json(result)
