"""Staff and customers in a real browser: Tryton's web client (sao 8.0)
and the order-status page in headless Chromium at 1400×900, against the
session's trytond. Staff flows run as the least-privileged staff who do
them (an OMS User with Stock), the menu walk also as the administrator.

Screenshots of the main screens go to OMS_SCREENSHOTS when it names a
folder (`make screenshots` refreshes the README's, docs/screenshots/)."""
import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import pytest
from e2e_harness import CLERK_PASSWORD, clerk, ship, staff

from proteus import Model

from harness.web_client import missing_browser
from oms_connector.tests.tools import order_payload
from sync_agent.erp import ErpClient

pytestmark = pytest.mark.browser

# The sync world's Shopify channel, as its shop knows it
CHANNEL, CHANNEL_NAME = 'shopify', "Sandbox Shopify"
# An order held because the shop renamed the mug's SKU
RENAMED_SKU, HELD = 'MUG-STONE-V2', '5099'
# The status page's customer, whose order was shipped
CUSTOMER, SHIPPED = 'grace@example.com', '5100'
PICTURES = (Path(os.environ['OMS_SCREENSHOTS'])
    if os.environ.get('OMS_SCREENSHOTS') else None)


@pytest.fixture(scope='module')
def shop_floor(sync_erp):
    """A few weeks of the Shopify channel's orders in every state, one of
    them held for a SKU the ERP does not know, one shipped to Grace; the
    administrator's first-login wizard done, and a clerk"""
    if reason := missing_browser():
        if os.environ.get('OMS_BROWSER_TESTS') == 'required':
            pytest.fail(reason)
        pytest.skip(reason)
    erp = ErpClient(sync_erp.url, sync_erp.database,
        sync_erp.world['agent_key'])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    states = ['awaiting_shipment', 'pending_payment', 'shipped', 'completed']
    orders = []
    for n in range(10):
        created = now - dt.timedelta(days=3 * n, hours=n)
        lines = [('MUG-STONE', 1 + n % 3, '14.50'),
            ('TEE-BLK-M', 1, '19.90'), ('KETTLE-1L', 1, '39.90')]
        orders.append(order_payload(CHANNEL, f'50{n:02d}',
                status=states[n % len(states)], kind='shopify',
                currency='EUR', lines=lines[:1 + n % 3],
                created_at=created.isoformat(), updated_at=created,
                email=f'customer{n % 5}@example.com',
                name=f'Customer {n % 5}'))
    orders.append(order_payload(CHANNEL, HELD, kind='shopify',
            currency='EUR', lines=[(RENAMED_SKU, 2, '14.50')],
            created_at=now.isoformat(), updated_at=now,
            email='ada@example.com', name='Ada Lovelace'))
    orders.append(order_payload(CHANNEL, SHIPPED, kind='shopify',
            currency='EUR', lines=[('TEE-BLK-S', 2, '19.90')],
            created_at=now.isoformat(), updated_at=now, email=CUSTOMER,
            name='Grace Hopper'))
    results = erp.post_orders(CHANNEL, orders, None)['results']
    assert [r['external_id'] for r in results
        if r['result'] == 'exception'] == [HELD]
    admin = staff(sync_erp)
    ship(admin, CHANNEL, SHIPPED, 'JD014600006281')
    Item = Model.get('ir.module.config_wizard.item', config=admin)
    items = Item.find([('state', '!=', 'done')])
    for item in items:
        item.state = 'done'
    Item.save(items)
    clerk(sync_erp)
    return sync_erp


@pytest.fixture
def driver(shop_floor):
    "A browser of its own for each test: nobody is logged in yet"
    from web_client import chromium
    driver = chromium()
    yield driver
    driver.quit()


def web_client(driver, erp, login, password):
    from web_client import WebClient
    return WebClient(driver, erp.url, erp.database, PICTURES).login(
        login, password)


@pytest.fixture
def as_clerk(driver, shop_floor):
    return web_client(driver, shop_floor, 'clerk', CLERK_PASSWORD)


@pytest.fixture
def as_admin(driver, shop_floor):
    return web_client(driver, shop_floor, 'admin', 'admin')


def walk(client, root='Order Management', only=None):
    """Open each entry of the menu under root (under root > only, when
    given), clicked, and close it: the titles of the tabs opened"""
    entries = [path for path in client.menu_entries(root)
        if only is None or path[1] == only]
    opened = []
    for path in entries:
        client.open_menu(*path)
        opened.append(client.tab_title())
        client.close_tab()
    return opened


def test_every_order_management_entry_opens(as_clerk):
    """Each entry of the menu an OMS User sees, clicked, opens its screen
    without an error; configuration is not theirs"""
    opened = walk(as_clerk)
    assert len(opened) >= 15, opened
    assert not [t for t in opened if '/ Configuration /' in t]


def test_every_configuration_entry_opens(as_admin):
    "What only the OMS administrator sees opens without an error too"
    opened = walk(as_admin, only='Configuration')
    assert len(opened) >= 5, opened


def test_a_held_order_is_fixed_and_reprocessed(as_clerk, shop_floor):
    """The clerk finds the order held for an unknown SKU, maps the SKU in
    Listings and reprocesses it: it leaves the exceptions, priced right"""
    client = as_clerk
    client.open_menu('Order Management', 'Orders')
    client.picture('orders-by-state')
    client.domain_tab('Exceptions')
    client.open_row(f'#{HELD}')
    client.picture('held-order')
    client.close_tab()

    client.open_menu('Order Management', 'Listings')
    # The mug's listings only: the new row comes in sight below them
    client.search('Stoneware')
    client.toolbar('new_')
    client.choose('Sandbox Shop', CHANNEL_NAME)
    client.type('\t', RENAMED_SKU, '\t')
    client.choose('Stoneware', '[MUG-STONE] Stoneware Mug')
    client.toolbar('save')
    client.close_tab()
    client.open_menu('Order Management', 'Listings')
    client.picture('listings')
    client.close_tab()

    client.open_menu('Order Management', 'Orders')
    client.domain_tab('Exceptions')
    client.open_row(f'#{HELD}')
    client.press('Reprocess')
    client.close_tab()

    Sale = Model.get('sale.sale', config=clerk(shop_floor))
    sale, = Sale.find([('oms_external_id', '=', HELD)])
    assert not sale.oms_exception
    assert [(line.product.code, line.quantity) for line in sale.lines
        if line.product] == [('MUG-STONE', 2)]
    assert sale.total_amount == Decimal('29.00')


def test_a_report_draws_its_chart(as_clerk):
    "Sales over time, switched to its chart, draws the weeks' sales"
    client = as_clerk
    reports = [path for path in client.menu_entries('Order Management')
        if 'Reports' in path and 'over Time' in path[-1]]
    client.open_menu(*reports[0])
    client.chart()
    client.picture('report-chart')


def test_the_customer_uses_the_status_page(driver, shop_floor):
    """Grace finds her order by number and e-mail, asks a question and
    asks to return one T-shirt, each form submitted by the browser"""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def submit(css):
        "Press the form's button and wait for the page it answers"
        page = driver.find_element(By.TAG_NAME, 'html')
        driver.find_element(By.CSS_SELECTOR, css).click()
        WebDriverWait(driver, 30).until(ready.staleness_of(page))

    driver.get(f'{shop_floor.url}/{shop_floor.database}/oms/status')
    driver.find_element(By.ID, 'number').send_keys(f'#{SHIPPED}')
    driver.find_element(By.ID, 'email').send_keys(CUSTOMER.upper())
    submit('form button')
    assert driver.find_element(By.TAG_NAME, 'h1').text == (
        f'Order #{SHIPPED}')
    assert 'Shipped' in driver.find_element(By.ID, 'state').text
    assert 'JD014600006281' in driver.page_source
    history = driver.find_element(By.XPATH, '//h2[.="History"]'
        '/following-sibling::table').text
    assert history.startswith('Awaiting Shipment') and ' UTC' in history
    driver.find_element(By.ID, 'message').send_keys(
        "Could it come gift-wrapped?")
    submit('form[action$="/messages"] button')
    assert driver.find_element(By.XPATH, '//h2[.="A question about this '
        'order?"]/following-sibling::p[@class="notice"]').is_displayed()

    quantity = driver.find_element(By.CSS_SELECTOR, 'input[id^=quantity-]')
    quantity.clear()
    quantity.send_keys('1')
    reasons = Select(driver.find_element(By.ID, 'reason'))
    reasons.select_by_index(1)
    Select(driver.find_element(By.ID, 'resolution')).select_by_value(
        'exchange')
    submit('form[action$="/returns"] button')
    notice = driver.find_element(By.XPATH, '//h2[.="Return items"]'
        '/following-sibling::p[@class="notice"]')
    assert 'RMA' in notice.text
    assert not driver.find_elements(By.CSS_SELECTOR, 'p.error')
    if PICTURES:
        PICTURES.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(PICTURES / 'status-page.png'))

    admin = staff(shop_floor)
    Sale = Model.get('sale.sale', config=admin)
    sale, = Sale.find([('oms_external_id', '=', SHIPPED)])
    Message = Model.get('oms.order.message', config=admin)
    asked, = Message.find([('sale', '=', sale.id)])
    assert asked.body == "Could it come gift-wrapped?"
    Return = Model.get('oms.return', config=admin)
    rma, = Return.find([('sale', '=', sale.id)])
    assert (rma.source, rma.resolution) == ('customer', 'exchange')
    assert [line.quantity for line in rma.lines] == [1]
