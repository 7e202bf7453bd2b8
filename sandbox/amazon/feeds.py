"""The Feeds API of the Amazon shop, for ``JSON_LISTINGS_FEED`` (bulk
stock): feed documents and their pre-signed URLs (served under
``{base}/_uploads/``, S3's part: no token, no rate limit), feeds
processed asynchronously (IN_QUEUE → IN_PROGRESS → DONE or FATAL over
``feed_processing_s``, monotonic clock) and their processing reports."""
from __future__ import annotations

import dataclasses
import gzip
import json
import secrets
import time
from typing import Any

from ..web import Request, Response, dumps, iso_z
from .catalog import issue
from .model import invalid_input, json_object, not_found

FEED_TYPE = 'JSON_LISTINGS_FEED'
MAX_MESSAGES = 25_000
OPERATIONS = ('PATCH', 'PARTIAL_UPDATE', 'UPDATE')
DOCUMENT_PREFIX = 'amzn1.tortuga.4.na.'


@dataclasses.dataclass
class Document:
    id: str
    token: str                   # the last part of its URL
    content_type: str
    body: bytes | None = None
    gzipped: bool = False
    result: bool = False         # a processing report (not uploadable)


@dataclasses.dataclass
class Feed:
    id: str
    type: str
    marketplaces: list[str]
    document_id: str
    created: str
    started: float               # monotonic
    duration: float              # feed_processing_s when created
    status: str = 'IN_QUEUE'
    start_time: str | None = None
    end_time: str | None = None
    result_id: str | None = None


def refusal(message_id: Any, sku: Any, found: dict[str, Any]
        ) -> dict[str, Any]:
    "A listings issue as a processing report writes it"
    result = {'messageId': message_id, 'sku': sku, 'code': found['code'],
        'severity': found['severity'], 'message': found['message']}
    if found.get('attributeNames'):
        result['attributeName'] = found['attributeNames'][0]
    return result


def transient(message_id: Any, sku: Any) -> dict[str, Any]:
    "A message Amazon refuses now and then (code chosen here)"
    return refusal(message_id, sku, issue('99300', "An internal error "
        "occurred while processing this message. Resubmit it."))


class Feeds:
    "The shop's feeds (a part of AmazonShop)"

    def _init_feeds(self) -> None:
        self._documents: dict[str, Document] = {}
        self._document_tokens: dict[str, str] = {}
        self._feeds: dict[str, Feed] = {}
        self._next_feed = 50000000000

    def _new_document(self, content_type: str, body: bytes | None = None,
            gzipped: bool = False) -> Document:
        token = secrets.token_hex(16)
        document = Document(DOCUMENT_PREFIX + token, token, content_type,
            body, gzipped, result=body is not None)
        self._documents[document.id] = document
        self._document_tokens[token] = document.id
        return document

    def _document_url(self, document: Document) -> str:
        return f'{self.base_url}/_uploads/{document.token}'

    def feed(self, feed_id: str) -> dict[str, Any]:
        "The feed as getFeed serves it"
        with self.lock:
            return self._feed_json(self._feed(feed_id))

    def feed_report(self, feed_id: str) -> dict[str, Any] | None:
        "The processing report of a feed (None until it is done)"
        with self.lock:
            feed = self._feed(feed_id)
            if feed.result_id is None:
                return None
            document = self._documents[feed.result_id]
            body = document.body or b''
            return json.loads(gzip.decompress(body) if document.gzipped
                else body)

    def _feed(self, feed_id: str) -> Feed:
        self._advance_feeds()
        feed = self._feeds.get(feed_id)
        if feed is None:
            raise KeyError(f"{self.name}: no feed {feed_id!r}")
        return feed

    # -- routes ----------------------------------------------------------

    def http_createFeedDocument(self, request: Request) -> Response:
        body = json_object(request)
        content_type = body.get('contentType')
        if not isinstance(content_type, str) or not content_type:
            raise invalid_input("contentType is required")
        document = self._new_document(content_type)
        return Response.json({'feedDocumentId': document.id,
                'url': self._document_url(document)}, 201)

    def http_uploadFeedDocument(self, request: Request,
            token: str) -> Response:
        "PUT to the pre-signed URL: S3 keeps the body"
        document = self._documents.get(self._document_tokens.get(token, ''))
        if document is None or document.result:
            return _s3_error(404, 'NoSuchKey')
        document.body = request.body
        return Response(200, b'', {'ETag': f'"{secrets.token_hex(16)}"'})

    def http_downloadReport(self, request: Request, token: str) -> Response:
        "GET the pre-signed URL: the document as stored (gzipped or not)"
        self._advance_feeds()
        document = self._documents.get(self._document_tokens.get(token, ''))
        if document is None or document.body is None:
            return _s3_error(404, 'NoSuchKey')
        return Response(200, document.body,
            {'Content-Type': document.content_type})

    def http_createFeed(self, request: Request) -> Response:
        body = json_object(request)
        if body.get('feedType') != FEED_TYPE:
            raise invalid_input(f"feedType must be {FEED_TYPE} (the only "
                "feed the sandbox processes)")
        marketplaces = body.get('marketplaceIds')
        if not isinstance(marketplaces, list) or not marketplaces:
            raise invalid_input("marketplaceIds is required")
        document_id = body.get('inputFeedDocumentId')
        if document_id not in self._documents:
            raise invalid_input(f"Invalid inputFeedDocumentId: "
                f"{document_id!r}")
        self._next_feed += 1
        feed = Feed(str(self._next_feed), FEED_TYPE, list(marketplaces),
            document_id, iso_z(self.now()), time.monotonic(),
            self.feed_processing_s)
        self._feeds[feed.id] = feed
        return Response.json({'feedId': feed.id}, 202)

    def http_getFeed(self, request: Request, feed_id: str) -> Response:
        self._advance_feeds()
        feed = self._feeds.get(feed_id)
        if feed is None:
            raise not_found(f"Feed {feed_id} was not found")
        return Response.json(self._feed_json(feed))

    def http_getFeedDocument(self, request: Request,
            document_id: str) -> Response:
        self._advance_feeds()
        document = self._documents.get(document_id)
        if document is None:
            raise not_found(f"Feed document {document_id} was not found")
        answer = {'feedDocumentId': document.id,
            'url': self._document_url(document)}
        if document.gzipped:
            answer['compressionAlgorithm'] = 'GZIP'
        return Response.json(answer)

    @staticmethod
    def _feed_json(feed: Feed) -> dict[str, Any]:
        answer = {'feedId': feed.id, 'feedType': feed.type,
            'marketplaceIds': feed.marketplaces, 'createdTime': feed.created,
            'processingStatus': feed.status}
        for key, value in (('processingStartTime', feed.start_time),
                ('processingEndTime', feed.end_time),
                ('resultFeedDocumentId', feed.result_id)):
            if value is not None:
                answer[key] = value
        return answer

    # -- processing ------------------------------------------------------

    def _advance_feeds(self) -> None:
        """Move each feed on as time has passed: in queue its first third
        of feed_processing_s, in progress the rest, then processed"""
        now = time.monotonic()
        for feed in self._feeds.values():
            if feed.status in ('DONE', 'FATAL'):
                continue
            elapsed = now - feed.started
            if elapsed >= feed.duration / 3 and feed.start_time is None:
                feed.status = 'IN_PROGRESS'
                feed.start_time = iso_z(self.now())
            if elapsed >= feed.duration:
                self._process(feed)

    def _process(self, feed: Feed) -> None:
        "Read the document, apply what is accepted, write the report"
        document = self._documents[feed.document_id]
        header = {'sellerId': self.seller_id, 'version': '2.0',
            'feedId': feed.id}
        issues: list[dict[str, Any]] = []
        accepted = invalid = 0
        try:
            messages = self._messages(document.body)
        except ValueError as error:
            feed.status = 'FATAL'
            issues.append(refusal(0, None, issue('4000000', str(error))))
            messages = []
        else:
            feed.status = 'DONE'
        for message in messages:
            refused = self._process_message(message)
            issues += refused
            if refused:
                invalid += 1
            else:
                accepted += 1
        report = {'header': header, 'issues': issues, 'summary': {
                'errors': len(issues), 'warnings': 0,
                'messagesProcessed': len(messages),
                'messagesAccepted': accepted, 'messagesInvalid': invalid}}
        body = dumps(report)
        if self.gzip_reports:
            body = gzip.compress(body)
        result = self._new_document('application/json', body,
            self.gzip_reports)
        feed.result_id = result.id
        feed.start_time = feed.start_time or iso_z(self.now())
        feed.end_time = iso_z(self.now())

    def _messages(self, body: bytes | None) -> list[dict[str, Any]]:
        "The feed's messages; ValueError (a FATAL feed) saying why not"
        if not body:
            raise ValueError("The feed document was not uploaded.")
        try:
            feed = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"The feed document is not valid JSON: "
                f"{error}") from None
        header = feed.get('header') if isinstance(feed, dict) else None
        if not isinstance(header, dict):
            raise ValueError("The feed document has no header.")
        if header.get('sellerId') != self.seller_id:
            raise ValueError(f"The header's sellerId "
                f"{header.get('sellerId')!r} is not the selling partner's.")
        messages = feed.get('messages')
        if not isinstance(messages, list) or not 1 <= len(messages) \
                <= MAX_MESSAGES:
            raise ValueError(f"The feed needs 1 to {MAX_MESSAGES} "
                "messages.")
        return messages

    def _process_message(self, message: Any) -> list[dict[str, Any]]:
        "Apply one message; its refusals (none: accepted)"
        if not isinstance(message, dict):
            return [refusal(None, None, issue('4000001',
                        "A message must be an object."))]
        message_id, sku = message.get('messageId'), message.get('sku')
        operation = message.get('operationType')
        if operation not in OPERATIONS:
            return [refusal(message_id, sku, issue('4000001',
                        f"operationType {operation!r} is not simulated "
                        f"here: use {', '.join(OPERATIONS)}."))]
        patches = message.get('patches')
        if operation != 'PATCH':
            # (PARTIAL_)UPDATE carry attributes: as a replace of each
            attributes = message.get('attributes')
            patches = [{'op': 'replace', 'path': f'/attributes/{name}',
                    'value': value} for name, value in (attributes.items()
                    if isinstance(attributes, dict) else ())] or None
        quantity, problems = self._check_patches(str(sku or ''),
            message.get('productType'), patches)
        if problems:
            return [refusal(message_id, sku, p) for p in problems]
        if sku in self.feed_error_skus or (self.feed_error_rate
                and self._feed_rng.random() < self.feed_error_rate):
            return [transient(message_id, sku)]
        if quantity is not None:
            self._apply_quantity(self._listings[sku], quantity, delay=0)
        return []


def _s3_error(status: int, code: str) -> Response:
    return Response(status, (f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<Error><Code>{code}</Code></Error>').encode(),
        {'Content-Type': 'application/xml'})

