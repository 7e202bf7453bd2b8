"""End to end, the way a parcel goes: an order placed on the sandbox shop,
imported by the agent, shipped in the ERP with its carrier and tracking
number, marked shipped on the shop with that tracking, and the customer
told by e-mail (caught by a local SMTP server), with a link to the order's
status page; delivered on the shop, completed in the ERP."""
import re

import pytest
import requests
from e2e_harness import (
    SHIPPING_MAPPINGS,
    agent_runner,
    sandbox_shops,
    ship,
    staff,
)

from proteus import Model

from sync_agent.erp import ErpClient


@pytest.fixture(scope='module')
def marketplace():
    with sandbox_shops() as sandbox:
        yield sandbox


@pytest.fixture(scope='module')
def agent(mailing_erp, marketplace, tmp_path_factory):
    return agent_runner(mailing_erp, marketplace,
        tmp_path_factory.mktemp('agent'), SHIPPING_MAPPINGS)


@pytest.fixture(scope='module')
def tryton(mailing_erp):
    "The ERP as staff see it, with DHL and the status page's URL"
    config = staff(mailing_erp)
    Configuration = Model.get('oms.configuration', config=config)
    configuration = Configuration(1)
    configuration.customer_site_url = mailing_erp.url
    configuration.save()
    return config


def test_a_parcel_reaches_the_shop_and_the_customer(
        mailing_erp, marketplace, agent, tryton, inbox):
    shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
    placed = shopify.create_order(status='paid',
        lines=[('TEE-BLK-S', 2), ('MUG-STONE', 1)],
        customer={'first_name': 'Ada', 'last_name': 'Lovelace',
            'email': 'ada@example.com'})
    on_woo = woo.create_order(status='paid', lines=[('KETTLE-1L', 1)],
        customer={'first_name': 'Grace', 'last_name': 'Hopper',
            'email': 'grace@example.com'})
    run = agent('once', '--job', 'orders')
    assert run.returncode == 0, run.stderr

    sale = ship(tryton, 'shopify', placed['legacyResourceId'], '1234567890')
    assert sale.oms_state == 'shipped'
    ship(tryton, 'woo', str(on_woo['id']), 'JD014600006281')

    run = agent('once', '--job', 'fulfilments')
    assert run.returncode == 0, run.stderr

    # The shop shows the parcel with its tracking, once.
    fulfilment, = shopify.fulfilments(placed['id'])
    assert [(t['company'], t['number']) for t in fulfilment[
            'trackingInfo']] == [('DHL Express', '1234567890')]
    assert shopify.order(placed['id'])[
        'displayFulfillmentStatus'] == 'FULFILLED'
    note, = [n for n in woo.notes(on_woo['id']) if n['customer_note']]
    assert 'DHL' in note['note'] and 'JD014600006281' in note['note']
    assert woo.order(on_woo['id'])['status'] == 'completed'
    again = agent('once', '--job', 'fulfilments')
    assert again.returncode == 0, again.stderr
    assert len(shopify.fulfilments(placed['id'])) == 1
    assert len([n for n in woo.notes(on_woo['id'])
            if n['customer_note']]) == 1

    # Each customer got one e-mail: the parcel, its tracking link and
    # the order's status page.
    mails = {tuple(to): message for to, message in inbox.wait(2)}
    assert set(mails) == {('ada@example.com',), ('grace@example.com',)}
    text = mails[('ada@example.com',)].get_body(
        ('plain',)).get_content()
    assert '1234567890' in text
    assert 'https://www.dhl.com/track?AWB=1234567890' in text
    link, = re.findall(r'http://\S+/oms/status\?token=\S+', text)
    page = requests.get(link, timeout=30)
    assert page.status_code == 200
    assert 'Shipped' in page.text and '1234567890' in page.text

    # The shop reports the parcel delivered: the order is completed.
    shopify.deliver(placed['id'])
    run = agent('once', '--job', 'orders')
    assert run.returncode == 0, run.stderr
    sale.reload()
    assert sale.oms_state == 'completed'
    summary = ErpClient(mailing_erp.url, mailing_erp.database,
        mailing_erp.world['agent_key']).summary('woo')
    assert summary['states'].get('shipped') == 1  # Woo reports no delivery
