"""Listings and their stock of the Amazon shop, and the Listings Items
API routes serving them: GET and PATCH
/listings/2021-08-01/items/{sellerId}/{sku}.

A merchant-fulfilled listing's stock is its DEFAULT
``fulfillment_availability`` quantity; an FBA listing's is Amazon's own
(AMAZON_NA here), which the seller cannot set. Accepted quantities are
applied ``apply_delay_s`` later (monotonic clock): ACCEPTED is not
applied, as Amazon warns."""
from __future__ import annotations

import copy
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from .. import generator
from ..web import Request, Response, iso_z
from .model import asin, csv_param, errors, invalid_input, json_object

AVAILABILITY = '/attributes/fulfillment_availability'
FBA_CHANNEL = 'AMAZON_NA'
PATCH_OPS = ('add', 'replace', 'merge', 'delete')
INCLUDED = ('summaries', 'attributes', 'issues', 'offers',
    'fulfillmentAvailability')


@dataclass
class Listing:
    sku: str
    asin: str
    title: str
    price: Decimal
    fulfilled_by: str             # MERCHANT or AMAZON
    quantity: int | None          # DEFAULT, applied; None for FBA
    afn_quantity: int = 0         # Amazon's stock of an FBA listing
    parent_sku: str | None = None
    created: dt.datetime | None = None
    updated: dt.datetime | None = None
    # (monotonic time it applies at, quantity), oldest first
    pending: list[tuple[float, int]] = field(default_factory=list)


def issue(code: str, message: str, attributes: list[str] | None = None,
        categories: list[str] | None = None,
        severity: str = 'ERROR') -> dict[str, Any]:
    "An issue of a listings submission (and, trimmed, of a feed report)"
    return {'code': code, 'message': message, 'severity': severity,
        'attributeNames': attributes or [], 'categories': categories or []}


# Issue codes: 90220 is the listings schema's own; the others are chosen
# here (unconfirmed, see the package docstring).
def missing(name: str) -> dict[str, Any]:
    return issue('90220', f"'[{name}]' is required but not supplied.",
        [name], ['MISSING_ATTRIBUTE'])


def invalid(name: str, why: str) -> dict[str, Any]:
    return issue('4000001', f"The provided value for '{name}' is invalid: "
        f"{why}", [name], ['INVALID_ATTRIBUTE'])


def unknown_sku(sku: str, marketplace_id: str) -> dict[str, Any]:
    return issue('4000003', f"SKU '{sku}' does not exist in marketplace "
        f"{marketplace_id}: a PATCH cannot create a listing.", [],
        ['INVALID_ATTRIBUTE'])


def fba_owned(sku: str) -> dict[str, Any]:
    return issue('4000004', "fulfillment_availability with "
        f"fulfillment_channel_code DEFAULT cannot be set for SKU '{sku}': "
        "its quantity is fulfilled by Amazon.", ['fulfillment_availability'],
        ['INVALID_ATTRIBUTE'])


class Catalog:
    "The shop's listings (a part of AmazonShop)"

    def _init_catalog(self) -> None:
        self._listings: dict[str, Listing] = {}
        self._pending_skus: set[str] = set()

    def add_product(self, sku: str, title: str, price: Decimal | str,
            stock: int = 0, variant_of: str | None = None,
            fulfilled_by: str = 'MERCHANT') -> dict:
        """A listing with its ASIN. fulfilled_by='AMAZON' makes an FBA
        listing: `stock` is then Amazon's, which orders and the seller's
        DEFAULT quantity never touch. variant_of: the parent SKU, which
        becomes a variation parent (not sold itself)."""
        if fulfilled_by not in ('MERCHANT', 'AMAZON'):
            raise ValueError("fulfilled_by must be MERCHANT or AMAZON")
        if not sku:
            raise ValueError("an Amazon listing needs a SKU")
        with self.lock:
            if sku in self._listings:
                raise ValueError(f"SKU {sku!r} exists in {self.name}")
            if variant_of is not None:
                if variant_of not in self._listings:
                    raise ValueError(f"no listing with SKU {variant_of!r}")
                self._remove_catalog(variant_of)
            now = self.now()
            fba = fulfilled_by == 'AMAZON'
            listing = Listing(sku, asin(self.seller_id, sku), title,
                generator.cents(price), fulfilled_by,
                None if fba else int(stock),
                afn_quantity=int(stock) if fba else 0,
                parent_sku=variant_of, created=now, updated=now)
            self._listings[sku] = listing
            self._add_catalog(sku, title, listing.price, listing)
            return {'sku': sku, 'title': title, 'price': str(listing.price),
                'asin': listing.asin, 'fulfilled_by': fulfilled_by}

    def _listing(self, sku: str) -> Listing:
        listing = self._listings.get(sku)
        if listing is None:
            raise KeyError(f"{self.name}: no SKU {sku!r}")
        return listing

    def inventory(self, sku: str) -> int | None:
        "The DEFAULT quantity applied (None for an FBA listing)"
        with self.lock:
            self._settle()
            return self._listing(sku).quantity

    def set_inventory(self, sku: str, quantity: int) -> None:
        """The quantity as the seller sets it in Seller Central: at once
        (Amazon's own, for an FBA listing)"""
        with self.lock:
            self._settle()
            listing = self._listing(sku)
            if listing.fulfilled_by == 'AMAZON':
                listing.afn_quantity = int(quantity)
            else:
                listing.quantity = int(quantity)
            listing.updated = self.now()

    def inventory_levels(self) -> dict[str, int | None]:
        with self.lock:
            self._settle()
            return {sku: listing.quantity
                for sku, listing in self._listings.items()}

    def listing(self, sku: str) -> dict[str, Any]:
        "The listing as getListingsItem serves it with all its data"
        with self.lock:
            self._settle()
            return self._listing_json(self._listing(sku), INCLUDED)

    def available(self, item: generator.CatalogItem) -> int | None:
        "What an order may take: MFN quantity; FBA stock is not the seller's"
        listing: Listing = item.ref
        return listing.quantity

    def _settle_listings(self) -> None:
        "Apply the accepted quantities whose time has come"
        if not self._pending_skus:
            return
        now = time.monotonic()
        for sku in list(self._pending_skus):
            listing = self._listings[sku]
            while listing.pending and listing.pending[0][0] <= now:
                listing.quantity = listing.pending.pop(0)[1]
                listing.updated = self.now()
            if not listing.pending:
                self._pending_skus.discard(sku)

    def _apply_quantity(self, listing: Listing, quantity: int,
            delay: float | None = None) -> None:
        "An accepted DEFAULT quantity: applied now or after apply_delay_s"
        delay = self.apply_delay_s if delay is None else delay
        if delay <= 0 and not listing.pending:
            listing.quantity = quantity
            listing.updated = self.now()
            return
        listing.pending.append((time.monotonic() + delay, quantity))
        self._pending_skus.add(listing.sku)

    def _take_stock(self, sku: str | None, quantity: int) -> int:
        """Units an MFN order takes off a listing (negative: puts back);
        what was taken, as Amazon never shows less than zero"""
        listing = self._listings.get(sku or '')
        if listing is None or listing.quantity is None \
                or not self.decrement_stock:
            return 0
        self._settle_listings()
        taken = min(quantity, max(listing.quantity, 0))
        listing.quantity -= taken
        listing.updated = self.now()
        return taken

    def _check_patches(self, sku: str, product_type: Any, patches: Any
            ) -> tuple[int | None, list[dict[str, Any]]]:
        """The DEFAULT quantity a listing patch sets (None: none) and its
        issues; shared by patchListingsItem and JSON_LISTINGS_FEED"""
        listing = self._listings.get(sku)
        if listing is None:
            return None, [unknown_sku(sku, self.marketplace_id)]
        problems = []
        if not isinstance(product_type, str) or not product_type:
            problems.append(missing('productType'))
        if not isinstance(patches, list) or not patches:
            return None, problems + [missing('patches')]
        quantity = None
        for patch in patches:
            if not isinstance(patch, dict) or patch.get('op') not in \
                    PATCH_OPS or not isinstance(patch.get('path'), str):
                problems.append(invalid('patches', "each patch needs an op "
                    f"({', '.join(PATCH_OPS)}) and a path"))
                continue
            if patch['path'] != AVAILABILITY:
                continue  # other attributes: accepted, not simulated
            if patch['op'] == 'delete':
                problems.append(invalid('fulfillment_availability',
                    "it cannot be deleted"))
                continue
            value = patch.get('value')
            entries = value if isinstance(value, list) and value else [None]
            for entry in entries:
                channel = entry.get('fulfillment_channel_code') \
                    if isinstance(entry, dict) else None
                if channel != 'DEFAULT':
                    problems.append(invalid('fulfillment_availability',
                        "fulfillment_channel_code must be DEFAULT: the "
                        "seller sets only its own stock"))
                    continue
                if listing.fulfilled_by == 'AMAZON':
                    problems.append(fba_owned(sku))
                    continue
                number = entry.get('quantity')
                if isinstance(number, bool) or not isinstance(number, int) \
                        or number < 0:
                    problems.append(invalid('fulfillment_availability',
                        "quantity must be a whole number >= 0"))
                    continue
                quantity = number
        return quantity, problems

    def _check_seller(self, seller_id: str) -> None:
        if unquote(seller_id) != self.seller_id:
            raise invalid_input(f"Invalid sellerId: {unquote(seller_id)!r}")

    def _check_marketplaces(self, request: Request,
            name: str = 'marketplaceIds') -> list[str]:
        marketplaces = csv_param(request, name)
        if not marketplaces:
            raise invalid_input(f"{name} is required")
        if self.marketplace_id not in marketplaces:
            raise invalid_input(f"{name}: the seller does not sell in "
                f"{', '.join(marketplaces)}")
        return marketplaces

    def http_patchListingsItem(self, request: Request, seller_id: str,
            sku: str) -> Response:
        sku = unquote(sku)
        self._check_seller(seller_id)
        self._check_marketplaces(request)
        body = json_object(request)
        self._settle()
        quantity, problems = self._check_patches(sku,
            body.get('productType'), body.get('patches'))
        preview = request.param('mode') == 'VALIDATION_PREVIEW'
        status = 'INVALID' if problems else (
            'VALID' if preview else 'ACCEPTED')
        if status == 'ACCEPTED' and quantity is not None:
            self._apply_quantity(self._listings[sku], quantity)
        return Response.json({'sku': sku, 'status': status,
                'submissionId': str(uuid.uuid4()), 'issues': problems})

    def http_getListingsItem(self, request: Request, seller_id: str,
            sku: str) -> Response:
        sku = unquote(sku)
        self._check_seller(seller_id)
        self._check_marketplaces(request)
        included = csv_param(request, 'includedData') or ['summaries']
        wrong = [name for name in included if name not in INCLUDED]
        if wrong:
            raise invalid_input(f"includedData: unknown {', '.join(wrong)}")
        self._settle()
        listing = self._listings.get(sku)
        if listing is None:
            return Response.json(errors('NOT_FOUND', f"SKU '{sku}' not "
                    f"found in marketplace {self.marketplace_id}"), 404)
        return Response.json(self._listing_json(listing, included))

    def _listing_json(self, listing: Listing, included) -> dict[str, Any]:
        availability = ([{'fulfillmentChannelCode': FBA_CHANNEL,
                    'quantity': listing.afn_quantity}]
            if listing.fulfilled_by == 'AMAZON'
            else [{'fulfillmentChannelCode': 'DEFAULT',
                    'quantity': listing.quantity}])
        summary = {'marketplaceId': self.marketplace_id,
            'asin': listing.asin, 'productType': 'PRODUCT',
            'conditionType': 'new_new',
            'status': ['BUYABLE', 'DISCOVERABLE'],
            'itemName': listing.title,
            'createdDate': iso_z(listing.created),
            'lastUpdatedDate': iso_z(listing.updated)}
        if listing.fulfilled_by == 'AMAZON':
            summary['fnSku'] = 'X00' + listing.asin[-7:]
        parts = {
            'summaries': [summary],
            'attributes': {
                'item_name': [{'value': listing.title,
                        'marketplace_id': self.marketplace_id}],
                'fulfillment_availability': [{
                    'fulfillment_channel_code': a['fulfillmentChannelCode'],
                    'quantity': a['quantity']} for a in availability]},
            'issues': [],
            'offers': [{'marketplaceId': self.marketplace_id,
                    'offerType': 'B2C', 'price': {
                        'currencyCode': self.currency,
                        'amount': str(listing.price)}}],
            'fulfillmentAvailability': availability,
            }
        return {'sku': listing.sku, **{name: copy.deepcopy(parts[name])
                for name in included}}
