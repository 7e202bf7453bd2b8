"""A Shopify store: the Admin GraphQL subset the agent uses
(marketplace-apis.md §1), on ``POST {base}/admin/api/{YYYY-MM}/graphql.json``.

Requests are routed on the operation's root field (see graphql.py) and
answered with full node shapes whatever the selection set. Served roots:
``orders``, ``order``, ``productVariants``, ``locations``, ``inventoryItems``,
``inventoryItem``, ``shop``, ``inventorySetQuantities``, ``fulfillmentCreate``
(and its deprecated twin ``fulfillmentCreateV2``), ``refundCreate``
(``@idempotent`` required, as from 2026-04). Orders carry ``refunds`` (a
list), ``returns`` (a connection) and ``transactions`` (a list: the sale,
then each refund's).

Requested query cost (the leaky bucket's unit, §1.2):

=========================  ============================================
``orders``                 first × (lineItems first + 3 + fulfillments
                           first)
``order``                  1 + lineItems first (+ 10 with fulfillmentOrders)
                           + fulfillments first
``productVariants``,       1 + first
``locations``
``inventoryItems``         1 + first, × (1 + inventoryLevels first) when
                           levels are selected
``order``-less singles     1 (``shop``, ``inventoryItem``)
mutations                  10
=========================  ============================================

lineItems first defaults to 25 when the document gives none; fulfillments
(a list on Order, with its own first) cost nothing when not selected with
a first. A request
whose cost exceeds min(1000, bucket size) can never run: MAX_COST_EXCEEDED.
The actual cost (what stays taken from the bucket) is smaller: about what
was returned.

Parts: ``shop`` (ShopifyShop: routing, auth, throttle), ``catalog``,
``orders``, ``fulfilments``, ``refunds``, and ``model`` (what they share).
"""
from .shop import ShopifyShop

__all__ = ['ShopifyShop']
