"""Orders of the Amazon shop: stored from drafts, their statuses and
stock, and the routes serving them in both API versions: Orders
2026-01-01 (searchOrders, getOrder) and Orders v0 (getOrders, getOrder,
getOrderItems).

One record per order, kept in the 2026-01-01 shape with every dataset
(buyer, recipient, proceeds, fulfillment, packages): searchOrders serves
it as kept (less what Amazon hides: a pending order's address, an FBA
order's packages and buyer e-mail), and v0 is written from it, with the
PII a Restricted Data Token grants. So a change, a corruption or a
``raw`` override shows in both versions."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import sys
from bisect import bisect_left, bisect_right
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from .. import generator
from ..generator import Draft, DraftLine
from ..shop import HUGE_PRICE, HUGE_QUANTITY, _merge, deep
from ..web import Request, Response, iso_z
from .catalog import Listing
from .model import (
    CHANNELS,
    GENERIC,
    INVOICE_UNCONFIRMED,
    MARKETPLACES,
    NO_ADDRESS,
    SERVICE_LEVEL,
    STATUSES,
    V0_ADDRESS,
    V0_STATUSES,
    PageTokens,
    amazon_order_id,
    asin,
    csv_param,
    int_param,
    invalid_input,
    money,
    not_found,
    time_param,
    upper_bound,
    v0_money,
)

V0_WORDS = {word: status for status, word in V0_STATUSES.items()}
CARRIERS = {'US': 'USPS', 'CA': 'Canada Post', 'GB': 'Royal Mail',
    'DE': 'DHL', 'FR': 'Colissimo', 'CN': 'SF Express'}
BREAKDOWNS = ('ITEM', 'DISCOUNT', 'SHIPPING', 'TAX')
ITEMS_PAGE = 20      # getOrderItems' page (unconfirmed)
V0_ADDRESS_KEYS = {'name': 'Name', 'companyName': 'CompanyName',
    'addressLine1': 'AddressLine1', 'addressLine2': 'AddressLine2',
    'city': 'City', 'stateOrRegion': 'StateOrRegion',
    'postalCode': 'PostalCode', 'countryCode': 'CountryCode',
    'phone': 'Phone'}
# What Orders v0 serves of the address without an RDT
V0_RESTRICTED_KEYS = ('City', 'StateOrRegion', 'PostalCode', 'CountryCode')
SEARCH_NAMES = {
    False: {'marketplaces': 'marketplaceIds', 'created': 'createdAfter',
        'created_before': 'createdBefore', 'updated': 'lastUpdatedAfter',
        'updated_before': 'lastUpdatedBefore',
        'statuses': 'fulfillmentStatuses', 'channels': 'fulfilledBy',
        'size': 'maxResultsPerPage'},
    True: {'marketplaces': 'MarketplaceIds', 'created': 'CreatedAfter',
        'created_before': 'CreatedBefore', 'updated': 'LastUpdatedAfter',
        'updated_before': 'LastUpdatedBefore', 'statuses': 'OrderStatuses',
        'channels': 'FulfillmentChannels', 'size': 'MaxResultsPerPage'},
    }


@dataclasses.dataclass(frozen=True)
class Search:
    "A searchOrders / getOrders query, remembered behind its page token"
    v0: bool
    by: str                         # 'updated' or 'created'
    after: dt.datetime
    before: dt.datetime             # inclusive
    marketplaces: frozenset[str]
    statuses: frozenset[str]        # in the version's words; empty: all
    channels: frozenset[str]        # MERCHANT / AMAZON; empty: both
    size: int
    last: tuple[dt.datetime, int] | None = None   # last one served


def _int(value: Any) -> int:
    "A quantity as a sum may count it (a corrupted one counts 0)"
    return value if isinstance(value, int) and not isinstance(
        value, bool) else 0


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _breakdowns(proceeds: dict[str, Any] | None) -> dict[str, dict]:
    "A proceeds' breakdowns by type"
    return {b.get('type'): b.get('subtotal') or {}
        for b in (proceeds or {}).get('breakdowns') or []
        if isinstance(b, dict)}


class Orders:
    "The shop's orders (a part of AmazonShop)"

    def _init_orders(self) -> None:
        self._next_number = 1
        self._next_item = 10**13
        self._numbers: dict[str, int] = {}
        self._created: dict[int, dt.datetime] = {}
        self._stock_taken: dict[int, dict[str, int]] = {}
        self._invoice_unconfirmed: set[int] = set()
        self._page_tokens = PageTokens()
        # Set by create_order for the order being stored
        self._fulfilled_by: str | None = None

    # -- Python API ----------------------------------------------------

    def create_order(self, *, status: str | None = None,
            raw: dict[str, Any] | None = None,
            **overrides: Any) -> dict[str, Any]:
        """Shop.create_order; raw={'fulfillment': {'fulfilledBy':
        'AMAZON'}} makes an FBA (AFN) order, SHIPPED unless a status is
        given, whose goods are Amazon's, not the seller's DEFAULT stock"""
        fulfilled_by = ((raw or {}).get('fulfillment') or {}).get(
            'fulfilledBy')
        if fulfilled_by not in (None, *CHANNELS):
            raise ValueError("fulfilledBy must be MERCHANT or AMAZON")
        if fulfilled_by == 'AMAZON' and status is None:
            status = 'SHIPPED'
        with self.lock:
            self._fulfilled_by = fulfilled_by
            try:
                return super().create_order(status=status, raw=raw,
                    **overrides)
            finally:
                self._fulfilled_by = None

    def create_fba_order(self, **overrides: Any) -> dict[str, Any]:
        "create_order for an order Amazon fulfils (FBA, AFN)"
        raw = copy.deepcopy(overrides.pop('raw', None) or {})
        _merge(raw, {'fulfillment': {'fulfilledBy': 'AMAZON'}})
        return self.create_order(raw=raw, **overrides)

    def request_cancellation(self, order_id: int | str,
            reason: str = 'Changed my mind') -> dict[str, Any]:
        """The buyer asks to cancel: each item shows the request (v2026
        cancellation.cancellationRequest, v0 BuyerRequestedCancel)"""
        with self.lock:
            number = self._lookup(order_id)
            for item in self._orders[number]['orderItems']:
                item.setdefault('cancellation', {})['cancellationRequest'] \
                    = {'requester': 'BUYER', 'cancelReason': reason}
            self._bump(number)
            return self._as_served(number)

    def cancel(self, order_id: int | str,
            reason: str = 'Buyer requested cancellation') -> dict[str, Any]:
        """The seller cancels the order (its MFN goods go back on the
        shelf); items a buyer asked to cancel record who did it"""
        with self.lock:
            number = self._lookup(order_id)
            for item in self._orders[number]['orderItems']:
                if 'cancellation' in item:
                    item['cancellation']['cancellationExecution'] = {
                        'cancelledBy': 'MERCHANT', 'cancelReason': reason}
            self._apply_status(number, 'CANCELLED', self.now())
            self._bump(number)
            return self._as_served(number)

    def order_id(self, raw: dict[str, Any]) -> str:
        """The orderId (AmazonOrderId) of a served order, of either
        version, wrapped ({"order"}/{"payload"}) or not"""
        for wrapper in ('order', 'payload'):
            if isinstance(raw.get(wrapper), dict):
                raw = raw[wrapper]
        return raw.get('orderId') or raw['AmazonOrderId']

    def order_v0(self, order_id: int | str,
            pii: bool = True) -> dict[str, Any]:
        "The order as Orders v0 getOrder serves it (with an RDT: pii)"
        with self.lock:
            return self._v0_order(self._lookup(order_id), self._pii(pii))

    def order_items_v0(self, order_id: int | str) -> list[dict[str, Any]]:
        "Its items as Orders v0 getOrderItems serves them, all pages"
        with self.lock:
            number = self._lookup(order_id)
            return [self._v0_item(number, item) for item in
                self._orders[number]['orderItems']]

    @staticmethod
    def _pii(full: bool) -> frozenset[str]:
        return frozenset({'buyerInfo', 'shippingAddress'} if full else ())

    # -- the Shop hooks --------------------------------------------------

    def _id_of(self, raw: dict[str, Any]) -> int:
        return self._numbers[self.order_id(raw)]

    def _lookup(self, order_id: int | str) -> int:
        "The number of an order given by orderId or number"
        text = str(order_id)
        number = int(text) if text.isdigit() else self._numbers.get(text, 0)
        if number not in self._orders:
            raise KeyError(f"{self.name}: no order {order_id}")
        return number

    def _write_updated(self, raw: dict[str, Any],
            updated: dt.datetime) -> None:
        raw['lastUpdatedTime'] = iso_z(updated)

    def _as_served(self, number: int) -> dict[str, Any]:
        "The order as getOrder serves it (a copy)"
        record = self._orders[number]
        view = copy.deepcopy(record)
        fulfillment = record.get('fulfillment') or {}
        if fulfillment.get('fulfillmentStatus') in NO_ADDRESS:
            view.pop('recipient', None)
        if fulfillment.get('fulfilledBy') == 'AMAZON':
            # Packages and the buyer's e-mail: merchant-fulfilled only
            view.pop('packages', None)
            if isinstance(view.get('buyer'), dict):
                view['buyer'].pop('buyerEmail', None)
        return view

    def _status_word(self, status: str) -> str:
        "The 2026 status (or InvoiceUnconfirmed) of a generic or Amazon word"
        word = GENERIC.get(status) or V0_WORDS.get(status) or status
        if word not in STATUSES and word != INVOICE_UNCONFIRMED:
            raise ValueError(f"unknown Amazon order status {status!r}")
        return word

    def _set_status(self, order_id: int, status: str) -> None:
        self._apply_status(order_id, self._status_word(status), self.now())

    def _store(self, draft: Draft, now: dt.datetime) -> int:
        number = self._next_number
        self._next_number += 1
        order_id = amazon_order_id(number)
        fulfilled_by = self._fulfilled_by or ('AMAZON' if draft.lines
            and all(isinstance(line.ref, Listing)
                and line.ref.fulfilled_by == 'AMAZON' for line in draft.lines)
            else 'MERCHANT')
        currency = draft.currency
        person, place = draft.customer, draft.address
        items = [self._item(line, currency, draft.tax_rate,
                draft.shipping_price if n == 0 else None)
            for n, line in enumerate(draft.lines)]
        totals = {kind: sum((_decimal(_breakdowns(i['proceeds']).get(
                    kind, {}).get('amount', 0)) for i in items), Decimal(0))
            for kind in BREAKDOWNS}
        address = {'name': f'{person.first_name} {person.last_name}',
            'companyName': place.company, 'addressLine1': place.address1,
            'addressLine2': place.address2, 'city': place.city,
            'stateOrRegion': place.province, 'postalCode': place.zip,
            'countryCode': place.country, 'phone': person.phone,
            'addressType': 'COMMERCIAL' if place.company else 'RESIDENTIAL'}
        name, domain = MARKETPLACES.get(self.marketplace_id,
            (self.marketplace_id, 'marketplace.amazon.com'))
        alias = hashlib.sha1(person.email.encode()).hexdigest()[:15]
        created = draft.created_at
        record: dict[str, Any] = {
            'orderId': order_id,
            'createdTime': iso_z(created),
            'lastUpdatedTime': iso_z(draft.updated_at),
            'programs': [],
            'salesChannel': {'channelName': 'AMAZON',
                'marketplaceId': self.marketplace_id,
                'marketplaceName': name},
            'buyer': {'buyerName': f'{person.first_name} {person.last_name}',
                'buyerEmail': f'{alias}@{domain}'},
            'recipient': {'deliveryAddress': {k: v for k, v in
                    address.items() if v is not None}},
            'proceeds': {
                'grandTotal': money(sum(totals.values(), Decimal(0)),
                    currency),
                'breakdowns': [{'type': kind,
                        'subtotal': money(totals[kind], currency)}
                    for kind in BREAKDOWNS
                    if kind != 'DISCOUNT' or totals[kind]]},
            'fulfillment': {'fulfillmentStatus': 'PENDING',
                'fulfilledBy': fulfilled_by,
                'fulfillmentServiceLevel': SERVICE_LEVEL,
                'shipByWindow': {'earliestDateTime': iso_z(created),
                    'latestDateTime': iso_z(created + dt.timedelta(days=2))},
                'deliverByWindow': {
                    'earliestDateTime': iso_z(created + dt.timedelta(days=3)),
                    'latestDateTime': iso_z(created
                        + dt.timedelta(days=7))}},
            'orderItems': items,
            'packages': [],
            }
        self._orders[number] = record
        self._numbers[order_id] = number
        self._created[number] = created
        self._index_order(number, draft.updated_at)
        self._apply_status(number, self._status_word(draft.status),
            draft.updated_at)
        return number

    def _item(self, line: DraftLine, currency: str, tax_rate: Decimal,
            shipping: Decimal | None) -> dict[str, Any]:
        """An order item; the order's shipping is charged on its first
        item (v0 ShippingPrice, 2026 a SHIPPING breakdown)"""
        listing: Listing | None = line.ref
        self._next_item += 1
        gross = generator.cents(line.unit_price * line.quantity)
        discount = generator.cents(line.discount * line.quantity)
        tax = generator.cents((gross - discount) * tax_rate)
        amounts = {'ITEM': gross, 'DISCOUNT': -discount,
            'SHIPPING': shipping, 'TAX': tax}
        parts = [{'type': kind, 'subtotal': money(amounts[kind], currency)}
            for kind in BREAKDOWNS if amounts[kind] is not None
            and (kind != 'DISCOUNT' or discount)]
        product: dict[str, Any] = {
            'asin': listing.asin if listing else asin(self.seller_id,
                line.sku or line.title),
            'title': line.title, 'sellerSku': line.sku,
            'condition': {'conditionType': 'NEW', 'conditionSubtype': 'NEW'},
            'price': {'unitPrice': money(line.unit_price, currency)}}
        if not line.sku:
            del product['sellerSku']
        return {'orderItemId': str(self._next_item),
            'quantityOrdered': line.quantity, 'product': product,
            'proceeds': {'proceedsTotal': money(sum((_decimal(
                                p['subtotal']['amount']) for p in parts),
                            Decimal(0)), currency),
                'breakdowns': parts},
            'fulfillment': {'quantityFulfilled': 0,
                'quantityUnfulfilled': line.quantity}}

    def _apply_status(self, number: int, word: str,
            when: dt.datetime) -> None:
        record = self._orders[number]
        if word == INVOICE_UNCONFIRMED:
            self._invoice_unconfirmed.add(number)
            word = 'SHIPPED'
        else:
            self._invoice_unconfirmed.discard(number)
        record['fulfillment']['fulfillmentStatus'] = word
        if word == 'SHIPPED':
            self._ship_rest(number, when)
        self._sync_stock(number)

    def _ship_rest(self, number: int, when: dt.datetime) -> None:
        """Everything left to ship goes: in one package of the seller's
        carrier (MFN) or Amazon's (AFN: no package is shown)"""
        record = self._orders[number]
        left = [(item, _int(item['fulfillment']['quantityUnfulfilled']))
            for item in record['orderItems']]
        left = [(item, quantity) for item, quantity in left if quantity > 0]
        if not left:
            return
        if record['fulfillment'].get('fulfilledBy') != 'AMAZON':
            country = (record.get('recipient') or {}).get(
                'deliveryAddress', {}).get('countryCode', 'US')
            reference = str(len(record['packages']) + 1)
            record['packages'].append({
                'packageReferenceId': reference,
                'createdTime': iso_z(when),
                'packageStatus': {'status': 'IN_TRANSIT'},
                'carrier': CARRIERS.get(country, 'Other'),
                'shipTime': iso_z(when),
                'trackingNumber': f'9400{number:012d}{reference:0>6}',
                'packageItems': [{'orderItemId': item['orderItemId'],
                        'quantity': quantity} for item, quantity in left]})
        for item, quantity in left:
            self._fulfil(item, quantity)

    @staticmethod
    def _fulfil(item: dict[str, Any], quantity: int) -> None:
        "Units of an item shipped (negative: unshipped again)"
        fulfillment = item['fulfillment']
        fulfillment['quantityFulfilled'] = _int(
            fulfillment['quantityFulfilled']) + quantity
        fulfillment['quantityUnfulfilled'] = _int(
            fulfillment['quantityUnfulfilled']) - quantity

    def _sync_stock(self, number: int) -> None:
        """An MFN order holds its goods off the shelf from its arrival
        until it is cancelled (Amazon reserves a pending order's units)"""
        fulfillment = self._orders[number]['fulfillment']
        wanted = fulfillment.get('fulfilledBy') != 'AMAZON' and \
            fulfillment['fulfillmentStatus'] not in ('CANCELLED',
                'UNFULFILLABLE')
        taken = self._stock_taken.get(number)
        if wanted and taken is None:
            taken = self._stock_taken[number] = {}
            for item in self._orders[number]['orderItems']:
                sku = item['product'].get('sellerSku')
                units = self._take_stock(sku, _int(item['quantityOrdered']))
                if units:
                    taken[sku] = taken.get(sku, 0) + units
        elif not wanted and taken is not None:
            for sku, units in self._stock_taken.pop(number).items():
                self._take_stock(sku, -units)

    def _corrupt(self, raw: dict[str, Any], kind: str) -> None:
        item = raw['orderItems'][0]
        if kind == 'missing_currency':
            moneys = [raw['proceeds']['grandTotal'],
                *(b['subtotal'] for b in raw['proceeds']['breakdowns'])]
            for each in raw['orderItems']:
                moneys += [each['product']['price']['unitPrice'],
                    each['proceeds']['proceedsTotal'],
                    *(b['subtotal'] for b in each['proceeds']['breakdowns'])]
            for value in moneys:
                value.pop('currencyCode', None)
        elif kind == 'missing_total':
            raw['proceeds']['grandTotal'].pop('amount', None)
        elif kind == 'bad_date':
            raw['createdTime'] = '22/03/2017 19:28'
        elif kind == 'bad_quantity':
            item['quantityOrdered'] = -1
            item['fulfillment']['quantityUnfulfilled'] = -1
        elif kind == 'nul_note':
            raw['buyer']['buyerName'] = 'gift\x00wrap'
            item['product']['title'] += '\x00'
        elif kind == 'huge_quantity':
            item['quantityOrdered'] = HUGE_QUANTITY
            item['fulfillment']['quantityUnfulfilled'] = HUGE_QUANTITY
        elif kind == 'huge_price':
            item['product']['price']['unitPrice']['amount'] = HUGE_PRICE
            for part in item['proceeds']['breakdowns']:
                if part['type'] == 'ITEM':
                    part['subtotal']['amount'] = HUGE_PRICE
        elif kind == 'deep_payload':
            item['product']['customization'] = {'customizedUrl': '',
                'customizedData': deep(100)}

    # -- Orders v0's shape -----------------------------------------------

    def _v0_order(self, number: int, pii: frozenset[str]) -> dict[str, Any]:
        record = self._orders[number]
        fulfillment = record.get('fulfillment') or {}
        status = V0_STATUSES.get(fulfillment.get('fulfillmentStatus'),
            fulfillment.get('fulfillmentStatus'))
        if status == 'Shipped' and number in self._invoice_unconfirmed:
            status = INVOICE_UNCONFIRMED
        items = record.get('orderItems') or []
        channel = record.get('salesChannel') or {}
        ship_by = fulfillment.get('shipByWindow') or {}
        deliver_by = fulfillment.get('deliverByWindow') or {}
        order: dict[str, Any] = {
            'AmazonOrderId': record.get('orderId'),
            'SellerOrderId': record.get('orderId'),
            'PurchaseDate': record.get('createdTime'),
            'LastUpdateDate': record.get('lastUpdatedTime'),
            'OrderStatus': status,
            'FulfillmentChannel': CHANNELS.get(
                fulfillment.get('fulfilledBy'), 'MFN'),
            'SalesChannel': channel.get('marketplaceName'),
            'ShipServiceLevel': 'Standard',
            'OrderTotal': v0_money((record.get('proceeds') or {}).get(
                    'grandTotal')),
            'NumberOfItemsShipped': sum(_int((i.get('fulfillment') or {})
                    .get('quantityFulfilled')) for i in items),
            'NumberOfItemsUnshipped': sum(_int((i.get('fulfillment') or {})
                    .get('quantityUnfulfilled')) for i in items),
            'PaymentMethod': 'Other', 'PaymentMethodDetails': ['Standard'],
            'IsReplacementOrder': False,
            'MarketplaceId': channel.get('marketplaceId'),
            'ShipmentServiceLevelCategory': 'Standard',
            'OrderType': 'StandardOrder',
            'EarliestShipDate': ship_by.get('earliestDateTime'),
            'LatestShipDate': ship_by.get('latestDateTime'),
            'EarliestDeliveryDate': deliver_by.get('earliestDateTime'),
            'LatestDeliveryDate': deliver_by.get('latestDateTime'),
            'IsBusinessOrder': False,
            'IsPrime': 'PRIME' in (record.get('programs') or []),
            'IsGlobalExpressEnabled': False, 'IsPremiumOrder': False,
            'IsSoldByAB': False, 'IsIBA': False, 'IsISPU': False,
            'IsAccessPointOrder': False,
            'AutomatedShippingSettings': {
                'HasAutomatedShippingSettings': False},
            'ElectronicInvoiceStatus': 'NotRequired',
            }
        address = (record.get('recipient') or {}).get('deliveryAddress')
        if isinstance(address, dict) and status in V0_ADDRESS:
            full = {V0_ADDRESS_KEYS[k]: v for k, v in address.items()
                if k in V0_ADDRESS_KEYS}
            if address.get('addressType'):
                full['AddressType'] = address['addressType'].title()
            order['ShippingAddress'] = full if 'shippingAddress' in pii \
                else {k: v for k, v in full.items()
                    if k in V0_RESTRICTED_KEYS}
        buyer = record.get('buyer') or {}
        info = {'BuyerEmail': buyer.get('buyerEmail')}
        if 'buyerInfo' in pii:
            info['BuyerName'] = buyer.get('buyerName')
        order['BuyerInfo'] = {k: v for k, v in info.items() if v is not None}
        return order

    def _v0_item(self, number: int, item: dict[str, Any]) -> dict[str, Any]:
        product = item.get('product') or {}
        unit = (product.get('price') or {}).get('unitPrice') or {}
        currency = unit.get('currencyCode') or (
            self._orders[number]['proceeds'].get('grandTotal') or {}).get(
            'currencyCode', '')
        parts = _breakdowns(item.get('proceeds'))
        zero = {'amount': '0.00', 'currencyCode': currency}
        discount = dict(parts.get('DISCOUNT') or zero)
        discount['amount'] = str(-_decimal(discount.get('amount')))
        line: dict[str, Any] = {
            'ASIN': product.get('asin'),
            'OrderItemId': item.get('orderItemId'),
            'SellerSKU': product.get('sellerSku'),
            'Title': product.get('title'),
            'QuantityOrdered': item.get('quantityOrdered'),
            'QuantityShipped': (item.get('fulfillment') or {}).get(
                'quantityFulfilled', 0),
            'ProductInfo': {'NumberOfItems': '1'},
            # The line's total (unit price × quantity), as v0 serves it
            'ItemPrice': v0_money(parts.get('ITEM')),
            'ShippingPrice': v0_money(parts.get('SHIPPING') or zero),
            'ItemTax': v0_money(parts.get('TAX') or zero),
            'ShippingTax': v0_money(zero),
            'PromotionDiscount': v0_money(discount),
            'IsGift': 'false', 'ConditionId': 'New',
            'ConditionSubtypeId': 'New', 'IsTransparency': False,
            'SerialNumberRequired': False,
            }
        request = (item.get('cancellation') or {}).get('cancellationRequest')
        if request:
            line['BuyerRequestedCancel'] = {'IsBuyerRequestedCancel': 'true',
                'BuyerCancelReason': request.get('cancelReason', '')}
        custom = product.get('customization')
        if isinstance(custom, dict):
            rest = {k: v for k, v in custom.items() if k != 'customizedUrl'}
            line['BuyerInfo'] = {'BuyerCustomizedInfo': {
                    'CustomizedURL': custom.get('customizedUrl', ''), **rest}}
        return {k: v for k, v in line.items() if v is not None}

    # -- searching -------------------------------------------------------

    def _search(self, request: Request, v0: bool) -> Search:
        "The query of searchOrders (v0: getOrders), checked as Amazon does"
        names = SEARCH_NAMES[v0]
        marketplaces = csv_param(request, names['marketplaces'])
        if not marketplaces:
            raise invalid_input(f"{names['marketplaces']} is required")
        created = time_param(request, names['created'])
        updated = time_param(request, names['updated'])
        if (created is None) == (updated is None):
            raise invalid_input(f"Exactly one of {names['created']} and "
                f"{names['updated']} must be given")
        by = 'created' if created is not None else 'updated'
        other = names['updated_before' if by == 'created'
            else 'created_before']
        if request.param(other):
            raise invalid_input(f"{other} cannot be given with "
                f"{names[by]}")
        after = created if created is not None else updated
        before = upper_bound(request, names[f'{by}_before'],
            self._latest_now(), self.settle_s)
        if after > before:
            raise invalid_input(f"{names[by]} must be before "
                f"{names[f'{by}_before']}")
        statuses = csv_param(request, names['statuses'])
        known = (*V0_WORDS, INVOICE_UNCONFIRMED) if v0 else STATUSES
        wrong = [s for s in statuses if s not in known]
        if wrong:
            raise invalid_input(f"{names['statuses']}: unknown "
                f"{', '.join(wrong)}")
        channels = csv_param(request, names['channels'])
        words = {v: k for k, v in CHANNELS.items()} if v0 else {
            k: k for k in CHANNELS}
        if any(c not in words for c in channels):
            raise invalid_input(f"{names['channels']} must be "
                + ' or '.join(words))
        return Search(v0, by, after, before, frozenset(marketplaces),
            frozenset(statuses), frozenset(words[c] for c in channels),
            int_param(request, names['size'], 100, 1, 100))

    def _latest_now(self) -> dt.datetime:
        """Now, or the newest lastUpdatedTime when later: each change
        moves an order a second on (Shop._bump), maybe past the clock,
        and an order is never out of reach of a search made after it"""
        now = self.now()
        return max(now, self._index[-1][0]) if self._index else now

    def _status_of(self, number: int, v0: bool) -> str | None:
        status = self._orders[number]['fulfillment'].get('fulfillmentStatus')
        if not v0:
            return status
        if status == 'SHIPPED' and number in self._invoice_unconfirmed:
            return INVOICE_UNCONFIRMED
        return V0_STATUSES.get(status)

    def _matches(self, number: int, search: Search) -> bool:
        record = self._orders[number]
        if search.by == 'created' and not (
                search.after <= self._created[number] <= search.before):
            return False
        if (record.get('salesChannel') or {}).get('marketplaceId') \
                not in search.marketplaces:
            return False
        if search.channels and record['fulfillment'].get(
                'fulfilledBy') not in search.channels:
            return False
        return not search.statuses or self._status_of(
            number, search.v0) in search.statuses

    def _page(self, search: Search) -> tuple[list[int], Search | None]:
        """One page of the search, by (last update, id) ascending; the
        search to resume from when more match"""
        if search.last is not None:
            # duplicate_pages: the next page starts with the last one
            find = bisect_left if self.faults.duplicate_pages \
                else bisect_right
            start = find(self._index, search.last)
        elif search.by == 'updated':
            start = bisect_left(self._index, (search.after, 0))
        else:
            start = 0
        stop = (search.before, sys.maxsize) if search.by == 'updated' \
            else None
        found: list[int] = []
        last = None
        for key in self._iter_from(start, stop):
            if not self._matches(key[1], search):
                continue
            if len(found) == search.size:
                return found, dataclasses.replace(search, last=last)
            found.append(key[1])
            last = key
        return found, None

    def _search_page(self, request: Request, v0: bool,
            token_name: str) -> tuple[Search, list[int], str | None]:
        token = request.param(token_name)
        now = self.now()
        search = (self._page_tokens.take(token, now, token_name)
            if token else self._search(request, v0))
        numbers, more = self._page(search)
        next_token = self._page_tokens.issue(more, now) if more else None
        return search, numbers, next_token

    # -- routes ----------------------------------------------------------

    def _number(self, order_id: str) -> int:
        number = self._numbers.get(unquote(order_id))
        if number is None:
            raise not_found(f"Order {unquote(order_id)} was not found")
        return number

    def http_searchOrders(self, request: Request) -> Response:
        search, numbers, token = self._search_page(request, False,
            'paginationToken')
        body: dict[str, Any] = {
            'orders': [self._as_served(n) for n in numbers]}
        if token:
            body['pagination'] = {'nextToken': token}
        key = 'lastUpdatedBefore' if search.by == 'updated' \
            else 'createdBefore'
        body[key] = iso_z(search.before)
        return Response.json(body)

    def http_getOrder(self, request: Request, order_id: str) -> Response:
        return Response.json(
            {'order': self._as_served(self._number(order_id))})

    def http_getOrders(self, request: Request) -> Response:
        search, numbers, token = self._search_page(request, True,
            'NextToken')
        pii = request.extra.get('pii', frozenset())
        payload: dict[str, Any] = {
            'Orders': [self._v0_order(n, pii) for n in numbers]}
        if token:
            payload['NextToken'] = token
        key = 'LastUpdatedBefore' if search.by == 'updated' \
            else 'CreatedBefore'
        payload[key] = iso_z(search.before)
        return Response.json({'payload': payload})

    def http_getOrderV0(self, request: Request, order_id: str) -> Response:
        return Response.json({'payload': self._v0_order(
                    self._number(order_id),
                    request.extra.get('pii', frozenset()))})

    def http_getOrderItems(self, request: Request,
            order_id: str) -> Response:
        "ITEMS_PAGE items a page, NextToken null on the last"
        number = self._number(order_id)
        token = request.param('NextToken')
        now = self.now()
        start = 0
        if token:
            token_number, start = self._page_tokens.take(token, now,
                'NextToken')
            if token_number != number:
                raise invalid_input("NextToken belongs to another order")
        items = self._orders[number]['orderItems']
        page = items[start:start + ITEMS_PAGE]
        more = start + ITEMS_PAGE < len(items)
        return Response.json({'payload': {
                    'AmazonOrderId': self._orders[number]['orderId'],
                    'OrderItems': [self._v0_item(number, item)
                        for item in page],
                    'NextToken': self._page_tokens.issue(
                        (number, start + ITEMS_PAGE), now) if more
                        else None}})

