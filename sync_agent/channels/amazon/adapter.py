"""The Amazon adapter: all of the Selling Partner API's HTTP detail
(marketplace-apis.md §3), with its parts: ``auth`` (Login with Amazon,
Restricted Data Tokens), ``limits`` (a token bucket per operation; an
orders scan pauses rather than wait minutes for its next call) and
``listings`` (stock).

- Every call goes through its operation's bucket with the access token,
  fetched again once when a call says it expired.
- Orders: Orders API v2026-01-01 ``searchOrders`` (items inside), or v0
  ``getOrders`` + ``getOrderItems`` per order, by ``settings.orders_api``;
  the window ends ``settle_seconds`` before now, as the API demands.
  A scan paused by the rate limit resumes from its pagination token.
- Shipments: ``confirmShipment`` per parcel, whose ``packageReferenceId``
  is the fulfilment's idempotency key (Amazon edits a package confirmed
  again rather than adding one), after reading the order's packages.
- Refunds: Finances API refund events, by ``PostedAfter``. Amazon takes no
  refund from the agent: staff refund in Seller Central.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field

from ..base import (
    Adapter,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    ReturnPage,
)
from ..payload import PayloadError, utc
from ..transport import AuthError, ChannelError, RateLimiter, json_body
from . import limits
from .auth import LWA_URL, LoginWithAmazon
from .listings import Listings
from .mapper import KIND, unwrap

logger = logging.getLogger(__name__)


class AmazonSettings(BaseModel):
    "The `settings:` of an Amazon channel (none of them secret)"
    model_config = ConfigDict(extra='forbid')

    seller_id: Annotated[str, Field(min_length=1)]
    marketplace_ids: Annotated[list[str], Field(min_length=1)]
    # v0 is deprecated (to be retired 2027-03-27) but what many run
    orders_api: Literal['2026-01-01', 'v0'] = '2026-01-01'
    lwa_url: Annotated[str, Field(pattern=r'^https?://')] = LWA_URL
    # How far before now a search window ends: the API refuses less than
    # two minutes (only a sandbox may take less).
    settle_seconds: Annotated[float, Field(ge=0)] = 120
    # How often a stock feed's processing is polled, and for how long
    feed_poll_seconds: Annotated[float, Field(gt=0)] = 30
    feed_timeout: Annotated[float, Field(gt=0)] = 1800
    # How far back a first scan of refunds reads
    refunds_backfill_days: Annotated[int, Field(ge=1, le=730)] = 30


# Amazon's carrier codes for confirmShipment (the list is unconfirmed:
# §3.5); any other carrier is sent as Other with its name.
CARRIER_CODES = frozenset({
    'UPS', 'USPS', 'FedEx', 'DHL', 'DHL eCommerce', 'Royal Mail',
    'Parcelforce', 'DPD', 'GLS', 'Hermes', 'Evri', 'TNT',
    'Deutsche Post', 'La Poste', 'Colissimo', 'Chronopost', 'Poste Italiane',
    'Correos', 'PostNL', 'Canada Post', 'Australia Post', 'Japan Post',
    'Yamato Transport', 'Sagawa Express', 'China Post', 'SF Express',
    'Yanwen', '4PX', 'Amazon Shipping'})


class Answer(NamedTuple):
    "A successful answer: its JSON body (None for 204) and headers"
    body: Any
    headers: Mapping[str, str]


class Scan(NamedTuple):
    "Where a paused orders scan resumes"
    since: dt.datetime | None
    token: str


def amazon_time(value: dt.datetime) -> str:
    "ISO 8601 in UTC with Z, as the API's examples write it"
    return value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


class AmazonAdapter(Listings, LoginWithAmazon, Adapter):
    kind = KIND
    # Amazon reports refunds (Finances API) but takes none from an app
    # (§3.6); no compare-and-set on listings; returns come by report only.
    capabilities = frozenset({'refund_reports'})
    sorted_by_update = False  # unconfirmed order of searchOrders' results
    default_page_size = 100
    Settings = AmazonSettings
    settings: AmazonSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.api = self.config.base_url.rstrip('/')
        self.page_size = min(self.page_size, 100)
        self.buckets = limits.buckets()
        self._scan: Scan | None = None
        # SKU → {'product_type': …, 'fba': bool}: read once, kept
        self.listings: dict[str, dict[str, Any]] = self.load_cache(
            'listings')

    # -- HTTP -------------------------------------------------------------

    def request(self, operation: str, method: str, path: str, *,
            rdt: bool = False, **kwargs: Any) -> Answer:
        """One SP-API call through its operation's bucket; the access token
        fetched again once when Amazon says it expired"""
        for attempt in (1, 2):
            bucket = self.buckets[operation]
            limits.take(operation, bucket)
            token = self.restricted_token() if rdt else self.access_token()
            try:
                return self.transport.call(
                    method, self.api + path, self._reader(bucket),
                    throttle_wait=limits.throttle_wait(operation, bucket),
                    headers={'x-amz-access-token': token,
                        'user-agent': 'oms-sync/1.0 (Language=Python)'},
                    **kwargs)
            except AuthError as error:
                if attempt == 2 or 'expired' not in str(error).lower():
                    raise
                logger.info("%s: the access token expired early: "
                    "fetched again", self, extra={'channel': self.config.code})
                self.forget_tokens()
        raise AssertionError("unreachable")

    def _reader(self, bucket: RateLimiter) -> Callable[[requests.Response],
            Answer]:
        def read(response: requests.Response) -> Answer:
            limits.adopt_rate(bucket, response)
            if response.status_code == 204:
                return Answer(None, response.headers)
            if response.ok:
                return Answer(json_body(response), response.headers)
            raise ChannelError(
                f"HTTP {response.status_code} {error_text(response)}")
        return read

    # -- Orders -----------------------------------------------------------

    def fetch_orders(self, since: dt.datetime | None
            ) -> Iterator[OrderPage]:
        """Pages of orders changed since `since` up to settle_seconds ago.
        A scan paused by the rate limit (ScanPaused) resumes from its
        pagination token when asked again from the same `since`."""
        token = None
        if self._scan is not None and self._scan.since == since:
            token = self._scan.token
        self._scan = None
        pages = (self._v0_pages if self.settings.orders_api == 'v0'
            else self._search_pages)
        for page, next_token in pages(since, token):
            # Remembered before the page is handed on: a pause while the
            # next page is asked for resumes after this one.
            self._scan = Scan(since, next_token) if next_token else None
            yield page
            if not next_token:
                return

    def next_orders_call(self) -> dt.datetime | None:
        operation = ('getOrders' if self.settings.orders_api == 'v0'
            else 'searchOrders')
        wait = self.buckets[operation].ready_in()
        return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
            ).replace(microsecond=0)

    def _window(self, since: dt.datetime | None, names: tuple[str, str]
            ) -> dict[str, str]:
        "The time filter of a scan: after `since` (else ever), until settled"
        after, before = names
        start = since or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        window = {after: amazon_time(start)}
        if self.settings.settle_seconds:
            # Stated, not left to the API's default (unconfirmed)
            end = dt.datetime.now(dt.UTC) - dt.timedelta(
                seconds=self.settings.settle_seconds)
            window[before] = amazon_time(max(end, start
                    + dt.timedelta(seconds=1)))
        return window

    def _search_pages(self, since: dt.datetime | None, token: str | None
            ) -> Iterator[tuple[OrderPage, str | None]]:
        params: dict[str, Any] = {
            'marketplaceIds': ','.join(self.settings.marketplace_ids),
            'maxResultsPerPage': self.page_size,
            'includedData': 'BUYER,RECIPIENT,PROCEEDS,FULFILLMENT,PACKAGES,'
            'CANCELLATION'}
        params |= self._window(since, ('lastUpdatedAfter',
                'lastUpdatedBefore'))
        while True:
            # The token keeps the other filters server-side.
            asked = {**params, 'paginationToken': token} if token else params
            body = self.request('searchOrders', 'GET',
                '/orders/2026-01-01/orders', params=asked).body
            orders = body.get('orders')
            if not isinstance(orders, list):
                raise ChannelError("searchOrders answered without orders")
            token = (body.get('pagination') or {}).get('nextToken')
            yield OrderPage(orders), token
            if not token:
                return

    def _v0_pages(self, since: dt.datetime | None, token: str | None
            ) -> Iterator[tuple[OrderPage, str | None]]:
        params: dict[str, Any] = {
            'MarketplaceIds': ','.join(self.settings.marketplace_ids),
            'MaxResultsPerPage': self.page_size}
        params |= self._window(since, ('LastUpdatedAfter',
                'LastUpdatedBefore'))
        while True:
            asked = {'MarketplaceIds': params['MarketplaceIds'],
                'NextToken': token} if token else params
            payload = self.request('getOrders', 'GET', '/orders/v0/orders',
                params=asked, rdt=True).body.get('payload') or {}
            orders = payload.get('Orders')
            if not isinstance(orders, list):
                raise ChannelError("getOrders answered without Orders")
            for order in orders:
                self._add_items(order)
            token = payload.get('NextToken')
            yield OrderPage(orders), token
            if not token:
                return

    def _add_items(self, order: dict[str, Any]) -> None:
        """The order's items, inline as OrderItems (getOrderItems, paged).
        Items Amazon will not serve leave the order without them: it is
        held with the reason, and read again at the next scan."""
        order_id = order.get('AmazonOrderId')
        items: list[dict[str, Any]] = []
        token = None
        try:
            while True:
                payload = self.request('getOrderItems', 'GET',
                    f'/orders/v0/orders/{quote(str(order_id), safe="")}'
                    '/orderItems',
                    params={'NextToken': token} if token else None
                    ).body.get('payload') or {}
                items += payload.get('OrderItems') or []
                token = payload.get('NextToken')
                if not token:
                    break
        except ChannelError as error:
            if isinstance(error, AuthError):
                raise
            logger.warning("%s: the items of order %s cannot be read: %s",
                self, order_id, error, extra={'channel': self.config.code})
            return
        order['OrderItems'] = items

    # -- Shipments ----------------------------------------------------------

    def push_fulfilment(self, update: FulfilmentUpdate) -> FulfilmentResult:
        """confirmShipment for the parcel, its packageReferenceId the
        fulfilment's key: not sent when the order shows that package
        already (read with getOrder first). Amazon ships FBA orders itself
        and refuses cancelled ones."""
        path = f'/orders/2026-01-01/orders/{quote(update.order_id, safe="")}'
        try:
            order = unwrap(self.request('getOrder', 'GET', path, params={
                        'includedData': 'FULFILLMENT,PACKAGES'}).body)
        except ChannelError as error:
            if 'HTTP 404' in str(error):
                return FulfilmentResult(error=(
                        f"Amazon has no order {update.order_id}"))
            raise
        fulfillment = order.get('fulfillment') or {}
        if fulfillment.get('fulfilledBy') == 'AMAZON':
            return FulfilmentResult(error=(
                    "fulfilled by Amazon (FBA): Amazon ships it, not marked "
                    "shipped by the seller"))
        if fulfillment.get('fulfillmentStatus') == 'CANCELLED':
            return FulfilmentResult(error=(
                    "the Amazon order is cancelled: not marked shipped"))
        package = _package_reference(update.key)
        if any(p.get('packageReferenceId') == package
                for p in order.get('packages') or []):
            return FulfilmentResult(external_id=package, already=True)
        items, problems = [], []
        by_sku = {(i.get('product') or {}).get('sellerSku'):
            i.get('orderItemId') for i in order.get('orderItems') or []}
        for item in update.items:
            item_id = item.external_id or by_sku.get(item.sku)
            if item_id is None:
                problems.append(f"the Amazon order has no line {item.name}")
            else:
                items.append({'orderItemId': item_id,
                    'quantity': item.quantity})
        if problems:
            return FulfilmentResult(error='; '.join(problems))
        carrier = update.carrier or 'Other'
        shipped = update.shipped_at or dt.datetime.now(dt.UTC)
        detail = {
            'packageReferenceId': package,
            'carrierCode': carrier if carrier in CARRIER_CODES else 'Other',
            'carrierName': carrier,
            'trackingNumber': update.tracking_number or '',
            'shipDate': shipped.astimezone(dt.UTC).strftime(
                '%Y-%m-%dT%H:%M:%S.000Z'),
            'orderItems': items}
        # Sent again after a lost answer, the same package is edited, not
        # added (§3.5): retries are safe.
        self.request('confirmShipment', 'POST',
            f'/orders/v0/orders/{quote(update.order_id, safe="")}'
            '/shipmentConfirmation', json={
                'marketplaceId': (order.get('salesChannel') or {}).get(
                    'marketplaceId') or self.settings.marketplace_ids[0],
                'packageDetail': detail})
        return FulfilmentResult(external_id=package)

    # -- Refunds --------------------------------------------------------------

    def fetch_returns(self, since: dt.datetime | None
            ) -> Iterator[ReturnPage]:
        """Pages of refund events posted since `since` (a first scan: the
        last refunds_backfill_days), from the Finances API"""
        if since is None:
            since = dt.datetime.now(dt.UTC) - dt.timedelta(
                days=self.settings.refunds_backfill_days)
        params: dict[str, Any] = {'MaxResultsPerPage': 100}
        params |= self._window(since, ('PostedAfter', 'PostedBefore'))
        token = None
        while True:
            payload = self.request('listFinancialEvents', 'GET',
                '/finances/v0/financialEvents',
                params={'NextToken': token} if token else params
                ).body.get('payload') or {}
            events = (payload.get('FinancialEvents') or {}).get(
                'RefundEventList') or []
            yield ReturnPage(events, _newest(events))
            token = payload.get('NextToken')
            if not token:
                return


def _package_reference(key: str) -> str:
    "The package's id on Amazon: the fulfilment's idempotency key"
    return key[:40]



def error_text(response: requests.Response) -> str:
    "Amazon's errors[] as `code: message`, else the start of the body"
    try:
        errors = response.json().get('errors') or []
        return '; '.join(f"{e.get('code')}: {e.get('message')}"
            + (f" ({e['details']})" if e.get('details') else '')
            for e in errors) or response.text[:200]
    except (ValueError, AttributeError):
        return response.text[:200]






def _newest(events: list[dict[str, Any]]) -> dt.datetime | None:
    """The latest posting time of a page's events; an unreadable one is
    left to normalize_returns to report"""
    times = []
    for event in events:
        try:
            times.append(utc(event['PostedDate'], 'PostedDate'))
        except (PayloadError, KeyError, TypeError):
            continue
    return max(times) if times else None
