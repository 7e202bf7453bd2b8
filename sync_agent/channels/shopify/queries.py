"""The Admin GraphQL documents the Shopify adapter sends, and the page
and bulk sizes it sends them with (marketplace-apis.md §1.2–§1.6).
"""
from __future__ import annotations

# The API documents the adapter sends. Arguments always travel as
# variables; only the idempotency key must be a literal (whether the
# directive takes a variable is unconfirmed, §1.4).
MONEY = 'shopMoney { amount currencyCode }'
LINE_FIELDS = f'''id sku name quantity currentQuantity variant {{ id }}
    originalUnitPriceSet {{ {MONEY} }} discountedUnitPriceSet {{ {MONEY} }}'''
ORDERS_QUERY = f'''
query OrdersSince($first: Int!, $after: String, $q: String!, $lines: Int!) {{
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id legacyResourceId name createdAt updatedAt processedAt cancelledAt
      cancelReason closed closedAt test note
      displayFinancialStatus displayFulfillmentStatus email phone currencyCode
      customer {{ id firstName lastName email phone }}
      shippingAddress {{ name company address1 address2 city provinceCode zip
        countryCodeV2 phone }}
      subtotalPriceSet {{ {MONEY} }} totalShippingPriceSet {{ {MONEY} }}
      totalTaxSet {{ {MONEY} }} totalPriceSet {{ {MONEY} }}
      totalRefundedSet {{ {MONEY} }}
      shippingLines(first: 3) {{ nodes {{ title code carrierIdentifier
        originalPriceSet {{ {MONEY} }} }} }}
      fulfillments(first: 10) {{ id status displayStatus }}
      lineItems(first: $lines) {{
        pageInfo {{ hasNextPage endCursor }}
        nodes {{ {LINE_FIELDS} }}
      }}
    }}
  }}
}}'''
LINE_ITEMS_QUERY = f'''
query OrderLineItems($id: ID!, $after: String, $first: Int!) {{
  order(id: $id) {{
    id
    lineItems(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      nodes {{ {LINE_FIELDS} }}
    }}
  }}
}}'''
VARIANTS_QUERY = '''
query VariantsBySku($q: String!, $first: Int!) {
  productVariants(first: $first, query: $q) {
    nodes { id sku inventoryItem { id } product { id } }
  }
}'''
LOCATIONS_QUERY = '''
query Locations { locations(first: 50) { nodes { id name } } }'''
SET_STOCK_MUTATION = '''
mutation SetStock($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: "%s") {
    inventoryAdjustmentGroup { createdAt reason referenceDocumentUri
      changes { name delta } }
    userErrors { field message code }
  }
}'''

# What an order shows before a shipment is marked (§1.5): its fulfillment
# orders with what remains on each line, and the fulfillments it has, with
# their tracking and lines (Order.fulfillments, a list, is not in
# marketplace-apis.md: taken from Shopify's Order reference, unconfirmed
# there).
ORDER_FULFILMENT_QUERY = '''
query OrderFulfilment($id: ID!) {
  order(id: $id) {
    id cancelledAt
    fulfillments(first: 50) { id status trackingInfo { company number url }
      fulfillmentLineItems(first: 100) { nodes { quantity
        lineItem { id sku } } } }
    fulfillmentOrders(first: 10) { nodes {
      id status assignedLocation { location { id } }
      supportedActions { action }
      lineItems(first: 100) { nodes { id remainingQuantity totalQuantity
        lineItem { id sku } } } } }
  }
}'''
# %s: the @idempotent directive, or nothing. The directive is documented
# for the inventory and refund mutations; on fulfillmentCreate it is
# **unconfirmed** (the sandbox accepts it): a shop that refuses it is sent
# the mutation without, read-before-write still guarding against doubles.
FULFILMENT_MUTATION = '''
mutation Ship($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment)%s {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}'''

# Items by id, each with its quantity available at every location ($levels:
# how many locations the shop has).
READ_STOCK_QUERY = '''
query StockLevels($q: String!, $first: Int!, $levels: Int!) {
  inventoryItems(first: $first, query: $q) {
    nodes { id inventoryLevels(first: $levels) {
      pageInfo { hasNextPage }
      nodes { quantities(names: ["available"]) { name quantity }
        location { id } } } }
  }
}'''

# An order's refunds and returns, and what the pull binds them by (§1.6).
# Order.refunds is a list, Order.returns a connection; in recent versions
# returnLineItems holds ReturnLineItemType (hence the fragment). Refund
# updatedAt and return, Return createdAt/closedAt/returnReasonNote:
# unconfirmed (taken from Shopify's reference, not in the contract
# document). Nested lists are kept small: their `first` multiply the cost.
RETURNS_QUERY = f'''
query OrderReturnsSince($first: Int!, $after: String, $q: String!) {{
  orders(first: $first, after: $after, query: $q, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{
      id legacyResourceId name updatedAt currencyCode
      refunds(first: %(refunds)d) {{ id createdAt updatedAt note
        totalRefundedSet {{ {MONEY} }} return {{ id }}
        refundLineItems(first: %(lines)d) {{ pageInfo {{ hasNextPage }}
          nodes {{ quantity restockType restocked lineItem {{ id sku }}
            subtotalSet {{ {MONEY} }} }} }} }}
      returns(first: %(returns)d) {{ nodes {{ id name status createdAt
        closedAt
        returnLineItems(first: %(lines)d) {{ pageInfo {{ hasNextPage }}
          nodes {{ quantity
            ... on ReturnLineItem {{ returnReason returnReasonNote
              fulfillmentLineItem {{ lineItem {{ id sku }} }} }} }} }} }} }}
    }}
  }}
}}'''
# What a refund push reads first: the refunds the order has (their notes
# name the RMA), its lines, and its payments to refund against.
ORDER_REFUNDS_QUERY = f'''
query OrderRefunds($id: ID!) {{
  order(id: $id) {{
    id currencyCode cancelledAt
    refunds(first: 50) {{ id note createdAt }}
    lineItems(first: 250) {{ nodes {{ id sku }} }}
    transactions(first: 50) {{ id kind status gateway
      parentTransaction {{ id }} amountSet {{ {MONEY} }} }}
  }}
}}'''
# %s: the idempotency key, a literal (whether a variable is accepted is
# unconfirmed, §1.4). Mandatory from 2026-04 for refundCreate.
REFUND_MUTATION = '''
mutation Refund($input: RefundInput!) {
  refundCreate(input: $input) @idempotent(key: %s) {
    refund { id createdAt note totalRefundedSet { shopMoney { amount } } }
    userErrors { field message }
  }
}'''
RETURN_ORDERS_PER_PAGE = 5
REFUNDS_PER_ORDER = 10
RETURNS_PER_ORDER = 5
RETURN_LINES = 10
# Payments a refund goes back to (OrderTransactionKind), and what a
# refund of them is.
PAID_KINDS = {'SALE', 'CAPTURE'}

LINES_PER_ORDER = 25  # keeps orders(first × lines) well under the budget
LINES_PER_PAGE = 250
SKUS_PER_LOOKUP = 50
QUANTITIES_PER_CALL = 250  # Shopify's input-array limit
# The most a single query may cost (1000, unconfirmed for current
# versions, §1.2): bounds how many items one stock read asks for.
MAX_QUERY_COST = 1000
STALE = 'CHANGE_FROM_QUANTITY_STALE'
