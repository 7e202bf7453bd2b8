"""The Amazon adapter: all of the Selling Partner API's HTTP detail
(marketplace-apis.md §3).

- Auth: a Login with Amazon access token from the seller's refresh token,
  kept until a minute before it expires and fetched again once when a
  call says it expired; Restricted Data Tokens for Orders v0's addresses
  and buyers.
- Rate limits: a token bucket per operation, at Amazon's rate and burst,
  paced by the rate each answer states (``x-amzn-RateLimit-Limit``); a 429
  QuotaExceeded drains the bucket and waits a token's time. The orders
  search allows one call in 3 minutes after a burst of 20: a scan that
  would wait longer than a few seconds pauses (``ScanPaused``) and resumes
  from its pagination token on the next pull.
- Orders: Orders API v2026-01-01 ``searchOrders`` (items inside), or v0
  ``getOrders`` + ``getOrderItems`` per order, by ``settings.orders_api``;
  the window ends ``settle_seconds`` before now, as the API demands.
- Stock: merchant-fulfilled (``DEFAULT``) quantities, by
  ``patchListingsItem`` for a few SKUs, by one ``JSON_LISTINGS_FEED`` when
  that takes fewer calls; a listing's product type is read once
  (``getListingsItem``) and cached. FBA listings are Amazon's to count.
- Shipments: ``confirmShipment`` per parcel, whose ``packageReferenceId``
  is the fulfilment's idempotency key (Amazon edits a package confirmed
  again rather than adding one), after reading the order's packages.
- Refunds: Finances API refund events, by ``PostedAfter``. Amazon takes no
  refund from the agent: staff refund in Seller Central.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict, Field

from oms_contract.models import StockRefusal

from ...logs import masker
from ..base import (
    Adapter,
    FulfilmentResult,
    FulfilmentUpdate,
    OrderPage,
    ReturnPage,
    ScanPaused,
    StockKey,
    StockResult,
    StockUpdate,
    chunks,
)
from ..payload import PayloadError, utc
from ..transport import (
    AuthError,
    ChannelError,
    RateLimiter,
    json_body,
)
from .mapper import KIND, unwrap

logger = logging.getLogger(__name__)

LWA_URL = 'https://api.amazon.com/auth/o2/token'


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


# Amazon's usage plans (§3): (calls a second, burst), per operation
OPERATIONS: dict[str, tuple[float, int]] = {
    'searchOrders': (0.0056, 20),
    'getOrder': (0.5, 30),
    'getOrders': (0.0167, 20),
    'getOrderItems': (0.5, 30),
    'createRestrictedDataToken': (1, 10),
    'patchListingsItem': (5, 5),
    'getListingsItem': (5, 10),
    'createFeedDocument': (0.5, 15),
    'createFeed': (0.0083, 15),
    'getFeed': (2, 15),
    'getFeedDocument': (0.0222, 10),
    'confirmShipment': (2, 10),
    'listFinancialEvents': (0.5, 30),
    }
# An orders scan waits no longer than this for its next call: beyond, it
# pauses and the orders thread serves the other channels.
LONGEST_INLINE_WAIT = 10.0
# A stock feed's calls: create the document, upload it, create the feed,
# poll it once, read the report's document, download the report.
FEED_CALLS = 6
FEED_MESSAGES = 10_000  # up to 25,000 a feed; kept to a size that uploads
# Amazon's carrier codes for confirmShipment (the list is unconfirmed:
# §3.5); any other carrier is sent as Other with its name.
CARRIER_CODES = frozenset({
    'UPS', 'USPS', 'FedEx', 'DHL', 'DHL eCommerce', 'Royal Mail',
    'Parcelforce', 'DPD', 'GLS', 'Hermes', 'Evri', 'TNT',
    'Deutsche Post', 'La Poste', 'Colissimo', 'Chronopost', 'Poste Italiane',
    'Correos', 'PostNL', 'Canada Post', 'Australia Post', 'Japan Post',
    'Yamato Transport', 'Sagawa Express', 'China Post', 'SF Express',
    'Yanwen', '4PX', 'Amazon Shipping'})
RDT_RESOURCE = {'method': 'GET', 'path': '/orders/v0/orders',
    'dataElements': ['buyerInfo', 'shippingAddress']}


class Answer(NamedTuple):
    "A successful answer: its JSON body (None for 204) and headers"
    body: Any
    headers: Mapping[str, str]


class Token(NamedTuple):
    value: str
    expires: float  # monotonic


class Scan(NamedTuple):
    "Where a paused orders scan resumes"
    since: dt.datetime | None
    token: str


def amazon_time(value: dt.datetime) -> str:
    "ISO 8601 in UTC with Z, as the API's examples write it"
    return value.astimezone(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


class AmazonAdapter(Adapter):
    kind = KIND
    # Amazon reports refunds (Finances API) but takes none from an app
    # (§3.6); no compare-and-set on listings; returns come by report only.
    capabilities = frozenset({'refund_reports'})
    sorted_by_update = False  # unconfirmed order of searchOrders' results
    default_page_size = 100
    Settings = AmazonSettings
    stock_batch = FEED_MESSAGES
    settings: AmazonSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.api = self.config.base_url.rstrip('/')
        self.page_size = min(self.page_size, 100)
        self.limits = {operation: RateLimiter(rate, burst)
            for operation, (rate, burst) in OPERATIONS.items()}
        self._token: Token | None = None
        self._rdt: Token | None = None
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
            bucket = self.limits[operation]
            if operation in {'searchOrders', 'getOrders'}:
                self._pause_if_waiting(bucket)
            bucket.acquire()
            token = self._restricted_token() if rdt else self._access_token()
            try:
                return self.transport.call(
                    method, self.api + path, self._reader(bucket),
                    throttle_wait=self._throttled(operation, bucket),
                    headers={'x-amz-access-token': token,
                        'user-agent': 'oms-sync/1.0 (Language=Python)'},
                    **kwargs)
            except AuthError as error:
                if attempt == 2 or 'expired' not in str(error).lower():
                    raise
                logger.info("%s: the access token expired early: "
                    "fetched again", self, extra={'channel': self.config.code})
                self._token = self._rdt = None
        raise AssertionError("unreachable")

    def _pause_if_waiting(self, bucket: RateLimiter) -> None:
        wait = bucket.ready_in()
        if wait > LONGEST_INLINE_WAIT:
            raise ScanPaused(dt.datetime.now(dt.UTC)
                + dt.timedelta(seconds=wait))

    def _reader(self, bucket: RateLimiter) -> Callable[[requests.Response],
            Answer]:
        def read(response: requests.Response) -> Answer:
            _adopt_rate(bucket, response)
            if response.status_code == 204:
                return Answer(None, response.headers)
            if response.ok:
                return Answer(json_body(response), response.headers)
            raise ChannelError(
                f"HTTP {response.status_code} {error_text(response)}")
        return read

    def _throttled(self, operation: str, bucket: RateLimiter
            ) -> Callable[[requests.Response], float | None]:
        """A 429 QuotaExceeded: no token is left; wait one token's time at
        the rate Amazon states (no Retry-After is documented). An orders
        search pauses instead of waiting minutes."""
        def wait(response: requests.Response) -> float:
            _adopt_rate(bucket, response)
            bucket.drain()
            seconds = 1 / bucket.rate
            if operation in {'searchOrders', 'getOrders'} and \
                    seconds > LONGEST_INLINE_WAIT:
                raise ScanPaused(dt.datetime.now(dt.UTC)
                    + dt.timedelta(seconds=seconds))
            return seconds
        return wait

    def _access_token(self) -> str:
        "The LWA access token, fetched when there is none or it is old"
        if self._token is None or time.monotonic() >= self._token.expires:
            form = {'grant_type': 'refresh_token',
                'refresh_token': self.credentials['refresh_token'],
                'client_id': self.credentials['client_id'],
                'client_secret': self.credentials['client_secret']}
            answer = self.transport.call(
                'POST', self.settings.lwa_url, _read_grant, data=form)
            self._token = _token(answer['access_token'],
                answer.get('expires_in'))
        return self._token.value

    def _restricted_token(self) -> str:
        "A Restricted Data Token for Orders v0's addresses and buyers"
        if self._rdt is None or time.monotonic() >= self._rdt.expires:
            answer = self.request('createRestrictedDataToken', 'POST',
                '/tokens/2021-03-01/restrictedDataToken',
                json={'restrictedResources': [RDT_RESOURCE]}).body
            self._rdt = _token(answer['restrictedDataToken'],
                answer.get('expiresIn'))
        return self._rdt.value

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
        wait = self.limits[operation].ready_in()
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

    # -- Stock ------------------------------------------------------------

    def stock_calls(self, count: int) -> int:
        if count <= FEED_CALLS:
            return count
        return FEED_CALLS * -(-count // FEED_MESSAGES)

    def push_stock(self, updates: list[StockUpdate]) -> list[StockResult]:
        """Set each SKU's merchant-fulfilled quantity: one PATCH each for a
        few, one JSON_LISTINGS_FEED for more. FBA listings and SKUs Amazon
        does not know are refused without a call."""
        results, ready = self._ready(updates)
        if len(ready) > FEED_CALLS:
            for chunk in chunks(ready, FEED_MESSAGES):
                results += self._feed(chunk)
        else:
            results += [self._patch(update) for update in ready]
        return results

    def read_stock(self, updates: list[StockUpdate]
            ) -> dict[StockKey, int | None]:
        """What Amazon shows for each SKU (getListingsItem, one call a
        SKU): its DEFAULT quantity, None for an FBA listing"""
        found: dict[StockKey, int | None] = {}
        for update in updates:
            listing = self._get_listing(update.sku)
            if listing is not None:
                found[update.key] = (None if listing['fba']
                    else listing['quantity'])
        return found

    def _ready(self, updates: list[StockUpdate]
            ) -> tuple[list[StockResult], list[StockUpdate]]:
        "Refusals of SKUs that cannot be set, and the updates that can"
        missing = self.to_look_up(u.sku for u in updates
            if u.sku not in self.listings)
        for sku in missing:
            self._get_listing(sku)
        self.not_found(s for s in missing if s not in self.listings)
        if missing:
            self.store_cache('listings', self.listings)
        refused, ready = [], []
        for update in updates:
            listing = self.listings.get(update.sku)
            if listing is None:
                refused.append(StockResult(update,
                        "Amazon has no listing with this SKU in "
                        f"{', '.join(self.settings.marketplace_ids)}",
                        StockRefusal.unknown_sku))
            elif listing['fba']:
                refused.append(StockResult(update,
                        "fulfilled by Amazon (FBA): Amazon counts this "
                        "SKU's stock; mark its listing Fulfilled by Channel",
                        StockRefusal.refused))
            else:
                ready.append(update)
        return refused, ready

    def _get_listing(self, sku: str) -> dict[str, Any] | None:
        """The listing's product type, whether Amazon fulfils it, and its
        DEFAULT quantity; remembered (None: Amazon has no such SKU)"""
        try:
            body = self.request('getListingsItem', 'GET', self._item(sku),
                params={'marketplaceIds': ','.join(
                        self.settings.marketplace_ids),
                    'includedData': 'summaries,fulfillmentAvailability'}
                ).body
        except ChannelError as error:
            if 'HTTP 404' not in str(error):
                raise
            self.listings.pop(sku, None)
            return None
        channels = {a.get('fulfillmentChannelCode'): a.get('quantity')
            for a in body.get('fulfillmentAvailability') or []}
        summary = (body.get('summaries') or [{}])[0]
        self.listings[sku] = {
            'product_type': summary.get('productType') or 'PRODUCT',
            'fba': bool(channels) and 'DEFAULT' not in channels}
        return {**self.listings[sku], 'quantity': channels.get('DEFAULT')}

    def _item(self, sku: str) -> str:
        return (f'/listings/2021-08-01/items/'
            f'{quote(self.settings.seller_id, safe="")}/{quote(sku, safe="")}')

    def _patch_body(self, update: StockUpdate) -> dict[str, Any]:
        return {'productType': self.listings[update.sku]['product_type'],
            'patches': [{'op': 'replace',
                'path': '/attributes/fulfillment_availability',
                'value': [{'fulfillment_channel_code': 'DEFAULT',
                        'quantity': update.quantity}]}]}

    def _patch(self, update: StockUpdate) -> StockResult:
        body = self.request('patchListingsItem', 'PATCH',
            self._item(update.sku), params={'marketplaceIds': ','.join(
                    self.settings.marketplace_ids)},
            json=self._patch_body(update)).body
        errors = [i for i in body.get('issues') or []
            if i.get('severity') == 'ERROR']
        if body.get('status') == 'ACCEPTED' and not errors:
            return StockResult(update)
        return StockResult(update, '; '.join(
                f"{i.get('code')}: {i.get('message')}" for i in errors)
            or f"Amazon answered {body.get('status')}")

    def _feed(self, updates: list[StockUpdate]) -> list[StockResult]:
        """One JSON_LISTINGS_FEED: create and upload the document, create
        the feed, wait for its processing, read the report. A message the
        report refuses fails alone, with Amazon's words."""
        feed = {'header': {'sellerId': self.settings.seller_id,
                'version': '2.0', 'issueLocale': 'en_US'},
            'messages': [{'messageId': n, 'sku': u.sku,
                    'operationType': 'PATCH', **self._patch_body(u)}
                for n, u in enumerate(updates, 1)]}
        content_type = 'application/json; charset=UTF-8'
        document = self.request('createFeedDocument', 'POST',
            '/feeds/2021-06-30/documents',
            json={'contentType': content_type}).body
        # The upload goes to S3's pre-signed URL: no SP-API token
        self.transport.call('PUT', document['url'], _read_upload,
            data=json.dumps(feed).encode(),
            headers={'Content-Type': content_type})
        feed_id = self.request('createFeed', 'POST',
            '/feeds/2021-06-30/feeds', json={
                'feedType': 'JSON_LISTINGS_FEED',
                'marketplaceIds': self.settings.marketplace_ids,
                'inputFeedDocumentId': document['feedDocumentId']}
            ).body['feedId']
        processed = self._processed(feed_id)
        report = self._report(processed)
        status = processed.get('processingStatus')
        if status != 'DONE':
            why = f"the stock feed {feed_id} ended {status}"
            if report:
                why += ': ' + '; '.join(str(i.get('message'))
                    for i in report.get('issues') or [])
            return [StockResult(u, why) for u in updates]
        refused: dict[int, list[str]] = {}
        for issue in (report or {}).get('issues') or []:
            if issue.get('severity') == 'ERROR':
                refused.setdefault(issue.get('messageId'), []).append(
                    f"{issue.get('code')}: {issue.get('message')}")
        return [StockResult(u, '; '.join(refused[n])) if n in refused
            else StockResult(u) for n, u in enumerate(updates, 1)]

    def _processed(self, feed_id: str) -> dict[str, Any]:
        """The feed once Amazon has processed it (DONE, CANCELLED, FATAL),
        polled every feed_poll_seconds; a feed still processing after
        feed_timeout is given up on: its levels stay pending"""
        deadline = time.monotonic() + self.settings.feed_timeout
        while True:
            time.sleep(self.settings.feed_poll_seconds)
            feed = self.request('getFeed', 'GET',
                f'/feeds/2021-06-30/feeds/{quote(feed_id, safe="")}').body
            if feed.get('processingStatus') in {'DONE', 'CANCELLED',
                    'FATAL'}:
                return feed
            if time.monotonic() > deadline:
                raise ChannelError(f"the stock feed {feed_id} is still "
                    f"{feed.get('processingStatus')} after "
                    f"{self.settings.feed_timeout:g} s")

    def _report(self, feed: dict[str, Any]) -> dict[str, Any] | None:
        "The feed's processing report (None when it has none)"
        document_id = feed.get('resultFeedDocumentId')
        if not document_id:
            return None
        document = self.request('getFeedDocument', 'GET',
            f'/feeds/2021-06-30/documents/{quote(document_id, safe="")}'
            ).body
        compressed = document.get('compressionAlgorithm') == 'GZIP'
        return self.transport.call('GET', document['url'],
            lambda response: _read_report(response, compressed))

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


def _adopt_rate(bucket: RateLimiter, response: requests.Response) -> None:
    "Pace the operation at the rate Amazon says it allows now"
    try:
        rate = float(response.headers.get('x-amzn-RateLimit-Limit', ''))
    except ValueError:
        return
    bucket.adopt(rate)


def error_text(response: requests.Response) -> str:
    "Amazon's errors[] as `code: message`, else the start of the body"
    try:
        errors = response.json().get('errors') or []
        return '; '.join(f"{e.get('code')}: {e.get('message')}"
            + (f" ({e['details']})" if e.get('details') else '')
            for e in errors) or response.text[:200]
    except (ValueError, AttributeError):
        return response.text[:200]


def _token(value: str, expires_in: Any) -> Token:
    "A token kept until a minute before Amazon says it expires"
    masker.add([value])
    seconds = expires_in if isinstance(expires_in, int | float) else 3600
    return Token(value, time.monotonic() + max(0, seconds - 60))


def _read_grant(response: requests.Response) -> dict[str, Any]:
    "Login with Amazon's answer; a refused grant or client fails at once"
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.ok and body.get('access_token'):
        return body
    if response.status_code in {400, 401}:
        raise AuthError(f"Login with Amazon refused the credentials: "
            f"{body.get('error')}: {body.get('error_description')}")
    raise ChannelError(f"Login with Amazon answered HTTP "
        f"{response.status_code}: {response.text[:200]}")


def _read_upload(response: requests.Response) -> None:
    if not response.ok:
        raise ChannelError(f"the feed upload failed: HTTP "
            f"{response.status_code} {response.text[:200]}")


def _read_report(response: requests.Response, compressed: bool
        ) -> dict[str, Any]:
    if not response.ok:
        raise ChannelError(f"the feed report cannot be read: HTTP "
            f"{response.status_code}")
    content = response.content
    if compressed:
        content = gzip.decompress(content)
    return json.loads(content)


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
