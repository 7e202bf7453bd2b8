"""The customer's order-status lookup over real HTTP: the JSON route the
shop's own site may call, and the ERP's plain page with its question
form."""
import itertools
import re

import jsonschema
import pytest
import requests

from proteus import Model
from proteus.config import XmlrpcConfig

from oms_connector import openapi
from oms_connector.tests.tools import order_payload

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

    shown = requests.post(page, data={'number': order, 'email': EMAIL},
        timeout=30)
    assert shown.status_code == 200
    assert 'Awaiting Shipment' in shown.text
    assert shown.headers['Referrer-Policy'] == 'no-referrer'
    token, = re.findall(r'name="token" value="([^"]+)"', shown.text)
    # The link in the customer's e-mails opens the same page.
    assert 'Awaiting Shipment' in requests.get(
        page, params={'token': token}, timeout=30).text
    missed = requests.post(page, data={'number': order, 'email': 'x@y.z'},
        timeout=30)
    assert missed.status_code == 404 and 'No order matches' in missed.text

    asked = requests.post(f'{page}/messages', data={'token': token,
            'message': 'Can you ship it <b>today</b>?'}, timeout=30)
    assert asked.status_code == 200 and 'Thank you' in asked.text

    tryton = XmlrpcConfig(
        f'http://admin:admin@127.0.0.1:{erp.port}/{erp.database}/rpc/')
    Message = Model.get('oms.order.message', config=tryton)
    message, = Message.find([('sale.reference', '=', order)])
    assert (message.direction, message.origin, message.answered) == (
        'in', 'status_page', False)
    assert message.body == 'Can you ship it <b>today</b>?'
    assert message.author == 'Grace Hopper'


def test_a_question_over_json(erp, order):
    answer = requests.post(
        f'{erp.url}/{erp.database}/oms/v1/lookup/messages',
        json={'number': order, 'email': EMAIL, 'message': 'Gift wrap?'},
        timeout=30)
    assert answer.status_code == 201 and answer.json() == {'received': True}
