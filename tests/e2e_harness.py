"""What the end-to-end tests share: the sandbox marketplace with a Shopify
and a WooCommerce shop selling the sync world's catalogue, and the agent's
own command line configured for both."""
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from proteus import Model
from proteus.config import XmlrpcConfig

from oms_connector.tests.tools import FBA_MUG, SYNC_CATALOGUE
from sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parents[1]
# The payloads the marketplaces publish (shared/, beside the checkout)
FIXTURES = Path(os.environ.get('OMS_MARKETPLACE_FIXTURES',
        ROOT.parent / 'shared' / 'fixtures' / 'marketplace-payloads'))
TOKEN = 'shpat_e2e_0123456789'
CONSUMER_KEY, CONSUMER_SECRET = 'ck_e2e_0123456789', 'cs_e2e_0123456789'
# Amazon's Login with Amazon client and the seller's refresh token
LWA_CLIENT = 'amzn1.application-oa2-client.e2e0123456789'
LWA_SECRET, REFRESH_TOKEN = 'lwa-e2e-0123456789', 'Atzr|e2e-0123456789'
# Taobao's app (its key, and the secret that signs) and the shop's session
TOP_KEY, TOP_SECRET = '23456789', 'top-secret-e2e-0123456789'
TOP_SESSION = '6100e2e0123456789session'
SECRETS = (TOKEN, CONSUMER_KEY, CONSUMER_SECRET, LWA_SECRET, REFRESH_TOKEN,
    TOP_SECRET, TOP_SESSION)
CHANNELS = (('shopify', 'shopify'), ('woo', 'woocommerce'))
# The shipping tests' mapping files: the warehouse and DHL named as each
# shop knows them
SHIPPING_MAPPINGS = {
    'shopify': ("kind: shopify\nwarehouses:\n  WH: Main warehouse\n"
        "carriers:\n  DHL: DHL Express\n"),
    'woo': "kind: woocommerce\ncarriers:\n  DHL: DHL\n"}


@contextlib.contextmanager
def sandbox_shops() -> Iterator[Sandbox]:
    "The sandbox with shops 'shopify' and 'woo', their catalogue out of stock"
    with Sandbox() as sandbox:
        shopify = sandbox.add_shopify('shopify', token=TOKEN,
            currency='EUR', restore_rate=1000)
        woo = sandbox.add_woocommerce('woo', consumer_key=CONSUMER_KEY,
            consumer_secret=CONSUMER_SECRET)
        for shop in (shopify, woo):
            for code, name, price, _ in SYNC_CATALOGUE:
                shop.add_product(code, name, price, stock=0)
        yield sandbox


def amazon_shop(sandbox: Sandbox):
    """The sync world's Amazon seller account: its catalogue out of stock,
    and the mug also sold from Amazon's own stock (FBA_MUG)"""
    shop = sandbox.add_amazon('amazon', client_id=LWA_CLIENT,
        client_secret=LWA_SECRET, refresh_token=REFRESH_TOKEN)
    for code, name, price, _ in SYNC_CATALOGUE:
        shop.add_product(code, name, price, stock=0)
    shop.add_product(FBA_MUG, "Stoneware Mug (FBA)", '14.50', stock=100,
        fulfilled_by='AMAZON')
    return shop


def taobao_shop(sandbox: Sandbox):
    """The sync world's Taobao shop, its catalogue out of stock: TEE-BLK-S
    and -M are SKUs of one item (TEE-BLK), the others items without SKUs"""
    shop = sandbox.add_taobao('taobao', app_key=TOP_KEY,
        app_secret=TOP_SECRET, session=TOP_SESSION)
    for code, name, price, _ in SYNC_CATALOGUE:
        shop.add_product(code, name, price, stock=0,
            item=None if code.startswith('TEE-') else code)
    return shop


def agent_runner(erp, sandbox, directory, mappings, intervals=None,
        settings=None, channel_settings=None, channels=CHANNELS,
        key='agent_key'):
    """oms-sync(*args) run in a process of its own against the ERP and the
    shops of `channels` (both, by default; the ERP `key` of the world),
    with each channel's mapping file text from mappings (and more
    settings: top-level, such as leases, and each channel's); .start runs
    it in the background (its output to a file with log=), .state is its
    state file"""
    for code, text in mappings.items():
        (directory / f'{code}.yaml').write_text(text)
    config = directory / 'oms-sync.yaml'
    config.write_text(json.dumps({
                'erp': {'url': erp.url, 'database': erp.database},
                'state_dir': str(directory / 'state'),
                'channels': [{
                        'code': code, 'kind': kind,
                        'base_url': sandbox.shop(code).base_url,
                        'settings': sandbox.shop(code).settings,
                        'mapping': f'{code}.yaml', 'page_size': 10,
                        'rate_limit': {'per_second': 0},
                        'intervals': intervals or {
                            'orders': 1, 'stock': 30},
                        'retry': {'max_wait': 1},
                        **(channel_settings or {}),
                        } for code, kind in channels],
                **(settings or {}),
                }))
    env = {**os.environ,
        'OMS_ERP_KEY': erp.world[key],
        'OMS_SHOPIFY_TOKEN': TOKEN,
        'OMS_WOO_CONSUMER_KEY': CONSUMER_KEY,
        'OMS_WOO_CONSUMER_SECRET': CONSUMER_SECRET,
        'OMS_AMAZON_CLIENT_ID': LWA_CLIENT,
        'OMS_AMAZON_CLIENT_SECRET': LWA_SECRET,
        'OMS_AMAZON_REFRESH_TOKEN': REFRESH_TOKEN,
        'OMS_TAOBAO_APP_KEY': TOP_KEY,
        'OMS_TAOBAO_APP_SECRET': TOP_SECRET,
        'OMS_TAOBAO_SESSION': TOP_SESSION,
        'PYTHONPATH': str(ROOT)}
    command = [sys.executable, '-m', 'sync_agent.cli', '--config',
        str(config), '--log-format', 'text']

    def oms_sync(*args, unset=()):
        "Run oms-sync; `unset`: environment variables (secrets) left out"
        return subprocess.run([*command, *args],
            env={k: v for k, v in env.items() if k not in unset},
            capture_output=True, text=True, timeout=300)

    def start(*args, log=None):
        if log is None:
            return subprocess.Popen([*command, *args], env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # A long run logs more than a pipe holds: to a file.
        with log.open('w') as output:
            return subprocess.Popen([*command, *args], env=env, text=True,
                stdout=output, stderr=subprocess.STDOUT)
    oms_sync.start = start
    oms_sync.state = directory / 'state' / 'state.json'
    return oms_sync


CLERK_PASSWORD = 'clerk-at-the-desk-7'


def staff(erp):
    """The ERP as staff see it in Tryton (the admin user, over XML-RPC);
    the world gave it the carrier DHL"""
    return XmlrpcConfig(
        f'http://admin:admin@127.0.0.1:{erp.port}/{erp.database}/rpc/')


def clerk(erp):
    """The ERP as an OMS User sees it, with Stock as goods move: the least
    privileged staff the README's flows are for, access checks on"""
    admin = staff(erp)
    User = Model.get('res.user', config=admin)
    if not User.find([('login', '=', 'clerk')]):
        Group = Model.get('res.group', config=admin)
        Company = Model.get('company.company', config=admin)
        user = User(name="Clerk", login='clerk', password=CLERK_PASSWORD)
        user.groups.extend(Group.find([('name', 'in', ['OMS User', 'Stock'])]))
        company, = Company.find([])
        user.companies.append(Company(company.id))
        user.company = Company(company.id)
        user.save()
    return XmlrpcConfig(f'http://clerk:{CLERK_PASSWORD}@127.0.0.1:'
        f'{erp.port}/{erp.database}/rpc/')


def ship(tryton, channel, external_id, tracking):
    "The warehouse ships the order's parcel with DHL"
    Sale = Model.get('sale.sale', config=tryton)
    Carrier = Model.get('oms.carrier', config=tryton)
    sale, = Sale.find([('oms_channel.code', '=', channel),
            ('oms_external_id', '=', external_id)])
    shipment, = sale.shipments
    shipment.oms_carrier, = Carrier.find([('code', '=', 'DHL')])
    shipment.oms_tracking_number = tracking
    shipment.save()
    for step in ('pick', 'pack', 'do'):
        shipment.click(step)
    sale.reload()
    return sale
