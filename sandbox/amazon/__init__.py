"""An Amazon seller account: the Selling Partner API subset the agent uses
(marketplace-apis.md §3) under ``{base}`` = ``{sandbox}/shops/{name}``,
Login with Amazon at ``{base}/auth/o2/token``, and the feed documents'
pre-signed URLs at ``{base}/_uploads/{token}``.

- Auth: LWA's refresh-token grant (``invalid_client`` 401 checked
  before ``invalid_grant`` 400); access tokens live ``token_lifetime_s``
  on the sandbox clock (``expire_tokens()`` ends them all); every SP-API
  call needs ``x-amz-access-token`` (403 ``Unauthorized`` otherwise, the
  details naming an expired token). Restricted Data Tokens
  (``createRestrictedDataToken``) work only for the method and Orders v0
  path they name (``{orderId}`` matches any id) and grant the PII of
  their ``dataElements`` (``buyerInfo``, ``shippingAddress``).
- Rate limits: a token bucket per operation with Amazon's rate and burst
  (limits.py), times ``rate_scale``, on the monotonic clock; 429
  ``QuotaExceeded`` with ``x-amzn-RateLimit-Limit`` and no
  ``Retry-After``. ``throttle_next`` answers the same 429 with a limit of
  ``1/retry_after_s``, so that an adapter waiting 1/limit waits
  ``retry_after_s``.
- Orders: one record per order in the 2026-01-01 shape; searchOrders and
  getOrder serve it, Orders v0 (getOrders, getOrder, getOrderItems) is
  written from it. ``…Before`` must be at least ``settle_s`` before now
  (0 here, 120 plays Amazon's 2 minutes) and is now − ``settle_s`` when
  not given; pages by server-side tokens valid 24 h. Pending orders show
  no address; FBA (AFN) orders no packages and no buyer e-mail (as the
  model says: FBM only); v0 without an RDT serves City, StateOrRegion,
  PostalCode, CountryCode and BuyerEmail only, and ShippingAddress only
  for Unshipped, PartiallyShipped, Shipped, InvoiceUnconfirmed. Money is
  decimal strings; ItemPrice (v0) is the line total. MFN orders take
  their units off the DEFAULT quantity from their arrival until
  cancelled; FBA ones never touch it.
- Stock: Listings Items PATCH/GET (ACCEPTED applied ``apply_delay_s``
  later; FBA listings refuse DEFAULT) and ``JSON_LISTINGS_FEED`` (feed
  documents, asynchronous feeds over ``feed_processing_s``, FATAL on a
  malformed document, processing reports with per-message issues, gzip
  with ``gzip_reports``; ``feed_error_skus`` and ``feed_error_rate``
  (seeded by ``feed_seed``) refuse messages as Amazon does now and then).
- Shipments: confirmShipment (204; the same packageReferenceId edits its
  package; AFN, pending and cancelled orders refused), ``deliver()``.
- Refunds: Finances v0 ``listFinancialEvents`` RefundEventList (amounts
  JSON numbers, negative); ``refund()`` plays Seller Central: the SP-API
  makes none.

Options (``add_amazon(**options)``, ``shop.set_options()``, ``PUT
/_sandbox/shops/{name}/options``): settle_s, token_lifetime_s, rate_scale,
apply_delay_s, feed_processing_s, feed_error_rate, feed_error_skus,
feed_seed, gzip_reports. Fault knobs: ``error_next`` (500 is Amazon's
InternalFailure body), ``malformed_next``, ``slow_ms``, ``throttle_next``
as above, ``duplicate_pages`` (a next page starts with the previous page's
last order). LWA and the document URLs are other hosts: no knob, limit or
token applies to them (their calls are counted: ``token``,
``uploadFeedDocument``, ``downloadReport``).

Operations counted in ``calls`` (and rate-limited): searchOrders,
getOrder (2026), getOrders, getOrderV0 (v0 getOrder), getOrderItems,
confirmShipment, createRestrictedDataToken, patchListingsItem,
getListingsItem, createFeedDocument, createFeed, getFeed,
getFeedDocument, listFinancialEvents.

**Unconfirmed** (chosen here): searchOrders' ``includedData`` defaults
(everything is always served); the order of results (by lastUpdatedTime
then orderId, ascending); getOrderItems' page size (20 items, NextToken
null on the last page); the error messages and codes of 400s
(``InvalidInput``) and of unknown orders, feeds, documents (404
``NotFound``); a wrong sellerId or marketplace, or a body that is not
JSON, on Listings is 400 InvalidInput (not an INVALID submission);
listing issue codes other than 90220 (4000001 invalid value, 4000003
unknown SKU, 4000004 DEFAULT on an FBA listing, 4000000 a FATAL feed's
reason, 99300 a message refused now and then); ``productType`` may be any
non-empty string; packageStatus ``IN_TRANSIT`` once confirmed (then
``DELIVERED``); carrier codes are not checked (``Other`` uses
carrierName); DISCOUNT proceeds breakdowns are negative (coupons, 10% of
generated orders; v0 PromotionDiscount positive); tax is on items only,
shipping charged on an order's first item; refund events carry no
reason, refunds do not modify the order, events are listed as soon as
posted (Amazon may take hours), ShipmentEventList is always empty, and
without PostedBefore the upper bound (now − settle_s) is inclusive (given,
it is exclusive, as documented); the 24-hour token validity is kept for
v0 NextTokens and Finances too; the LWA ``unsupported_grant_type`` body;
RDT ``dataElements`` values and their being required for Orders paths.

Not simulated: other feed types, ``VALIDATION_PREVIEW`` beyond answering
VALID, getOrderAddress/getOrderBuyerInfo, updateShipmentStatus, Reports,
grantless operations, Finances' shipment and fee events, several
marketplaces in one shop.
"""
from .shop import AmazonShop

__all__ = ['AmazonShop']
