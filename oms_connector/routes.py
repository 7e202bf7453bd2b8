"""The ERP contract: the HTTP API the sync agent calls (DESIGN.md §5).

Every route lives under ``/<database>/oms/v1/``, takes and returns JSON,
authenticates with an OMS user-application key (``Authorization: Bearer``)
scoped to channels, and answers errors as
``{"error": {"code", "message", "details"}}``. ``openapi.yaml`` beside this
file describes each route; a test keeps the two in step.
"""
import json
import logging
from collections import Counter
from functools import wraps
from http import HTTPStatus

import pydantic
import yaml
from sql.aggregate import Count
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from trytond import backend
from trytond.protocols.jsonrpc import JSONEncoder
from trytond.protocols.wrappers import (
    set_max_request_size,
    with_pool,
    with_transaction,
)
from trytond.transaction import Transaction
from trytond.wsgi import app

from oms_contract import openapi
from oms_contract.models import (
    ID_LENGTH,
    MAX_DEPTH,
    FulfilmentAck,
    OrderBatch,
    RefundAck,
    ReturnBatch,
    StockAck,
    depth,
)

logger = logging.getLogger(__name__)
PREFIX = '/<database_name>/oms/v1'
# A batch of orders or returns may carry many raw payloads
MAX_BATCH_BYTES = 64 * 1024 * 1024
# A customer's lookup or message
MAX_PUBLIC_BYTES = 64 * 1024
# Payloads nest MAX_DEPTH deep at most, within a few levels of batch
MAX_BODY_DEPTH = MAX_DEPTH + 8
# Items one call may list at most (?limit=)
MAX_LIMIT = 10_000
OPENAPI = openapi.DOCUMENT


class ApiError(Exception):
    "An answer other than success, raised to roll back what was written"

    def __init__(self, status, code, message, details=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details if details is not None else {}

    def response(self):
        return json_response({'error': {
                    'code': self.code,
                    'message': self.message,
                    'details': self.details,
                    }}, self.status)


def json_response(data, status=HTTPStatus.OK):
    return Response(
        json.dumps(data, cls=JSONEncoder), status=status,
        content_type='application/json')


def http_error(error):
    "A web server's error (werkzeug's: 404, 405, 413...) answered in JSON"
    response = ApiError(error.code, error.name.lower().replace(' ', '_'),
        error.description or error.name).response()
    for header in ('Allow', 'Retry-After'):
        if header in error.get_headers():
            response.headers[header] = dict(error.get_headers())[header]
    return response


def http_errors_as_json(func):
    """Answer in JSON what trytond's wrappers refuse outside the route
    (an unknown database, a body too large)"""
    @wraps(func)
    def wrapper(request, *args, **kwargs):
        try:
            return func(request, *args, **kwargs)
        except HTTPException as error:
            return http_error(error)
    return wrapper


def json_errors(func):
    """Answer ApiError and any failure as JSON. Sits outside the transaction,
    so the transaction has been rolled back when an error gets here (and
    inside with_pool, which would turn it into an HTML page)."""
    @wraps(func)
    def wrapper(request, *args, **kwargs):
        try:
            result = func(request, *args, **kwargs)
        except ApiError as error:
            return error.response()
        except HTTPException as error:
            return http_error(error)
        except backend.DatabaseOperationalError:
            # Other transactions held the rows (stock being reserved by
            # another channel's import) through all of Tryton's retries:
            # nothing was written, and the agent retries a 503.
            logger.info("OMS route %s busy", request.path, exc_info=True)
            response = ApiError(
                HTTPStatus.SERVICE_UNAVAILABLE, 'busy',
                "The ERP is busy with concurrent work on the same records; "
                "nothing was written. Retry shortly.").response()
            response.headers['Retry-After'] = '1'
            return response
        except Exception:
            logger.exception("OMS route %s failed", request.path)
            return ApiError(
                HTTPStatus.INTERNAL_SERVER_ERROR, 'internal_error',
                "The ERP could not complete the request; nothing was "
                "written. Retry later.").response()
        if isinstance(result, Response):
            return result
        return json_response(result)
    return wrapper


def bearer_key(request):
    header = request.headers.get('Authorization', '')
    scheme, _, value = header.partition(' ')
    if scheme.lower() == 'bearer' and value.strip():
        return value.strip()
    if scheme.lower() == 'basic' and request.authorization:
        return request.authorization.password
    return None


def api_key(func):
    """Authenticate the OMS key and pass the key's application record on.
    Unknown channels answer 404, channels outside the key's scope 403."""
    @wraps(func)
    def wrapper(request, pool, *args, **kwargs):
        UserApplication = pool.get('res.user.application')
        key = bearer_key(request)
        if not key:
            raise ApiError(
                HTTPStatus.UNAUTHORIZED, 'unauthorized',
                "Send the OMS API key as 'Authorization: Bearer <key>'.")
        application = UserApplication.check(key, 'oms')
        if not application or not application.user:
            raise ApiError(
                HTTPStatus.UNAUTHORIZED, 'unauthorized',
                "The API key is unknown, cancelled or not an OMS key.")
        channel_code = kwargs.pop('channel_code', None)
        if channel_code is not None:
            kwargs['channel'] = scoped_channel(
                pool, application, channel_code)
        with Transaction().set_user(application.user.id):
            return func(request, pool, application, *args, **kwargs)
    return wrapper


def oms_route(path, methods, max_size=MAX_BATCH_BYTES, **transaction):
    """An OMS API route (PREFIX + path), as every one is served: JSON in
    and out (errors too), in a transaction (`transaction`: with_transaction's
    arguments), authenticated by an OMS key, with its channel checked
    against the key's scope (see api_key); `max_size`: the largest body
    (read only once the key is checked)"""
    def decorator(func):
        route = api_key(func)
        route = with_transaction(**transaction)(route)
        return public_route(path, methods, max_size)(route)
    return decorator


def public_route(path, methods, max_size=MAX_PUBLIC_BYTES):
    """A route under PREFIX answering JSON, errors too, given the pool.
    Its own body size spares trytond from trying the request's Basic
    credentials as a user login (which its login limiter counts)."""
    def decorator(func):
        route = json_errors(func)
        route = with_pool(route)
        route = http_errors_as_json(route)
        route = set_max_request_size(max_size)(route)
        return app.route(PREFIX + path, methods=methods)(route)
    return decorator


def scoped_channel(pool, application, code):
    Channel = pool.get('oms.channel')
    # No channel code holds NUL (which PostgreSQL cannot even compare)
    channel = (Channel.by_code(code)
        if '\x00' not in code and len(code) <= ID_LENGTH else None)
    if channel is None:
        raise ApiError(
            HTTPStatus.NOT_FOUND, 'unknown_channel',
            f"No active channel has the code '{code}'.", {'channel': code})
    if not application.may_use_channel(channel):
        raise ApiError(
            HTTPStatus.FORBIDDEN, 'channel_forbidden',
            f"This API key may not use channel '{code}'.", {'channel': code})
    return channel


def read_json(request, model):
    "The request body validated against a pydantic model, else a 400"
    too_deep = ApiError(
        HTTPStatus.BAD_REQUEST, 'too_deep',
        f"The request body nests deeper than {MAX_BODY_DEPTH} levels.",
        {'max_depth': MAX_BODY_DEPTH})
    try:
        data = json.loads(request.get_data(as_text=True) or 'null')
    except RecursionError:
        raise too_deep from None
    except ValueError as error:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'invalid_json',
            "The request body is not valid JSON.",
            {'error': str(error)}) from None
    if depth(data) > MAX_BODY_DEPTH:
        raise too_deep
    return validated(model, data, "The request body does not follow the "
        "schema.")


def read_query(request, model):
    "The query string validated against a pydantic model, else a 400"
    return validated(model, request.args.to_dict(),
        "The query string is not valid.")


def validated(model, data, message):
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as error:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'invalid_request', message,
            {'errors': [{
                        'location': '.'.join(str(p) for p in e['loc']),
                        'message': e['msg'],
                        } for e in error.errors()]}) from None


class OrdersQuery(pydantic.BaseModel):
    "The query string of POST .../orders"
    dry_run: bool = False


class SummaryQuery(pydantic.BaseModel):
    "The query string of GET .../summary"
    external_ids: bool = False


class StockQuery(pydantic.BaseModel):
    "The query string of GET .../stock"
    all: bool = False
    limit: int | None = pydantic.Field(None, ge=0, le=MAX_LIMIT)


class FulfilmentsQuery(pydantic.BaseModel):
    "The query string of GET .../fulfilments"
    limit: int | None = pydantic.Field(None, ge=0, le=MAX_LIMIT)


class RefundsQuery(pydantic.BaseModel):
    "The query string of GET .../refunds"
    limit: int | None = pydantic.Field(None, ge=0, le=MAX_LIMIT)


def cursor_answer(channel):
    return {
        'channel': channel.code,
        'cursor': channel.cursor,
        'updated_at': (channel.cursor_updated.isoformat() + 'Z'
            if channel.cursor_updated else None),
        'returns_cursor': channel.returns_cursor,
        }


@oms_route('/channels', ['GET'])
def list_channels(request, pool, application):
    "The channels this key may use, with their settings the agent needs"
    return {'channels': [{
                'code': c.code,
                'name': c.name,
                'kind': c.kind,
                'currency': c.currency.code,
                'reserve_stock': c.reserve_stock,
                'cursor': c.cursor,
                } for c in application.oms_channels if c.active]}


@oms_route('/channels/<channel_code>/cursor', ['GET'])
def get_cursor(request, pool, application, channel):
    return cursor_answer(channel)


@oms_route('/channels/<channel_code>/orders', ['POST'],
    max_size=MAX_BATCH_BYTES)
def post_orders(request, pool, application, channel):
    """Import a batch of orders and store the channel's new cursor, all in
    one transaction: a failure writes nothing and leaves the cursor. A dry
    run answers the same and then rolls everything back."""
    Importer = pool.get('oms.order.importer')
    query = read_query(request, OrdersQuery)
    batch = read_json(request, OrderBatch)
    foreign = sorted({o.channel for o in batch.orders} - {channel.code})
    if foreign:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'channel_mismatch',
            "Every order must belong to the channel of the URL.",
            {'channel': channel.code, 'found': foreign})
    results = Importer.import_batch(channel, batch)
    answer = cursor_answer(channel)
    answer['results'] = results
    if query.dry_run:
        transaction = Transaction()
        transaction.rollback()
        transaction.tasks.clear()
        answer['dry_run'] = True
    return answer


@oms_route('/channels/<channel_code>/summary', ['GET'])
def get_summary(request, pool, application, channel):
    """The channel's orders in the ERP: how many, by OMS state, and those
    on hold with their reasons (the newest 100)"""
    Sale = pool.get('sale.sale')
    query = read_query(request, SummaryQuery)
    sale = Sale.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*sale.select(
            sale.oms_state, Count(sale.id),
            where=sale.oms_channel == channel.id,
            group_by=[sale.oms_state]))
    states = dict(cursor)
    on_hold = [
        ('oms_channel', '=', channel.id),
        ('oms_exception', '=', True),
        ]
    held = Sale.search(on_hold, order=[('id', 'DESC')], limit=100)
    held_count = Sale.search_count(on_hold)
    answer = {
        'channel': channel.code,
        'orders': sum(states.values()),
        'states': states,
        'held': held_count,
        'exceptions': [{
                'external_id': s.oms_external_id,
                'number': s.reference,
                'sale': s.number,
                'kind': s.oms_exception_kind,
                'reason': s.oms_exception_reason,
                } for s in held],
        'external_ids': None,
        }
    if query.external_ids:
        cursor.execute(*sale.select(sale.oms_external_id,
                where=sale.oms_channel == channel.id,
                order_by=[sale.id.asc]))
        answer['external_ids'] = [r for r, in cursor]
    return answer


# Asking brings the levels up to date with the stock change log.
@oms_route('/channels/<channel_code>/stock', ['GET'], readonly=False)
def get_stock(request, pool, application, channel):
    """The channel's stock levels that differ from what it shows (every
    level with all=1, for a full reconciliation), by SKU and warehouse"""
    Level = pool.get('oms.listing.level')
    query = read_query(request, StockQuery)
    levels = Level.to_push(channel, all=query.all)
    pending = Level.pending_count(channel) if query.all else len(levels)
    shipping = channel.warehouse.code
    return {
        'levels': [{
                'sku': level.listing.sku,
                'quantity': level.quantity,
                'previous': level.channel_quantity,
                'warehouse': (level.warehouse.code if level.warehouse
                    else shipping),
                'version': level.version,
                'external_id': level.listing.external_id,
                'external_variant_id': level.listing.external_variant_id,
                } for level in levels[:query.limit]],
        'pending': pending,
        }


@oms_route('/channels/<channel_code>/stock/ack', ['POST'])
def ack_stock(request, pool, application, channel):
    """Record what the channel accepted and refused of a stock push, and
    what a reconciliation found drifted, in one transaction: an unknown
    level writes nothing."""
    Level = pool.get('oms.listing.level')
    ack = read_json(request, StockAck)
    pushed = {(i.sku, i.warehouse): i for i in ack.pushed}
    failed = {(i.sku, i.warehouse): (i.reason.value, i.error)
        for i in ack.failed}
    if both := sorted(pushed.keys() & failed.keys(), key=str):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'invalid_request',
            "A level was both pushed and failed.",
            {'errors': [{'location': 'failed', 'message': (
                                f"SKU '{sku}' is also pushed")}
                    for sku, _ in both]})
    drift = {(i.sku, i.warehouse): i for i in ack.drift}
    keys = pushed.keys() | failed.keys() | drift.keys()
    # Inactive listings too: one deactivated since the push is no error.
    with Transaction().set_context(active_test=False):
        levels = levels_by_key(channel, Level.search([
                    ('channel', '=', channel.id),
                    ('listing.sku', 'in', list({sku for sku, _ in keys})),
                    ], order=[('id', 'ASC')]))
    if unknown := sorted(keys - levels.keys(), key=str):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'unknown_sku',
            f"Channel '{channel.code}' has no stock level for: "
            f"{', '.join(key_name(k) for k in unknown)}. "
            "Nothing was recorded.",
            {'channel': channel.code,
                'skus': sorted({sku for sku, _ in unknown})})
    # Drift first: what the channel was found showing, then what it
    # accepted since.
    Level.record_drift(
        {levels[k]: (i.expected, i.found) for k, i in drift.items()})
    Level.record_push(
        {levels[k]: (i.quantity, i.version, i.previous)
            for k, i in pushed.items()},
        {levels[k]: refusal for k, refusal in failed.items()})
    return {
        'acknowledged': len(pushed),
        'failed': len(failed),
        'pending': Level.pending_count(channel),
        }


def levels_by_key(channel, levels):
    """The levels by (SKU, warehouse code) as the agent names them. A SKU
    with one level also answers to no warehouse, and a level for all the
    channel's warehouses to the code of the one that ships."""
    shipping = channel.warehouse.code
    keys, count = {}, Counter(level.listing.sku for level in levels)
    for level in levels:
        sku = level.listing.sku
        code = level.warehouse.code if level.warehouse else shipping
        keys[sku, code] = level
        if count[sku] == 1:
            keys[sku, None] = level
    return keys


def key_name(key):
    sku, warehouse = key
    return f"{sku} @ {warehouse}" if warehouse else sku


@oms_route('/channels/<channel_code>/fulfilments', ['GET'])
def get_fulfilments(request, pool, application, channel):
    """The channel's parcels to report: fulfilments waiting, and failed ones
    whose next attempt has come, oldest first"""
    Fulfilment = pool.get('oms.fulfilment')
    query = read_query(request, FulfilmentsQuery)
    fulfilments = Fulfilment.to_push(channel, limit=query.limit)
    return {
        'fulfilments': [fulfilment_answer(f) for f in fulfilments],
        'pending': Fulfilment.outbox_pending(channel),
        }


def fulfilment_answer(fulfilment):
    "A fulfilment as the agent reads it (oms_contract.models.Fulfilment)"
    carrier = fulfilment.carrier
    return {
        'id': fulfilment.id,
        'key': fulfilment.key,
        'order': {
            'external_id': fulfilment.sale.oms_external_id,
            'number': fulfilment.sale.reference,
            },
        'carrier': carrier.code if carrier else None,
        'carrier_name': carrier.name if carrier else None,
        'tracking_number': fulfilment.tracking_number,
        'tracking_url': fulfilment.tracking_url,
        'shipped_at': fulfilment.shipped_at.isoformat() + 'Z',
        # SQLite reads booleans back as 0 and 1
        'complete': bool(fulfilment.complete),
        'notify_customer': bool(fulfilment.notify_customer),
        'lines': [{
                'external_id': line.external_id,
                'sku': line.sku,
                'quantity': line.quantity,
                } for line in fulfilment.lines],
        'attempts': fulfilment.attempts,
        }


@oms_route('/channels/<channel_code>/fulfilments/ack', ['POST'])
def ack_fulfilments(request, pool, application, channel):
    """Record which fulfilments the channel accepted and which it refused,
    in one transaction: a fulfilment of another channel writes nothing.
    Acknowledging a done fulfilment again changes nothing."""
    Fulfilment = pool.get('oms.fulfilment')
    pushed, failed = acknowledged(channel, read_json(request, FulfilmentAck),
        'fulfilment', lambda ids: Fulfilment.search([
                ('channel', '=', channel.id),
                ('id', 'in', ids),
                ]), lambda failure: failure.error)
    with Transaction().set_context(oms_source=f'channel: {channel.code}'):
        Fulfilment.record_push(pushed, failed)
    return {
        'recorded': len(pushed) + len(failed),
        'pending': Fulfilment.outbox_pending(channel),
        }


def acknowledged(channel, ack, kind, search, failure):
    """What an acknowledgement says of each record it names: ({record:
    channel id} pushed, {record: failure(item)} failed), the records found
    by `search(ids)`. Refused whole (400) when a record is both pushed and
    failed or is not one of the channel's."""
    pushed = {i.id: i.external_id for i in ack.pushed}
    failed = {i.id: failure(i) for i in ack.failed}
    if both := sorted(pushed.keys() & failed.keys()):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'invalid_request',
            f"A {kind} was both pushed and failed.",
            {'errors': [{'location': 'failed', 'message': (
                                f"{kind} {i} is also pushed")}
                    for i in both]})
    ids = pushed.keys() | failed.keys()
    found = {r.id: r for r in search(sorted(ids))}
    if unknown := sorted(ids - found.keys()):
        raise ApiError(
            HTTPStatus.BAD_REQUEST, f'unknown_{kind}',
            f"Channel '{channel.code}' has no {kind} "
            f"{', '.join(map(str, unknown))}. Nothing was recorded.",
            {'channel': channel.code, 'ids': unknown})
    return ({found[i]: value for i, value in pushed.items()},
        {found[i]: value for i, value in failed.items()})


@oms_route('/channels/<channel_code>/returns', ['POST'],
    max_size=MAX_BATCH_BYTES)
def post_returns(request, pool, application, channel):
    """Record a batch of the channel's refunds and returns as return
    requests and store the channel's new returns cursor, in one
    transaction. Each is bound by its id: posted again, it creates
    nothing."""
    Importer = pool.get('oms.return.importer')
    batch = read_json(request, ReturnBatch)
    foreign = sorted({r.channel for r in batch.returns} - {channel.code})
    if foreign:
        raise ApiError(
            HTTPStatus.BAD_REQUEST, 'channel_mismatch',
            "Every refund and return must belong to the channel of the "
            "URL.", {'channel': channel.code, 'found': foreign})
    results = Importer.import_batch(channel, batch)
    return {
        'channel': channel.code,
        'results': results,
        'returns_cursor': channel.returns_cursor,
        }


@oms_route('/channels/<channel_code>/refunds', ['GET'])
def get_refunds(request, pool, application, channel):
    """The refunds issued in the ERP to make on the channel: new ones, and
    refused ones whose next attempt has come"""
    Return = pool.get('oms.return')
    query = read_query(request, RefundsQuery)
    rmas = Return.refunds_to_push(channel, limit=query.limit)
    return {
        'refunds': [r.refund_answer() for r in rmas],
        'pending': Return.outbox_pending(channel),
        }


@oms_route('/channels/<channel_code>/refunds/ack', ['POST'])
def ack_refunds(request, pool, application, channel):
    """Record which refunds the channel made and which it refused (or
    cannot take: refunded by hand), in one transaction: a refund of
    another channel writes nothing."""
    Return = pool.get('oms.return')
    pushed, failed = acknowledged(channel, read_json(request, RefundAck),
        'refund', lambda ids: Return.search([
                ('channel', '=', channel.id),
                ('id', 'in', ids),
                ('refund_state', '!=', None),
                ]), lambda failure: (failure.error, failure.manual))
    with Transaction().set_context(oms_source=f'channel: {channel.code}'):
        Return.record_refund_push(pushed, failed)
    return {
        'recorded': len(pushed) + len(failed),
        'pending': Return.outbox_pending(channel),
        }


@public_route('/openapi.json', ['GET'])
def get_openapi(request, pool):
    "The contract itself, for agents and tools (needs no key)"
    with OPENAPI.open() as stream:
        return yaml.safe_load(stream)


METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']


@app.route('/<database_name>/oms/<path:rest>', methods=METHODS)
@set_max_request_size(MAX_PUBLIC_BYTES)
def no_route(request, database_name, rest):
    """What no route answers under /oms/: 405 where the path takes other
    methods, else 404, in JSON like every answer of the API"""
    adapter = app.url_map.bind_to_environ(request.environ)
    allowed = [method for method in METHODS
        if adapter.match(request.path, method=method)[0] is not no_route]
    if allowed:
        response = ApiError(HTTPStatus.METHOD_NOT_ALLOWED,
            'method_not_allowed', f"{request.path} takes "
            f"{', '.join(allowed)}, not {request.method}.",
            {'allowed': allowed}).response()
        response.headers['Allow'] = ', '.join(allowed)
        return response
    return ApiError(HTTPStatus.NOT_FOUND, 'not_found',
        f"Nothing is served at {request.path}.").response()
