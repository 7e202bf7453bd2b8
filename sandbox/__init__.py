"""Sandbox: simulated Shopify, WooCommerce, Amazon and Taobao shops on
127.0.0.1.

For the end-to-end tests, the demo and the benchmarks: each shop keeps its
catalogue, stock, orders, fulfilments, notes and refunds, serves its
marketplace's API under ``{sandbox.url}/shops/{name}``, generates believable
orders, and misbehaves on demand.

    from sandbox import Sandbox
    with Sandbox() as sandbox:                      # a free port
        shop = sandbox.add_shopify('eu', token='shpat_x')
        # or add_woocommerce('us'), add_amazon('amz', settle_s=120),
        # add_taobao('tb', calls_per_second=10)
        shop.add_product('MUG-RED', 'Mug – red', '12.50', stock=10)
        shop.generate_orders(200, seed=1)
        shop.faults.set(throttle_next=2)

    python -m sandbox --port 8010 --config sandbox.yaml   # until Ctrl-C

Modules: ``server`` (Sandbox, HTTP), ``shopify`` (Admin GraphQL subset,
marketplace-apis.md §1), ``woocommerce`` (REST v3 subset, §2),
``amazon`` (Selling Partner API subset, §3: its own docstring lists what
it simulates, its options and its unconfirmed choices), ``taobao``
(Taobao Open Platform subset, §5: likewise, in its docstring),
``generator`` (orders, catalogues), ``faults`` (knobs), ``control`` (the
``/_sandbox/`` JSON API), ``graphql`` (routing a document on its root
field), ``shop`` (what every kind shares).

Simulated as documented: Shopify's cost bucket and THROTTLED body, cursor
paging by (updatedAt, id) with nested line-item paging, the 250-item input
limit, ``inventorySetQuantities`` with compare-and-swap, atomicity and
``@idempotent`` keys, fulfillment orders (``move_to_location`` splits an
order over locations, as ``fulfillmentOrderMove`` does) and
``fulfillmentCreate`` (partial quantities, one order and location a call,
tracking), the order's
``fulfillments`` (a list) with their ``displayStatus``, turned
``DELIVERED`` by ``deliver(order_id)`` (or ``POST
/_sandbox/shops/{name}/orders/{id}/deliver``), which modifies the order;
WooCommerce's page paging with ``X-WP-Total``/``X-WP-TotalPages``/``Link``,
``modified_after`` with ``dates_are_gmt``, ``*_gmt`` dates without offset,
money strings but ``line_items[].price`` a number, notes, refunds, batches
with per-item errors and the 100-item limit (413). After-sales: Shopify's
``Order.refunds`` (with the return each settles), ``Order.returns``
(``request_return``, ``set_return_status``) and ``Order.transactions``,
``refundCreate`` (``@idempotent`` required, against the sale, statuses
PARTIALLY_REFUNDED/REFUNDED); WooCommerce's ``GET /refunds``
(``parent_id``, ``after``/``before`` on creation, exclusive) and ``GET``/
``POST /orders/{id}/refunds`` (the order ``refunded`` once fully
refunded); ``refund()`` on both plays a refund made in the shop's admin.
Stock: orders take their goods off the shelf (Shopify at the first
location, WooCommerce once processing); a shop with ``sells_out_of_stock =
False`` plays "continue selling when out of stock" turned off: its
checkout offers what is left and no more of it, so generated orders take
what is left and then stop, and an order asked for beyond the stock is
refused (``generator.SoldOut``); it never shows less than zero.
Amazon (details in ``sandbox/amazon``): Login with Amazon and Restricted
Data Tokens, a token bucket per operation (``rate_scale``), Orders
2026-01-01 (searchOrders, getOrder) and v0 (getOrders, getOrder,
getOrderItems, PII only with an RDT) from one record, the ``…Before``
settle rule (``settle_s``), FBA orders and listings, Listings Items
PATCH/GET and ``JSON_LISTINGS_FEED`` processed asynchronously with
per-message refusals, confirmShipment (204, packages edited by their
reference) and Finances refund events; ``refund()`` plays Seller Central.

**Unconfirmed** in the real APIs (marketplace-apis.md §9), so chosen here
and not to be relied on by the agent beyond what the adapters must handle
anyway:

- Shopify: THROTTLED's HTTP status (200 here, 429 with a knob, both with
  the same body); bucket size and restore rate (1000 and 50/s here, settable;
  read ``throttleStatus``); the 1000-point single-query cap and its
  ``MAX_COST_EXCEEDED`` error (here: over min(1000, bucket size)); the
  mutation cost (10); the cost formula itself (here ``first × (lines + 3
  + fulfillments first)`` for orders, ``1 + first × (1 + levels first)``
  for inventory items — see shopify.py); ``inventoryItems(query: "id:…")``
  taking numeric ids (not in the contract document; a Shopify community
  answer); ``@idempotent(key:)`` given as a variable (accepted here) and
  the error when it is missing (a top-level error here, as 2026-04 makes
  it mandatory); ``@idempotent`` on ``fulfillmentCreate`` (optional here,
  replayed like the others); ``Order.fulfillments`` (not in the contract
  document); ``Fulfillment.displayStatus`` values (``FULFILLED`` when
  created, ``DELIVERED`` once delivered, nothing in between);
  ``changeFromQuantity`` is required
  here on every version (2026-04 strictness); userError ``field`` paths and
  messages (match on ``code``); inventory reasons other than ``correction``
  (a list here, else ``INVALID_REASON``); the search warnings extension;
  ``EXPIRED``; ``IDEMPOTENCY_CONCURRENT_REQUEST`` and
  ``IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED`` are not produced (a stored answer,
  errors included, is replayed for its key).
- WooCommerce: no rate limit in core (the knobs play a host's 429/503);
  ``orderby=modified``; ``/products?sku=`` finding variations (not by
  default; ``shop.sku_lookup_includes_variations``); the batch invalid-id
  codes; negative refund totals and quantities (served negative);
  ``stock_quantity`` dropped unless ``manage_stock``; exclusive
  ``modified_after``/``modified_before``; ``GET /refunds`` and its
  filters (WooCommerce version serving it); the HTTP status of a refused
  refund (400 here); 401 bodies (always
  ``woocommerce_rest_cannot_view`` here); state codes (ISO 3166-2 suffixes
  here, where WooCommerce has its own for some countries, e.g. China).
- Amazon: see ``sandbox/amazon``'s docstring (includedData defaults,
  result order, page sizes, issue codes, error bodies, DISCOUNT signs,
  package statuses, refund event timing, among others).
- Taobao: see ``sandbox/taobao``'s docstring (router error details, the
  call limit's ban, the receivers' ciphertext layout, default trade
  types, item and refund shapes, refusal sub_codes, among others).

Not simulated: webhooks, bulk operations, Shopify's legacy REST
API and 60-day order window, OAuth 1.0a, ``last``/``before``/``reverse``
and sort keys other than ``UPDATED_AT``, more than one root field per
document, ``created_at`` search terms.
"""
from .server import Sandbox

__all__ = ['Sandbox']
