"""End to end, the way goods and money come back: a customer refund made on
the Shopify shop pulled into the ERP once however often the agent runs; a
WooCommerce customer's parcel taken back by staff into sellable stock, the
shop's quantity following at the next stock push, then refunded from the
ERP onto the shop once, and the customer told by e-mail at each step."""
import pytest
from e2e_harness import (
    SHIPPING_MAPPINGS,
    agent_runner,
    clerk,
    sandbox_shops,
    ship,
    staff,
)

from proteus import Model


@pytest.fixture(scope='module')
def marketplace():
    with sandbox_shops() as sandbox:
        yield sandbox


@pytest.fixture(scope='module')
def agent(mailing_erp, marketplace, tmp_path_factory):
    return agent_runner(mailing_erp, marketplace,
        tmp_path_factory.mktemp('agent'), SHIPPING_MAPPINGS)


def run(agent, job):
    done = agent('once', '--job', job)
    assert done.returncode == 0, done.stderr
    return done


def test_refunds_and_returns_between_the_shops_and_the_erp(
        mailing_erp, marketplace, agent, inbox):
    tryton = staff(mailing_erp)
    shopify, woo = marketplace.shop('shopify'), marketplace.shop('woo')
    Return = Model.get('oms.return', config=tryton)
    placed = shopify.create_order(status='paid', lines=[('TEE-BLK-S', 2)],
        customer={'first_name': 'Ada', 'last_name': 'Lovelace',
            'email': 'ada@example.com'})
    on_woo = woo.create_order(status='paid', lines=[('KETTLE-1L', 2)],
        customer={'first_name': 'Grace', 'last_name': 'Hopper',
            'email': 'grace@example.com'})
    run(agent, 'orders')
    ship(tryton, 'shopify', placed['legacyResourceId'], '1234567890')
    kettles = ship(tryton, 'woo', str(on_woo['id']), 'JD014600006281')
    run(agent, 'stock')
    assert len(inbox.wait(2)) == 2  # the parcels' e-mails

    # A refund made on Shopify reaches the ERP once, however often pulled
    shopify.refund(placed['id'], lines={'TEE-BLK-S': 1}, note="Scratched")
    run(agent, 'returns')
    run(agent, 'returns')
    refunded, = Return.find([('channel.code', '=', 'shopify')])
    assert (refunded.source, refunded.state, refunded.refund_state) == (
        'channel', 'refunded', 'channel')
    assert [(li.product.code, li.quantity) for li in refunded.lines] == [
        ('TEE-BLK-S', 1)]

    # Staff (an OMS User) take a kettle back into sellable stock: the shop
    # can sell it
    desk = clerk(mailing_erp)
    Return = Model.get('oms.return', config=desk)
    kettles = Model.get('sale.sale', config=desk)(kettles.id)
    before = woo.inventory('KETTLE-1L')
    rma = Return(sale=kettles)
    line = rma.lines.new()
    line.sale_line, = kettles.lines
    line.quantity = 1
    rma.save()
    rma.click('approve')
    rma.click('receive')
    assert rma.state == 'received'
    run(agent, 'stock')
    assert woo.inventory('KETTLE-1L') == before + 1

    # ... and refund it: made on the shop once, not pulled back as another
    rma.click('refund')
    run(agent, 'returns')
    made, = woo.refunds(on_woo['id'])
    assert made['reason'].startswith(rma.number)
    rma.reload()
    assert (rma.state, rma.refund_state) == ('refunded', 'pushed')
    run(agent, 'returns')
    assert len(woo.refunds(on_woo['id'])) == 1
    assert Return.find([('channel.code', '=', 'woo')]) == [rma]

    # Grace heard of each step of her return; Ada's shop told her itself
    mails = inbox.wait(4)
    assert {tuple(to) for to, _ in mails} == {('grace@example.com',)}
    subjects = [message['Subject'] for _, message in mails]
    assert subjects == [
        f"We have your return request {rma.number}",
        f"Your return {rma.number} is approved",
        f"We received your return {rma.number}",
        f"Your return {rma.number} has been refunded"]
