"""The customer's order-status page and its JSON twin: public routes (no
key) where a customer finds their order by its number and e-mail address,
or by the link in their e-mails, sees its state, history and tracking, and
asks a question about it.

    POST /<database>/oms/v1/lookup            JSON (openapi.yaml)
    POST /<database>/oms/v1/lookup/messages   JSON
    POST /<database>/oms/v1/lookup/returns    JSON
    GET|POST /<database>/oms/status           the page
    POST /<database>/oms/status/messages      the page's question form
    POST /<database>/oms/status/returns       the page's return form

A wrong number/e-mail pair gets the same answer as an unknown order, and
every client address is rate limited (models/orders/order_lookup.py)."""
import datetime as dt
import html
from http import HTTPStatus

import pydantic
from werkzeug.wrappers import Response

from trytond.exceptions import UserError
from trytond.protocols.wrappers import (
    set_max_request_size,
    with_pool,
    with_transaction,
)
from trytond.wsgi import app

from oms_contract.models import (
    MAX_MESSAGE,
    LookupRequest,
    MessageRequest,
    ReturnRequest,
    storable,
)

from .models.orders.order_import import savepoint
from .models.orders.order_lookup import RateLimited
from .routes import (
    MAX_PUBLIC_BYTES,
    ApiError,
    json_response,
    public_route,
    read_json,
)

PAGE = '/<database_name>/oms/status'
NOT_FOUND = "No order matches these details."
TOO_MANY = "Too many attempts: please try again later."
RECEIVED = "Thank you: your message has reached the shop."
RETURN_RECEIVED = ("Thank you: your return request {number} has reached the "
    "shop. We will e-mail you when it is answered.")


def client_of(request):
    "The customer's address (trytond's [web] proxy settings apply)"
    return request.remote_addr or 'unknown'


def find(pool, request, query):
    Lookup = pool.get('oms.order.lookup')
    return Lookup.find(client_of(request), number=query.number,
        email=query.email, token=query.token)


def too_many(error, response):
    response.headers['Retry-After'] = str(error.retry_after)
    return response


def private(response):
    """Order pages hold personal data and a token in the URL: keep them so.
    The token never leaves the site in a Referer; 'no-referrer' would also
    make browsers post the page's forms with 'Origin: null', which trytond
    refuses."""
    response.headers.update({
            'Cache-Control': 'no-store',
            'Referrer-Policy': 'same-origin',
            'X-Content-Type-Options': 'nosniff',
            })
    return response


# The JSON routes. Failed lookups must be remembered, so they answer
# rather than raise (an ApiError would roll the attempt back).

def lookup_refusal(pool, request, query):
    """The order of the query, or the answer refusing it: too many
    attempts (429) or no such order (404, whatever was wrong)"""
    try:
        sale = find(pool, request, query)
    except RateLimited as error:
        return None, too_many(error, ApiError(
                HTTPStatus.TOO_MANY_REQUESTS, 'rate_limited',
                TOO_MANY).response())
    if sale is None:
        return None, ApiError(
            HTTPStatus.NOT_FOUND, 'not_found', NOT_FOUND).response()
    return sale, None


@public_route('/lookup', ['POST'])
@with_transaction(readonly=False)
def lookup(request, pool):
    "An order's state, history and tracking, for its customer"
    Lookup = pool.get('oms.order.lookup')
    sale, refusal = lookup_refusal(
        pool, request, read_json(request, LookupRequest))
    if refusal:
        return private(refusal)
    return private(json_response({'order': Lookup.status(sale)}))


@public_route('/lookup/messages', ['POST'])
@with_transaction(readonly=False)
def post_message(request, pool):
    "A question from the customer, kept on the order for the staff"
    Message = pool.get('oms.order.message')
    query = read_json(request, MessageRequest)
    sale, refusal = lookup_refusal(pool, request, query)
    if refusal:
        return refusal
    Message.receive(sale, query.message, 'status_page')
    return json_response({'received': True}, HTTPStatus.CREATED)


@public_route('/lookup/returns', ['POST'])
@with_transaction(readonly=False)
def post_return(request, pool):
    """A return request from the customer: approved by the shop's policy
    or by staff, told to the customer by e-mail"""
    query = read_json(request, ReturnRequest)
    sale, refusal = lookup_refusal(pool, request, query)
    if refusal:
        return private(refusal)
    rma, error = customer_return(pool, sale,
        {line.line: line.quantity for line in query.lines},
        query.reason, query.resolution, query.description)
    if error:
        return ApiError(HTTPStatus.BAD_REQUEST, 'invalid_return',
            error).response()
    return private(json_response(
            {'return': rma.customer_view()}, HTTPStatus.CREATED))


def customer_return(pool, sale, quantities, reason, resolution,
        description):
    """The request made, or why it cannot be: nothing of it is kept then
    (the lookup attempt is)"""
    Return = pool.get('oms.return')
    lines = dict(enumerate(sale.line_lines, 1))
    if unknown := sorted(set(quantities) - set(lines)):
        return None, (f"Order {sale.reference or sale.number} has no line "
            f"{', '.join(map(str, unknown))}.")
    try:
        with savepoint('customer_return'):
            rma = Return.request_by_customer(sale,
                {lines[p]: q for p, q in quantities.items()},
                reason, resolution, description)
    except UserError as error:
        return None, error.message
    return rma, None


# The page: plain HTML forms, no script.

@app.route(PAGE, methods=['GET', 'POST'])
@set_max_request_size(MAX_PUBLIC_BYTES)
@with_pool
@with_transaction(readonly=False)
def status_page(request, pool):
    "Find an order (form), or show it"
    Lookup = pool.get('oms.order.lookup')
    base = page_url(request, pool)
    token = request.args.get('token')
    form = request.form if request.method == 'POST' else {}
    if not token and not form:
        return page(lookup_form(base))
    try:
        query = LookupRequest(token=token, number=form.get('number'),
            email=form.get('email'))
    except pydantic.ValidationError:
        return page(lookup_form(base,
                "Please give your order number and e-mail address."),
            HTTPStatus.BAD_REQUEST)
    try:
        sale = find(pool, request, query)
    except RateLimited as error:
        return too_many(error, page(lookup_form(base, TOO_MANY),
                HTTPStatus.TOO_MANY_REQUESTS))
    if sale is None:
        return page(lookup_form(base, NOT_FOUND, query.number,
                query.email), HTTPStatus.NOT_FOUND)
    return page(
        order_html(base, Lookup.status(sale), sale.oms_access_token))


@app.route(PAGE + '/messages', methods=['POST'])
@set_max_request_size(MAX_PUBLIC_BYTES)
@with_pool
@with_transaction(readonly=False)
def status_page_message(request, pool):
    "The page's question form"
    Lookup = pool.get('oms.order.lookup')
    base = page_url(request, pool)
    Message = pool.get('oms.order.message')
    text = (request.form.get('message') or '').strip()
    sale, refusal = form_order(pool, request, base)
    if refusal:
        return refusal
    notice = None
    if text:
        Message.receive(sale, storable(text, MAX_MESSAGE), 'status_page')
        notice = RECEIVED
    return page(
        order_html(base, Lookup.status(sale), sale.oms_access_token, notice))


@app.route(PAGE + '/returns', methods=['POST'])
@set_max_request_size(MAX_PUBLIC_BYTES)
@with_pool
@with_transaction(readonly=False)
def status_page_return(request, pool):
    "The page's return form"
    Lookup = pool.get('oms.order.lookup')
    base = page_url(request, pool)
    form = request.form
    sale, refusal = form_order(pool, request, base)
    if refusal:
        return refusal
    quantities = {}
    for name, value in form.items():
        if name.startswith('quantity-') and value.strip():
            try:
                quantities[int(name[9:])] = int(value)
            except ValueError:
                quantities = None
                break
    resolution = form.get('resolution', 'refund')
    if not quantities or any(q < 0 for q in quantities.values()):
        rma, error = None, "Please say how many of which items come back."
    elif resolution not in {'refund', 'exchange'}:
        rma, error = None, "Please choose a refund or an exchange."
    else:
        rma, error = customer_return(pool, sale, quantities,
            form.get('reason') or None, resolution,
            storable((form.get('description') or '').strip(), MAX_MESSAGE)
            or None)
    notice = RETURN_RECEIVED.format(number=rma.number) if rma else None
    return page(order_html(base, Lookup.status(sale), sale.oms_access_token,
            notice, error, about='return'),
        HTTPStatus.OK if rma else HTTPStatus.BAD_REQUEST)


def form_order(pool, request, base):
    """The order of a form posted from its page (by the page's token), or
    the page refusing it: too many attempts, or no such order"""
    try:
        sale = find(pool, request, LookupRequest(
                token=request.form.get('token') or None))
    except pydantic.ValidationError:
        sale = None
    except RateLimited as error:
        return None, too_many(error, page(lookup_form(base, TOO_MANY),
                HTTPStatus.TOO_MANY_REQUESTS))
    if sale is None:
        return None, page(lookup_form(base, NOT_FOUND), HTTPStatus.NOT_FOUND)
    return sale, None


def page_url(request, pool):
    return f'{request.script_root}/{pool.database_name}/oms/status'


def page(body, status=HTTPStatus.OK):
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Order status</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;
padding:0 1rem;color:#222}}
label{{display:block;margin:.8rem 0 .2rem}}
input,textarea{{width:100%;padding:.4rem;box-sizing:border-box}}
button{{margin-top:1rem;padding:.5rem 1.2rem}}
.notice{{background:#eef6ee;padding:.6rem}}
.error{{background:#fbecec;padding:.6rem}}
table{{border-collapse:collapse;width:100%}}
td,th{{text-align:left;padding:.3rem;border-bottom:1px solid #ddd}}
</style></head>
<body>
{body}
</body></html>"""
    response = Response(document, status=status,
        content_type='text/html; charset=utf-8')
    response.headers['Content-Security-Policy'] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    return private(response)


def lookup_form(base, error=None, number=None, email=None):
    e = html.escape
    alert = f'<p class="error">{e(error)}</p>' if error else ''
    return f"""<h1>Where is my order?</h1>
{alert}
<form method="post" action="{e(base)}">
<label for="number">Order number</label>
<input id="number" name="number" required maxlength="64"
 value="{e(number or '')}">
<label for="email">E-mail address used for the order</label>
<input id="email" name="email" type="email" required maxlength="254"
 value="{e(email or '')}">
<button type="submit">Show my order</button>
</form>"""


def shown_time(value):
    "An ISO time of the history as a person reads it: 6 Dec 2026, 19:56 UTC"
    try:
        when = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value or ''
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


def order_html(base, status, token, notice=None, error=None,
        about='message'):
    """The order's page; notice or error answer the form `about` names
    (message or return), shown beside it"""
    e = html.escape
    rows = ''.join(
        f"<tr><td>{e(h['label'])}</td>"
        f"<td>{e(shown_time(h['date']))}</td></tr>"
        for h in status['history'])
    parcels = ''.join(
        '<li>' + e(' '.join(filter(None, [t['carrier'], t['number']])))
        + (f' — <a href="{e(t["url"])}" rel="noreferrer">track it</a>'
            if t['url'] else '')
        + '</li>' for t in status['tracking'])
    tracking = (f'<h2>Tracking</h2><ul>{parcels}</ul>' if parcels else '')
    said = f'<p class="notice">{e(notice)}</p>' if notice else ''
    said += f'<p class="error">{e(error)}</p>' if error else ''
    asked, returned = (said, '') if about == 'message' else ('', said)
    return f"""<h1>Order {e(status['number'])}</h1>
<p>{e(status['shop'])} · ordered {e(status['date'] or '')}</p>
<p id="state"><strong>{e(status['label'])}</strong></p>
{tracking}
<h2>History</h2>
<table>{rows}</table>
<h2>A question about this order?</h2>
{asked}
<form method="post" action="{e(base)}/messages">
<input type="hidden" name="token" value="{e(token or '')}">
<label for="message">Your message</label>
<textarea id="message" name="message" rows="4" required
 maxlength="{MAX_MESSAGE}"></textarea>
<button type="submit">Send</button>
</form>
{returns_html(base, status, token, returned)}"""


def returns_html(base, status, token, said=''):
    "The order's return requests, and the form asking for one"
    e = html.escape
    asked = ''.join(
        f"<tr><td>{e(r['number'])}</td><td>{e(r['label'])}</td></tr>"
        for r in status['returns'])
    listed = (f'<h2>Your returns</h2><table>{asked}</table>'
        if asked else '')
    lines = [line for line in status['lines'] if line['returnable']]
    if not lines:
        return listed + said
    inputs = ''.join(
        f'<label for="quantity-{line["line"]}">{e(line["title"])} '
        f'(up to {line["returnable"]:g})</label>'
        f'<input id="quantity-{line["line"]}" name="quantity-{line["line"]}"'
        f' type="number" min="0" max="{line["returnable"]:g}" value="0">'
        for line in lines)
    options = '<option value="">—</option>' + ''.join(
        f'<option value="{e(r["code"])}">{e(r["name"])}</option>'
        for r in status['reasons'])
    return f"""{listed}
<h2>Return items</h2>
{said}
<form method="post" action="{e(base)}/returns">
<input type="hidden" name="token" value="{e(token or '')}">
{inputs}
<label for="reason">Why</label>
<select id="reason" name="reason">{options}</select>
<label for="resolution">What you would like</label>
<select id="resolution" name="resolution">
<option value="refund">A refund</option>
<option value="exchange">An exchange</option>
</select>
<label for="description">Anything to add</label>
<textarea id="description" name="description" rows="3"
 maxlength="{MAX_MESSAGE}"></textarea>
<button type="submit">Ask to return</button>
</form>"""
