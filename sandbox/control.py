"""The control API (JSON, under ``/_sandbox/``) for processes that cannot
call the shops' Python API: the demo, the benchmarks, a shell.

=====  ==========================================  =======================
GET    /shops                                      ``{"shops": [...]}``
POST   /shops                                      add one: ``{kind, name,
                                                   token | consumer_key,
                                                   consumer_secret |
                                                   client_id, ..., options}``
GET    /shops/{name}                               the shop
POST   /shops/{name}/products                      ``[{sku, title, price,
                                                   stock, variant_of}]`` or
                                                   ``{generate, seed,
                                                   stock, prefix}``
POST   /shops/{name}/orders/generate               ``{count, seed, status,
                                                   spread_hours,
                                                   many_lines_share}``
POST   /shops/{name}/orders                        one order's overrides
POST   /shops/{name}/orders/malformed              ``{kind, ...}``
POST   /shops/{name}/orders/fba                    Amazon: an FBA order,
                                                   as /orders
GET    /shops/{name}/orders/{id}                   the stored order
POST   /shops/{name}/orders/{id}                   ``{status, ...fields}``
POST   /shops/{name}/orders/{id}/refund            ``{amount, lines, ...}``
POST   /shops/{name}/orders/{id}/deliver           Shopify, Amazon: its
                                                   parcels delivered
POST   /shops/{name}/orders/{id}/cancellation-request
                                                   Amazon: the buyer asks
                                                   ``{reason}``
POST   /shops/{name}/orders/{id}/cancel            Amazon: the seller
                                                   cancels ``{reason}``
POST   /shops/{name}/orders/{id}/returns           Shopify: the customer
                                                   asks a return ``{lines,
                                                   reason, note}``
POST   /shops/{name}/returns/{gid number}          Shopify: ``{status}``
GET    /shops/{name}/inventory                     ``{sku: quantity}``
POST   /shops/{name}/inventory                     set: ``{sku: quantity}``
GET    /shops/{name}/faults                        the knobs
POST   /shops/{name}/faults                        set some knobs
GET    /shops/{name}/calls                         ``{operation: count}``
POST   /shops/{name}/calls/reset
GET    /shops/{name}/rate-limit                    Shopify's bucket,
                                                   Amazon's buckets
POST   /shops/{name}/rate-limit                    Shopify:
                                                   ``{maximum_available,
                                                   restore_rate}``; Amazon:
                                                   ``{rate_scale, levels:
                                                   {operation: level}}``
GET    /shops/{name}/options                       Amazon: its options
PUT    /shops/{name}/options                       set some (checked)
POST   /shops/{name}/tokens/expire                 Amazon: every token
                                                   issued expires
POST   /shops/{name}/orders/{id}/pay-final         Taobao: a step trade's
                                                   final payment
POST   /shops/{name}/orders/{id}/forbid-consign    Taobao: paid, not to be
                                                   shipped
POST   /shops/{name}/orders/{id}/close             Taobao: unpaid, closed
POST   /shops/{name}/orders/{id}/buyer-signed      Taobao: signed for
POST   /shops/{name}/orders/{id}/finish            Taobao: trade finished
GET    /shops/{name}/orders/{id}/receiver          Taobao: the receiver in
                                                   plain text (tests only)
POST   /shops/{name}/orders/{id}/refunds           Taobao: the buyer asks
                                                   a refund ``{sku_or_oid,
                                                   amount, has_good_return,
                                                   reason}``
POST   /shops/{name}/refunds/{refund_id}           Taobao: ``{status}``
POST   /shops/{name}/refunds/{refund_id}/return-goods
                                                   Taobao: ``{sid,
                                                   company_name}``
POST   /shops/{name}/decrypt                       Taobao: ``{"text"}`` →
                                                   ``{"plain"}`` (tests)
=====  ==========================================  =======================

Errors are ``{"error": "..."}`` with 400 (bad input) or 404.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from . import generator
from .shop import Shop
from .web import BadJSON, Request, Response, parse_time


class Host(Protocol):
    "What the control API needs of the sandbox"
    shops: dict[str, Shop]
    kinds: tuple[str, ...]

    def add(self, kind: str, name: str, **options: Any) -> Shop: ...


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def handle(sandbox: Host, request: Request) -> Response:
    for method, pattern, action in ROUTES:
        match = pattern.match(request.path)
        if match and request.method == method:
            try:
                if match.groupdict().get('shop') is not None:
                    shop = sandbox.shops.get(match['shop'])
                    if shop is None:
                        raise ControlError(404, f"no shop {match['shop']!r}")
                    args = [v for k, v in match.groupdict().items()
                        if k != 'shop']
                    return action(shop, request, *args)
                return action(sandbox, request)
            except ControlError as error:
                return Response.json({'error': str(error)}, error.status)
            except BadJSON as error:
                return Response.json({'error': f'bad JSON: {error}'}, 400)
            except KeyError as error:
                return Response.json({'error': f'not found: {error}'}, 404)
            except (TypeError, ValueError) as error:
                return Response.json({'error': str(error)}, 400)
    return Response.json({'error': f'no control route {request.method} '
            f'{request.path}'}, 404)


def _body(request: Request, kind: type = dict) -> Any:
    value = request.json() if request.body.strip() else kind()
    if not isinstance(value, kind):
        raise ControlError(400, f"the body must be a JSON {kind.__name__}")
    return value


def list_shops(sandbox: Host, request: Request) -> Response:
    return Response.json({'shops': [shop.describe()
                for shop in sandbox.shops.values()]})


def add_shop(sandbox: Host, request: Request) -> Response:
    values = _body(request)
    kind = values.pop('kind', None)
    name = values.pop('name', None)
    if not name:
        raise ControlError(400, "a shop needs a name")
    if kind not in sandbox.kinds:
        raise ControlError(
            400, f"kind must be {', '.join(sandbox.kinds)}")
    shop = sandbox.add(kind, name, **values)
    return Response.json(shop.describe(), 201)


def get_shop(shop: Shop, request: Request) -> Response:
    return Response.json(shop.describe())


def add_products(shop: Shop, request: Request) -> Response:
    values = request.json()
    if isinstance(values, dict) and 'generate' in values:
        values = generator.catalog(int(values['generate']),
            values.get('seed', 0), stock=values.get('stock'),
            prefix=values.get('prefix', 'SKU'))
    elif isinstance(values, dict):
        values = values.get('products')
    if not isinstance(values, list):
        raise ControlError(400, "send a list of products, or "
            '{"generate": count}')
    return Response.json({'products': shop.add_products(values)}, 201)


def _times(values: dict[str, Any]) -> dict[str, Any]:
    "created_at/updated_at as ISO text → datetimes"
    for key in ('created_at', 'updated_at'):
        if isinstance(values.get(key), str):
            values[key] = parse_time(values[key])
    return values


def generate_orders(shop: Shop, request: Request) -> Response:
    values = _body(request)
    count = values.pop('count', 1)
    orders = shop.generate_orders(int(count), **values)
    return Response.json({'created': [_order_ref(shop, o) for o in orders]},
        201)


def _order_ref(shop: Shop, order: dict[str, Any]) -> dict[str, Any]:
    if shop.kind == 'taobao':
        return {'id': order['tid_str'], 'updated_at': order['modified']}
    if shop.kind == 'amazon':
        return {'id': order['orderId'], 'updated_at': order['lastUpdatedTime']}
    if shop.kind == 'shopify':
        return {'id': order['id'], 'name': order['name'],
            'updated_at': order['updatedAt']}
    return {'id': order['id'], 'number': order['number'],
        'updated_at': order['date_modified_gmt']}


def create_order(shop: Shop, request: Request) -> Response:
    return Response.json(shop.create_order(**_times(_body(request))), 201)


def create_malformed(shop: Shop, request: Request) -> Response:
    return Response.json(
        shop.create_malformed_order(**_times(_body(request))), 201)


def get_order(shop: Shop, request: Request, order_id: str) -> Response:
    result: dict[str, Any] = {'order': shop.order(order_id)}
    for name in ('fulfilments', 'notes', 'refunds'):
        method = getattr(shop, name, None)
        if method is not None:
            result[name] = method(order_id)
    return Response.json(result)


def update_order(shop: Shop, request: Request, order_id: str) -> Response:
    return Response.json(shop.update_order(order_id, **_body(request)))


def refund(shop: Shop, request: Request, order_id: str) -> Response:
    return Response.json(shop.refund(order_id, **_body(request)), 201)


def _extra(shop: Shop, name: str, what: str) -> Callable[..., Any]:
    "A shop's method only some kinds have (404 on the others)"
    method = getattr(shop, name, None)
    if method is None:
        raise ControlError(404, f"{shop.name} ({shop.kind}) has no {what}")
    return method


def create_fba_order(shop: Shop, request: Request) -> Response:
    return Response.json(_extra(shop, 'create_fba_order', 'FBA orders')(
            **_times(_body(request))), 201)


def request_cancellation(shop: Shop, request: Request,
        order_id: str) -> Response:
    return Response.json(_extra(shop, 'request_cancellation',
            'cancellation requests')(order_id, **_body(request)))


def cancel(shop: Shop, request: Request, order_id: str) -> Response:
    return Response.json(_extra(shop, 'cancel', 'cancellation')(
            order_id, **_body(request)))


def get_options(shop: Shop, request: Request) -> Response:
    return Response.json(_extra(shop, 'options', 'options')())


def set_options(shop: Shop, request: Request) -> Response:
    return Response.json(_extra(shop, 'set_options', 'options')(
            **_body(request)))


def expire_tokens(shop: Shop, request: Request) -> Response:
    _extra(shop, 'expire_tokens', 'tokens')()
    return Response.json({})


def _order_action(name: str, what: str) -> Callable[..., Response]:
    "A route calling a shop's `name`(order_id, **body), on kinds having it"
    def action(shop: Shop, request: Request, order_id: str) -> Response:
        return Response.json(_extra(shop, name, what)(order_id,
                **_body(request)))
    return action


def get_receiver(shop: Shop, request: Request, order_id: str) -> Response:
    return Response.json(_extra(shop, 'receiver', 'receivers')(order_id))


def open_refund(shop: Shop, request: Request, order_id: str) -> Response:
    return Response.json(_extra(shop, 'open_refund', 'refund requests')(
            order_id, **_body(request)), 201)


def set_refund_status(shop: Shop, request: Request, refund_id: str
        ) -> Response:
    return Response.json(_extra(shop, 'set_refund_status', 'refunds')(
            refund_id, _body(request)['status']))


def return_goods(shop: Shop, request: Request, refund_id: str) -> Response:
    return Response.json(_extra(shop, 'return_goods', 'returned goods')(
            refund_id, **_body(request)))


def decrypt(shop: Shop, request: Request) -> Response:
    return Response.json({'plain': _extra(shop, 'decrypt', 'ciphertexts')(
                _body(request)['text'])})


def deliver(shop: Shop, request: Request, order_id: str) -> Response:
    if not hasattr(shop, 'deliver'):
        raise ControlError(404, f"{shop.name} has no deliveries: "
            "WooCommerce core has no delivered state")
    return Response.json(shop.deliver(order_id))


def _returns_shop(shop: Shop) -> Any:
    if not hasattr(shop, 'request_return'):
        raise ControlError(404, f"{shop.name} has no returns: WooCommerce "
            "core has none")
    return shop


def request_return(shop: Shop, request: Request, order_id: str) -> Response:
    return Response.json(
        _returns_shop(shop).request_return(order_id, **_body(request)), 201)


def set_return_status(shop: Shop, request: Request, number: str
        ) -> Response:
    return Response.json(_returns_shop(shop).set_return_status(
            f'gid://shopify/Return/{number}', _body(request)['status']))


def get_inventory(shop: Shop, request: Request) -> Response:
    return Response.json(shop.inventory_levels())


def set_inventory(shop: Shop, request: Request) -> Response:
    values = _body(request)
    for sku, quantity in values.items():
        shop.set_inventory(sku, int(quantity))
    return Response.json(shop.inventory_levels())


def get_faults(shop: Shop, request: Request) -> Response:
    return Response.json(shop.faults.as_dict())


def set_faults(shop: Shop, request: Request) -> Response:
    values = _body(request)
    values.pop('fired', None)
    shop.faults.set(**values)
    return Response.json(shop.faults.as_dict())


def get_calls(shop: Shop, request: Request) -> Response:
    with shop.lock:
        return Response.json(dict(shop.calls))


def reset_calls(shop: Shop, request: Request) -> Response:
    shop.reset_calls()
    return Response.json({})


def get_rate_limit(shop: Shop, request: Request) -> Response:
    return Response.json(_extra(shop, 'rate_limit', 'rate limit')())


def set_rate_limit(shop: Shop, request: Request) -> Response:
    return Response.json(_extra(shop, 'set_rate_limit', 'rate limit')(
            **_body(request)))


SHOP = r'^/shops/(?P<shop>[^/]+)'
# Numbers, and Amazon's 3-7-7 digit orderIds
ORDER = SHOP + r'/orders/(?P<order>\d[\d-]*)'
ROUTES: list[tuple[str, re.Pattern, Callable[..., Response]]] = [
    (method, re.compile(pattern + '/?$'), action)
    for method, pattern, action in [
        ('GET', r'^/shops', list_shops),
        ('POST', r'^/shops', add_shop),
        ('GET', SHOP, get_shop),
        ('POST', SHOP + '/products', add_products),
        ('POST', SHOP + '/orders/generate', generate_orders),
        ('POST', SHOP + '/orders/malformed', create_malformed),
        ('POST', SHOP + '/orders/fba', create_fba_order),
        ('POST', SHOP + '/orders', create_order),
        ('GET', ORDER, get_order),
        ('POST', ORDER, update_order),
        ('POST', ORDER + '/refund', refund),
        ('POST', ORDER + '/deliver', deliver),
        ('POST', ORDER + '/cancellation-request', request_cancellation),
        ('POST', ORDER + '/cancel', cancel),
        ('POST', ORDER + '/returns', request_return),
        ('POST', SHOP + r'/returns/(?P<number>\d+)', set_return_status),
        ('GET', SHOP + '/inventory', get_inventory),
        ('POST', SHOP + '/inventory', set_inventory),
        ('GET', SHOP + '/faults', get_faults),
        ('POST', SHOP + '/faults', set_faults),
        ('GET', SHOP + '/calls', get_calls),
        ('POST', SHOP + '/calls/reset', reset_calls),
        ('GET', SHOP + '/rate-limit', get_rate_limit),
        ('POST', SHOP + '/rate-limit', set_rate_limit),
        ('GET', SHOP + '/options', get_options),
        ('PUT', SHOP + '/options', set_options),
        ('POST', SHOP + '/tokens/expire', expire_tokens),
        ('POST', ORDER + '/pay-final', _order_action('pay_final',
                'step trades')),
        ('POST', ORDER + '/forbid-consign', _order_action('forbid_consign',
                'forbidden shipping')),
        ('POST', ORDER + '/close', _order_action('close', 'closing')),
        ('POST', ORDER + '/buyer-signed', _order_action('buyer_signed',
                'signing')),
        ('POST', ORDER + '/finish', _order_action('finish', 'finishing')),
        ('GET', ORDER + '/receiver', get_receiver),
        ('POST', ORDER + '/refunds', open_refund),
        ('POST', SHOP + r'/refunds/(?P<refund>\d+)', set_refund_status),
        ('POST', SHOP + r'/refunds/(?P<refund>\d+)/return-goods',
            return_goods),
        ('POST', SHOP + '/decrypt', decrypt),
        ]]
