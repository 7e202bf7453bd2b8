"""The fake Shopify the anchor (Tryton's web_shop_shopify) reads its orders
from, for bench.anchor: the sandbox's orders translated to what
web_shop_shopify's GraphQL queries select, served on loopback.

It answers only what the anchor's order import asks (see bench/anchor.py
for which calls and which parts of the answers follow Shopify's published
contract): ``locations``, ``orders(first, query, sortKey: ID)`` with the
search terms web_shop_shopify writes, ``order(id)`` and
``fulfillmentOrder(id)``. Each answer is the full node cut down to the
selection the query made, so a field the anchor asks and the fake lacks
fails loudly instead of reading as null.
"""
from __future__ import annotations

import json
import re
import sys
import threading
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PATH = re.compile(r'^/admin/api/[\w-]+/graphql\.json$')
TOKEN = re.compile(r'''"(?:[^"\\]|\\.)*"|\$?[_A-Za-z][\w]*|-?\d+(?:\.\d+)?
    |[{}()\[\]:!=]''', re.VERBOSE)
# The connection sizes web_shop_shopify asks for: a longer list would need
# the paging calls the fake does not serve.
MAX_LINES = 100
MAX_SHIPPING_LINES = 10
# Shopify's statusPageUrl is an opaque URL of the shop's; any URL will do
# for the anchor, which only stores it.
STATUS_URL = 'https://{shop}.myshopify.com/{number}/orders/{id}/authenticate'


class FakeError(Exception):
    "What the fake cannot answer: sent back as a GraphQL error"


# -- translation -------------------------------------------------------------

def gid_number(value: str) -> int:
    return int(value.rsplit('/', 1)[1])


def presentment(bag: dict[str, Any]) -> dict[str, Any]:
    "A MoneyBag as Shopify serves it (both shop and presentment amounts)"
    return {'shopMoney': dict(bag['shopMoney']),
        'presentmentMoney': dict(bag['presentmentMoney'])}


def money(amount: Decimal, currency: str) -> dict[str, Any]:
    bag = {'amount': str(amount.quantize(Decimal('0.01'))),
        'currencyCode': currency}
    return {'shopMoney': bag, 'presentmentMoney': dict(bag)}


def connection(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    "A connection holding every node (one page)"
    return {'nodes': nodes,
        'pageInfo': {'hasNextPage': False, 'endCursor': None}}


def to_anchor(order: dict[str, Any], shop: str) -> dict[str, Any]:
    """A sandbox Shopify order (as shop.orders() gives it) as the Order node
    web_shop_shopify's queries select from: the same ids, amounts, lines,
    customer and addresses, with the fields it reads that the sandbox's
    order has under another name (currentDiscountedPriceSet,
    discountAllocations, displayName, deliveryMethod, ...) derived"""
    currency = order['presentmentCurrencyCode']
    lines = order['lineItems']['nodes']
    shipping = order['shippingLines']['nodes']
    if len(lines) > MAX_LINES or len(shipping) > MAX_SHIPPING_LINES:
        raise ValueError(f"order {order['name']}: more lines than one page")
    if order['refunds'] or order['cancelledAt']:
        # Paid orders only: a refund's shape is not translated.
        raise ValueError(f"order {order['name']}: refunded or cancelled")
    customer = order['customer']
    number = gid_number(order['id'])
    return {
        'id': order['id'],
        'legacyResourceId': order['legacyResourceId'],
        'name': order['name'],
        'note': order['note'],
        'processedAt': order['processedAt'],
        'createdAt': order['createdAt'],
        'updatedAt': order['updatedAt'],
        'phone': order['phone'],
        'presentmentCurrencyCode': currency,
        'cancelledAt': order['cancelledAt'],
        'closed': order['closed'],
        'customer': customer and {
            'id': customer['id'],
            'displayName': ' '.join(filter(None,
                    [customer['firstName'], customer['lastName']])),
            'email': customer['email'],
            'phone': customer['phone'],
            # The sandbox's customers have no locale: the shop's language
            'locale': None,
            },
        'shippingAddress': address(order['shippingAddress']),
        'billingAddress': address(order['billingAddress']),
        'refunds': [],
        'lineItems': connection([line_item(line, currency)
                for line in lines]),
        'shippingLines': connection([{
                    'id': line['id'],
                    'title': line['title'],
                    'code': line['code'],
                    'currentDiscountedPriceSet': presentment(
                        line['discountedPriceSet']),
                    } for line in shipping]),
        'fulfillmentOrders': connection([fulfillment_order(fo)
                for fo in order['fulfillmentOrders']['nodes']]),
        # Paid at once: no payment terms
        'paymentTerms': None,
        'transactions': [{
                'id': t['id'],
                'kind': t['kind'],
                'status': t['status'],
                'gateway': t['gateway'],
                'parentTransaction': t['parentTransaction'],
                'amountSet': presentment(t['amountSet']),
                } for t in order['transactions']],
        'totalPriceSet': presentment(order['totalPriceSet']),
        'currentTotalPriceSet': presentment(order['currentTotalPriceSet']),
        'totalRefundedSet': presentment(order['totalRefundedSet']),
        'statusPageUrl': STATUS_URL.format(shop=shop, number=number,
            id=order['legacyResourceId']),
        }


def address(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    keys = ('name', 'firstName', 'lastName', 'company', 'address1',
        'address2', 'city', 'zip', 'provinceCode', 'country',
        'countryCodeV2', 'phone')
    return {key: value.get(key) for key in keys}


def line_item(line: dict[str, Any], currency: str) -> dict[str, Any]:
    original = Decimal(line['originalTotalSet']['shopMoney']['amount'])
    paid = Decimal(line['discountedTotalSet']['shopMoney']['amount'])
    # Shopify spreads a line's discounts as allocations; the sandbox keeps
    # the discounted total: one allocation of the difference
    allocations = ([{'allocatedAmountSet': money(original - paid, currency)}]
        if original != paid else [])
    return {
        'id': line['id'],
        'sku': line['sku'],
        'name': line['name'],
        'title': line['title'],
        'quantity': line['quantity'],
        'variant': line['variant'],
        'variantTitle': line['variantTitle'],
        'discountAllocations': allocations,
        'originalUnitPriceSet': presentment(line['originalUnitPriceSet']),
        }


def fulfillment_order(fo: dict[str, Any]) -> dict[str, Any]:
    return {
        'id': fo['id'],
        'status': fo['status'],
        'assignedLocation': {'location': {
                'id': fo['assignedLocation']['location']['id']}},
        # The sandbox ships every order
        'deliveryMethod': {'methodType': 'SHIPPING'},
        'lineItems': connection([{
                    'lineItem': {'id': item['lineItem']['id']},
                    'totalQuantity': item['totalQuantity'],
                    'remainingQuantity': item['remainingQuantity'],
                    } for item in fo['lineItems']['nodes']]),
        }


# -- GraphQL: just the documents web_shop_shopify writes ---------------------

class Selection:
    "A field of a query: its name, arguments and sub-selection"

    def __init__(self, name: str, args: dict[str, Any],
            fields: list[Selection]) -> None:
        self.name, self.args, self.fields = name, args, fields

    def __repr__(self) -> str:
        return f'Selection({self.name!r}, {self.args!r}, {self.fields!r})'


def parse(query: str, variables: dict[str, Any]) -> list[Selection]:
    """The root fields of a query's (one) operation, its arguments read
    with the variables. Enough for web_shop_shopify's documents: no
    fragments, aliases, directives or object/list literals."""
    tokens = TOKEN.findall(query)
    position = tokens.index('{')

    def value(i: int) -> tuple[Any, int]:
        token = tokens[i]
        if token.startswith('"'):
            return json.loads(token), i + 1
        if token.startswith('$'):
            return variables.get(token[1:]), i + 1
        if token in ('true', 'false', 'null'):
            return {'true': True, 'false': False}.get(token), i + 1
        if re.fullmatch(r'-?\d+', token):
            return int(token), i + 1
        return token, i + 1  # an enum value

    def selection_set(i: int) -> tuple[list[Selection], int]:
        assert tokens[i] == '{'
        i += 1
        fields = []
        while tokens[i] != '}':
            name, args, sub = tokens[i], {}, []
            i += 1
            if tokens[i] == '(':
                i += 1
                while tokens[i] != ')':
                    key = tokens[i]
                    assert tokens[i + 1] == ':', tokens[i:i + 3]
                    args[key], i = value(i + 2)
            if tokens[i] == ')':
                i += 1
            if i < len(tokens) and tokens[i] == '{':
                sub, i = selection_set(i)
            fields.append(Selection(name, args, sub))
        return fields, i + 1

    return selection_set(position)[0]


def project(value: Any, fields: list[Selection]) -> Any:
    "value cut down to the selection (lists item by item)"
    if value is None or not fields:
        return value
    if isinstance(value, list):
        return [project(item, fields) for item in value]
    result = {}
    for field in fields:
        if field.name not in value:
            raise FakeError(f"the fake has no field {field.name!r}")
        result[field.name] = project(value[field.name], field.fields)
    return result


ID_TERM = re.compile(r'^id:(>=|<=|>|<)?(\d+)$')


def search(orders: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Shopify's order search, the terms web_shop_shopify writes:
    ``-status:cancelled``, ``id:N`` / ``id:>N`` joined by AND or OR"""
    def term(order: dict[str, Any], word: str) -> bool:
        if word == '-status:cancelled':
            return order['cancelledAt'] is None
        match = ID_TERM.match(word)
        if not match:
            raise FakeError(f"the fake does not search by {word!r}")
        number, bound = gid_number(order['id']), int(match.group(2))
        return {None: number == bound, '>': number > bound,
            '>=': number >= bound, '<': number < bound,
            '<=': number <= bound}[match.group(1)]

    alternatives = [part.split(' AND ') for part in text.split(' OR ')]
    return [o for o in orders if not text.strip() or any(
            all(term(o, w.strip()) for w in words)
            for words in alternatives)]


class FakeShopify:
    """The shop's orders and locations, answering GraphQL documents.
    Thread-safe for reading; the orders do not change while served."""

    def __init__(self, shop: str, token: str, orders: list[dict[str, Any]],
            locations: dict[int, str]) -> None:
        self.shop, self.token = shop, token
        self.orders = sorted(orders, key=lambda o: gid_number(o['id']))
        self.by_id = {o['id']: o for o in self.orders}
        self.fulfillment_orders = {fo['id']: fo for o in self.orders
            for fo in o['fulfillmentOrders']['nodes']}
        self.locations = [{'id': f'gid://shopify/Location/{n}', 'name': name}
            for n, name in locations.items()]
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()

    def answer(self, query: str, variables: dict[str, Any]) -> dict:
        data = {}
        for root in parse(query, variables):
            with self.lock:
                self.calls[root.name] += 1
            data[root.name] = project(self.resolve(root), root.fields)
        return {'data': data}

    def resolve(self, root: Selection) -> Any:
        args = root.args
        if root.name == 'orders':
            if args.get('sortKey', 'ID') != 'ID' or args.get('reverse'):
                raise FakeError("the fake sorts orders by ID only")
            if args.get('after') is not None:
                raise FakeError("the fake serves the first page only")
            found = search(self.orders, args.get('query') or '')
            page = found[:int(args['first'])]
            return {'nodes': page, 'pageInfo': {
                    'hasNextPage': len(found) > len(page),
                    'endCursor': page[-1]['id'] if page else None}}
        if root.name == 'order':
            return self.by_id.get(args['id'])
        if root.name == 'fulfillmentOrder':
            return self.fulfillment_orders.get(args['id'])
        if root.name == 'locations':
            return connection(self.locations)
        raise FakeError(f"the fake does not serve {root.name!r}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = 'HTTP/1.1'

    def do_POST(self) -> None:
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        if not API_PATH.match(self.path):
            return self.send(404, {'errors': 'Not Found'})
        if self.headers.get('X-Shopify-Access-Token') != fake.token:
            return self.send(401, {'errors': "[API] Invalid API key or "
                "access token (unrecognized login or wrong password)"})
        try:
            request = json.loads(body)
            answer = fake.answer(request['query'],
                request.get('variables') or {})
        except FakeError as error:
            print(f"fake Shopify: {error}", file=sys.stderr, flush=True)
            answer = {'errors': [{'message': str(error)}]}
        self.send(200, answer)

    def send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeShopify) -> None:
        super().__init__(('127.0.0.1', 0), _Handler)
        self.fake = fake


class Served:
    "The fake on a free loopback port, for a with block"

    def __init__(self, fake: FakeShopify) -> None:
        self.fake = fake
        self.server = _Server(fake)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
            name='fake-shopify', daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
