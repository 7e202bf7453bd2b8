"""The customer's order-status lookup over real HTTP: the JSON route the
shop's own site may call, and the ERP's plain page with its question
form."""
import itertools
import re

import jsonschema
import pytest
import requests
from e2e_harness import ship, staff

from proteus import Model

from oms_connector.tests.tools import order_payload
from oms_contract import openapi

ids = itertools.count(1)
EMAIL = 'grace@example.com'


@pytest.fixture
def order(shop):
    "A new paid order of the shop, by Grace: its channel number"
    number = f'status-{next(ids)}'
    shop.post_orders('shop', [order_payload('shop', number,
                lines=[('TS-RED-M', 1, '19.50')], email=EMAIL,
                name='Grace Hopper')], None)
    return f'#{number}'


def submit(page, url, data):
    """Post a form of `page` (a response) as a browser does: with the
    Origin the Fetch standard sends for the page's Referrer-Policy (null
    under no-referrer) and the Referer it allows"""
    policy = page.headers.get('Referrer-Policy', '')
    origin = re.match(r'https?://[^/]+', page.url)[0]
    headers = {'Origin': 'null' if policy == 'no-referrer' else origin}
    if policy in {'same-origin', 'no-referrer-when-downgrade', ''}:
        headers['Referer'] = page.url
    return requests.post(url, data=data, headers=headers, timeout=30)


def lookup(erp, **body):
    return requests.post(f'{erp.url}/{erp.database}/oms/v1/lookup',
        json=body, timeout=30)


def test_the_customer_finds_their_order_by_number_and_email(erp, order):
    answer = lookup(erp, number=order.lstrip('#'), email=EMAIL.upper())

    assert answer.status_code == 200
    assert answer.headers['Cache-Control'] == 'no-store'
    found = answer.json()
    document = openapi.load()
    jsonschema.validate(found, {
            '$ref': '#/components/schemas/CustomerOrder',
            'components': document['components']})
    assert found['order']['number'] == order
    assert found['order']['state'] == 'awaiting_shipment'
    assert [h['state'] for h in found['order']['history']] == [
        'awaiting_shipment']
    assert found['order']['tracking'] == []


def test_a_wrong_email_answers_as_an_unknown_order_does(erp, order):
    wrong = lookup(erp, number=order, email='someone@example.com')
    unknown = lookup(erp, number='#no-such-order', email=EMAIL)
    bad = lookup(erp, number=order)  # neither e-mail nor token

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json() == unknown.json()
    assert wrong.json()['error']['code'] == 'not_found'
    assert bad.status_code == 400


def test_the_page_shows_the_order_and_takes_a_question(erp, order):
    page = f'{erp.url}/{erp.database}/oms/status'
    form = requests.get(page, timeout=30)
    assert form.status_code == 200 and 'name="email"' in form.text

    shown = submit(form, page, {'number': order, 'email': EMAIL})
    assert shown.status_code == 200, shown.text[:300]
    assert 'Awaiting Shipment' in shown.text
    # The token in the URL stays on the site
    assert shown.headers['Referrer-Policy'] == 'same-origin'
    token, = re.findall(r'name="token" value="([^"]+)"', shown.text)
    # The link in the customer's e-mails opens the same page.
    assert 'Awaiting Shipment' in requests.get(
        page, params={'token': token}, timeout=30).text
    missed = submit(form, page, {'number': order, 'email': 'x@y.z'})
    assert missed.status_code == 404 and 'No order matches' in missed.text

    asked = submit(shown, f'{page}/messages', {'token': token,
            'message': 'Can you ship it <b>today</b>?'})
    assert asked.status_code == 200 and 'Thank you' in asked.text

    tryton = staff(erp)
    Message = Model.get('oms.order.message', config=tryton)
    message, = Message.find([('sale.reference', '=', order)])
    assert (message.direction, message.origin, message.awaiting_reply) == (
        'in', 'status_page', True)
    assert message.body == 'Can you ship it <b>today</b>?'
    assert message.author == 'Grace Hopper'


def test_a_question_over_json(erp, order):
    answer = requests.post(
        f'{erp.url}/{erp.database}/oms/v1/lookup/messages',
        json={'number': order, 'email': EMAIL, 'message': 'Gift wrap?'},
        timeout=30)
    assert answer.status_code == 201 and answer.json() == {'received': True}


def test_the_customer_asks_to_return_what_was_shipped(erp, shop):
    "Over JSON and on the page: only what was shipped, each request once"
    number = f'status-{next(ids)}'
    shop.post_orders('shop', [order_payload('shop', number,
                lines=[('TS-RED-M', 2, '19.50')], email=EMAIL,
                name='Grace Hopper')], None)
    tryton = staff(erp)
    ship(tryton, 'shop', number, 'JD014600006281')
    returns = f'{erp.url}/{erp.database}/oms/v1/lookup/returns'
    ask = {'number': f'#{number}', 'email': EMAIL, 'reason': 'size_fit'}

    too_many = requests.post(returns, json={
            **ask, 'lines': [{'line': 1, 'quantity': 3}]}, timeout=30)
    assert too_many.status_code == 400
    assert too_many.json()['error']['code'] == 'invalid_return'
    assert "Cannot return 3 × [TSHIRT] T-shirt" in too_many.json()[
        'error']['message']
    assert "2 shipped" in too_many.json()['error']['message']
    made = requests.post(returns, json={**ask, 'resolution': 'exchange',
            'lines': [{'line': 1, 'quantity': 1}],
            'description': "Too small"}, timeout=30)
    assert made.status_code == 201, made.text
    asked = made.json()['return']
    assert (asked['state'], asked['resolution']) == ('requested', 'exchange')

    found = lookup(erp, number=number, email=EMAIL).json()
    jsonschema.validate(found, {
            '$ref': '#/components/schemas/CustomerOrder',
            'components': openapi.load()['components']})
    assert [r['number'] for r in found['order']['returns']] == [
        asked['number']]
    assert found['order']['lines'][0]['returnable'] == 1
    Return = Model.get('oms.return', config=tryton)
    rma, = Return.find([('number', '=', asked['number'])])
    assert (rma.source, rma.description, rma.lines[0].reason.code) == (
        'customer', "Too small", 'size_fit')

    # The page asks for the last one back; then there is nothing to ask
    page = f'{erp.url}/{erp.database}/oms/status'
    shown = submit(requests.get(page, timeout=30), page,
        {'number': number, 'email': EMAIL})
    assert 'Return items' in shown.text and '(up to 1)' in shown.text
    token, = set(re.findall(r'name="token" value="([^"]+)"', shown.text))
    done = submit(shown, f'{page}/returns', {'token': token,
            'quantity-1': '1', 'reason': 'damaged', 'resolution': 'refund'})
    assert done.status_code == 200
    assert 'your return request RMA' in done.text
    assert 'Return items' not in done.text
    assert len(Return.find([('sale.reference', '=', f'#{number}')])) == 2
