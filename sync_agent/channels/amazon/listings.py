"""Amazon's stock (marketplace-apis.md §3.4): the merchant-fulfilled
(``DEFAULT``) quantity of each SKU, by ``patchListingsItem`` for a few
SKUs and by one ``JSON_LISTINGS_FEED`` when that takes fewer calls; what
Amazon shows read back with ``getListingsItem``. A listing's product type
(required by both writes) and whether Amazon fulfils it (FBA: its count,
never pushed) are read once and cached."""
from __future__ import annotations

import gzip
import json
import time
from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import requests

from oms_contract.models import StockRefusal

from ..base import StockKey, StockResult, StockUpdate, chunks
from ..transport import ChannelError, Retryable

# A stock feed's calls: create the document, upload it, create the feed,
# poll it once, read the report's document, download the report.
FEED_CALLS = 6
FEED_MESSAGES = 10_000  # up to 25,000 a feed; kept to a size that uploads


class Listings:
    """The stock of an Amazon adapter (a part of AmazonAdapter): its
    `request`, `transport`, `settings` and the `listings` cache"""
    listings: dict[str, dict[str, Any]]

    def stock_calls(self, skus: Collection[str]) -> int:
        "A PATCH each for a few SKUs, else a feed's calls per 10,000"
        count = len(skus)
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

def _read_upload(response: requests.Response) -> None:
    if not response.ok:
        raise ChannelError(f"the feed upload failed: HTTP "
            f"{response.status_code} {response.text[:200]}")


def _read_report(response: requests.Response, compressed: bool
        ) -> dict[str, Any]:
    if not response.ok:
        raise ChannelError(f"the feed report cannot be read: HTTP "
            f"{response.status_code}")
    try:
        content = response.content
        return json.loads(gzip.decompress(content) if compressed
            else content)
    except (OSError, ValueError) as error:  # cut short on the way
        raise Retryable(f"the feed report is unreadable: {error}") from error
