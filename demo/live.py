"""The demo's moving parts around the ERP: the sandbox marketplace with the
demo's two shops taking orders, the agent syncing them, a warehouse
shipping orders, purchasing staff replenishing from the suppliers and
customers now and then wanting their money back (in threads of this
process), with a summary every few seconds."""
import copy
import datetime as dt
import itertools
import logging
import random
import textwrap
import threading
from collections import Counter
from pathlib import Path

import yaml

from proteus import Model
from proteus.config import XmlrpcConfig

from sandbox.generator import SoldOut
from sandbox.server import Sandbox
from sandbox.shop import Shop
from sync_agent import config as agent_config
from sync_agent import logs
from sync_agent.agent import Agent
from sync_agent.scheduler import Scheduler

from .data import CARRIERS, PRODUCTS, take_back
from .supply import Purchasing

TOKEN = 'shpat_demo_0123456789'
KEY, SECRET = 'ck_demo_0123456789', 'cs_demo_0123456789'
MAPPINGS = Path(__file__).resolve().parent / 'mappings'
# What happens after delivery, in turn, to an order a shop shows shipped:
# the customer's refund or return on the shop (the agent brings it into
# the ERP), or staff's refund in the ERP (the agent makes it on the shop).
AFTER_SALES = [
    ('shopify-eu', 'staff_refund'),
    ('shopify-eu', 'return'),
    ('woo-main', 'refund'),
    ('woo-main', 'staff_refund'),
    ('shopify-eu', 'refund'),
    ]
RMA_STATES = [
    ('requested', "to approve"),
    ('approved', "awaiting goods"),
    ('received', "received"),
    ('refunded', "refunded"),
    ('exchanged', "exchanged"),
    ('closed', "closed"),
    ('rejected', "rejected"),
    ]
# The summary's words for the kinds of hold
HOLDS = {
    'insufficient_stock': "short of stock",
    'invalid_order': "unreadable",
    'unknown_sku': "unknown SKU",
    'invalid_address': "invalid address",
    'cancelled_after_shipping': "cancelled after shipping",
    'manual': "by staff",
    }
# The orders the ERP got from the sandbox shops: those seeded with the
# database (the morning's and the history's) have ids like shopify-eu-1001.
FROM_THE_SHOPS = ('oms_external_id', 'not like', '%-%')


class Live:
    """The sandbox shops, an order generator, the agent's loop, the
    warehouse and the after-sales"""

    def __init__(self, erp, database, agent_key, directory, port,
            every=8.0, mail=None, sms=None):
        erp_url = erp.url
        self.tryton = XmlrpcConfig(
            f'http://admin:admin@127.0.0.1:{erp.port}/{database}/rpc/')
        # The summary's own connection: an XML-RPC proxy is one thread's
        self.reader = XmlrpcConfig(self.tryton.url)
        self.erp_url = erp_url
        self.mail, self.sms = mail, sms
        self.directory = directory
        self.every = every
        self.stopping = threading.Event()
        self.sandbox = Sandbox(port=port)
        self.shops = {
            'shopify-eu': self.sandbox.add_shopify(
                'shopify-eu', token=TOKEN, currency='EUR'),
            'woo-main': self.sandbox.add_woocommerce(
                'woo-main', consumer_key=KEY, consumer_secret=SECRET,
                currency='EUR'),
            }
        for shop in self.shops.values():
            shop.sells_out_of_stock = False
            # A homeware shop's customers buy a few things, not 26-60
            # lines of its five products.
            shop.many_lines_share = 0
        for _, name, price, stock, shopify_sku, woo_sku in PRODUCTS:
            self.shops['shopify-eu'].add_product(
                shopify_sku, name, price, stock=stock)
            if woo_sku:
                self.shops['woo-main'].add_product(
                    woo_sku, name, price, stock=stock)
        self.settings = {
            'erp': {'url': erp_url, 'database': database},
            'state_dir': str(directory / 'agent'),
            'channels': [{
                    'code': code,
                    'kind': shop.kind,
                    'base_url': shop.base_url,
                    'mapping': str(MAPPINGS / f'{code}.yaml'),
                    'intervals': {'orders': 5, 'stock': 5,
                        'fulfilments': 5, 'returns': 15,
                        'reconcile': 300},
                    } for code, shop in self.shops.items()],
            }
        self.config = agent_config.AgentConfig.model_validate(self.settings)
        self.erp_key = agent_key
        self.agent = None
        self.scheduler = None
        self.threads = []
        self.returned = set()  # (shop, order id): each order returned once
        # Its own connection: an XML-RPC proxy is one thread's
        self.purchasing = Purchasing(XmlrpcConfig(self.tryton.url))

    @property
    def environ(self) -> dict[str, str]:
        """The agent's secrets, under the names its configuration gives
        them: the ERP key and each shop's credentials"""
        environ = {self.config.erp.key: self.erp_key}
        for channel in self.config.channels:
            credentials = self.shops[channel.code].credentials
            environ.update((variable, credentials[name])
                for name, variable in channel.credentials.items())
        return environ

    def write_agent_config(self, path: Path) -> Path:
        """The demo agent's configuration, for an oms-sync of one's own
        (with its own state: the two share the shops through the ERP's
        leases)"""
        settings = copy.deepcopy(self.settings)
        settings['state_dir'] = str(path.parent / 'oms-sync')
        path.write_text(
            "# The demo's shops, for oms-sync: see the demo's banner for the\n"
            "# variables holding the keys (demo only).\n"
            + yaml.safe_dump(settings, sort_keys=False))
        return path

    def start(self):
        self.sandbox.start()
        # A morning's orders are already waiting when the agent starts.
        for n, shop in enumerate(self.shops.values()):
            shop.generate_orders(12, seed=n, spread_hours=3)
        handler = logging.FileHandler(self.directory / 'agent.log')
        logs.setup('json')
        logging.getLogger().handlers[:] = [handler]
        handler.setFormatter(logs.JsonFormatter())
        self.agent = Agent.from_config(self.config, environ=self.environ)
        self.scheduler = Scheduler(self.agent)
        # The links in customers' e-mails open this ERP's status page.
        Configuration = Model.get('oms.configuration', config=self.tryton)
        configuration = Configuration(1)
        configuration.customer_site_url = self.erp_url
        configuration.save()
        for target in (self.scheduler.run, self._sell, self._warehouse,
                self._purchase, self._after_sales):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def _sell(self):
        "New orders now and then; now and then one that cannot be read"
        rng = random.Random(42)
        for n in itertools.count():
            if self.stopping.wait(self.every):
                return
            for shop in self.shops.values():
                shop.generate_orders(rng.randint(0, 2), seed=rng.random(),
                    spread_hours=0)
            if n % 10 == 9:
                shop = rng.choice(list(self.shops.values()))
                try:
                    shop.create_malformed_order('bad_date')
                except SoldOut:
                    pass  # nothing left to order, even unreadably

    def _warehouse(self):
        """Now and then the warehouse ships the oldest order that is ready
        (its goods reserved), with the next carrier and a tracking number:
        the agent tells the shop, the ERP tells the customer"""
        rng = random.Random(7)
        Sale = Model.get('sale.sale', config=self.tryton)
        Carrier = Model.get('oms.carrier', config=self.tryton)
        carriers = {c.code: c for c in Carrier.find([])}
        for n in itertools.count():
            if self.stopping.wait(self.every * 1.5):
                return
            try:
                ready = Sale.find([
                        ('oms_state', '=', 'awaiting_shipment'),
                        ('oms_exception', '=', False),
                        ('oms_channel', '!=', None),
                        # the seeded ones are not on the shops
                        FROM_THE_SHOPS,
                        ('shipments.state', '=', 'assigned'),
                        ], order=[('sale_date', 'ASC'), ('id', 'ASC')],
                    limit=1)
                for sale in ready:
                    code = CARRIERS[n % len(CARRIERS)][0]
                    for shipment in sale.shipments:
                        if shipment.state != 'assigned':
                            continue
                        shipment.oms_carrier = carriers[code]
                        shipment.oms_tracking_number = _tracking(code, rng)
                        shipment.save()
                        for step in ('pick', 'pack', 'do'):
                            shipment.click(step)
            except Exception as error:  # noqa: BLE001 - the demo goes on
                logging.getLogger(__name__).warning(
                    "the warehouse could not ship: %s", error)

    def _purchase(self) -> None:
        """Now and then the purchasing staff receive what the suppliers
        delivered and order what runs low (see supply.Purchasing)"""
        while not self.stopping.wait(self.every * 3):
            try:
                self.purchasing.round()
            except Exception as error:  # noqa: BLE001 - the demo goes on
                logging.getLogger(__name__).warning(
                    "purchasing could not finish its round: %s", error)

    def _after_sales(self):
        """Every fifteen orders' time, something happens to an order a
        shop shows shipped (see AFTER_SALES); a return asked for on
        Shopify is approved by the shop the next time round"""
        tryton = XmlrpcConfig(self.tryton.url)  # this thread's own
        requested = []
        turns = itertools.cycle(AFTER_SALES)
        code, what = next(turns)
        while not self.stopping.wait(self.every * 15):
            try:
                for shop, return_id in requested:
                    shop.set_return_status(return_id, 'OPEN')
                requested.clear()
                order = self._shipped_order(code)
                if order is None:
                    continue  # nothing shipped on that shop yet
                self.returned.add((code, order['id']))
                shop, sku = self.shops[code], _skus(order)[0]
                if what == 'staff_refund':
                    self._refund_by_staff(code, order, tryton)
                elif what == 'return':
                    requested.append((shop, shop.request_return(
                                order['id'], {sku: 1},
                                reason='SIZE_TOO_SMALL')['id']))
                elif shop.kind == 'shopify':
                    shop.refund(order['id'], lines={sku: 1}, note="Damaged")
                else:
                    shop.refund(order['id'], lines={sku: 1}, reason="Damaged")
            except Exception as error:  # noqa: BLE001 - the demo goes on
                logging.getLogger(__name__).warning(
                    "after-sales (%s on %s) failed: %s", what, code, error)
            code, what = next(turns)

    def _shipped_order(self, code):
        """The oldest order the shop shows shipped (so the ERP imported and
        shipped it) that nothing was returned of yet"""
        shop = self.shops[code]
        return next((o for o in shop.orders()
                if (code, o['id']) not in self.returned
                and _shown_shipped(shop, o)), None)

    @staticmethod
    def _refund_by_staff(code, order, tryton):
        """Staff take back one unit of the order's first product, unopened,
        into sellable stock and refund it"""
        Sale = Model.get('sale.sale', config=tryton)
        codes = {p[0] for p in PRODUCTS}
        sale, = Sale.find([
                ('oms_channel.code', '=', code),
                ('oms_external_id', '=', str(order['id']).rsplit('/', 1)[-1]),
                ])
        product = next(li.product.code for li in sale.lines
            if li.product and li.product.code in codes)
        rma = take_back(sale, product, 1, 'unopened', 'unwanted',
            config=tryton)
        for button in ('receive', 'refund'):
            rma.click(button)

    def summary(self) -> str:
        """What each shop has and what the ERP made of it, what the shops
        show of each product, then purchases, parcels and returns"""
        lines = [dt.datetime.now().strftime('%H:%M:%S')]
        for code, shop in self.shops.items():
            lines.extend(self._channel(code, shop))
        lines.extend(self._shelves())
        lines.append(self.purchasing.summary())
        lines.append(self._shipped())
        lines.append(self._returns())
        return '\n'.join(lines)

    def _channel(self, code: str, shop: Shop) -> list[str]:
        """The shop's orders and how many of them the ERP has (beside those
        it was seeded with), the channel's holds by kind, the stock pushed"""
        sales = self.reader.get_proxy('sale.sale')
        context = self.reader.context
        channel = [('oms_channel.code', '=', code)]
        try:
            erp = self.agent.erp.summary(code)
            pending = self.agent.erp.stock_levels(code, limit=0)['pending']
            imported = sales.search_count(
                channel + [FROM_THE_SHOPS], 0, None, context)
            held = Counter(s['oms_exception_kind'] for s in sales.search_read(
                    channel + [('oms_exception', '=', True)], 0, None, None,
                    ['oms_exception_kind'], context))
        except Exception as error:  # noqa: BLE001 - shown, not fatal
            return [f"  {code}: ERP unreachable "
                f"({_shorten(str(error), 60)})"]
        state = self.agent.state.channel(code)
        stock = (state.get('last_success') or {}).get('stock') or {}
        error = state.get('last_error') or {}
        kinds = ', '.join(f"{n} {HOLDS.get(kind, kind)}"
            for kind, n in held.most_common())
        return [
            f"  {code:<11} shop {len(shop.orders()):>4} orders · ERP "
            f"{imported:>4} of them, +{erp['orders'] - imported} seeded "
            "before the demo",
            f"  {'':<11} {sum(held.values())} on hold"
            + (f" ({kinds})" if kinds else '')
            + f" · stock last pushed {stock.get('pushed', 0)} SKU(s), "
            f"{pending} pending"
            + ('' if not error or error.get('resolved')
                else f" · last error: {_shorten(error['error'], 60)}"),
            ]

    def _shipped(self):
        """What reached the shops and the customers: orders shown shipped
        with their tracking, e-mails and texts sent"""
        shipped = {code: sum(1 for o in shop.orders()
                if _shown_shipped(shop, o))
            for code, shop in self.shops.items()}
        line = ("    shipped with tracking: "
            + ', '.join(f"{code} {n}" for code, n in shipped.items())
            + f" · customer e-mails {self.mail.count if self.mail else 0}, "
            f"texts {len(self.sms.texts) if self.sms else 0}")
        if self.mail and self.mail.last_subject:
            line += ("\n    last e-mail: "
                + _shorten(self.mail.last_subject, 80))
        return line

    def _returns(self):
        """The ERP's return requests by state, those the shops' customers
        made, and the refunds the agent made on the shops"""
        try:
            rmas = self.reader.get_proxy('oms.return').search_read(
                [], 0, None, None, ['state', 'source', 'refund_state'], {})
        except Exception as error:  # noqa: BLE001 - shown, not fatal
            return f"    returns: ERP unreachable ({error})"
        states = [f"{n} {name}" for state, name in RMA_STATES
            if (n := sum(1 for r in rmas if r['state'] == state))]
        refunds = {state: sum(1 for r in rmas if r['refund_state'] == state)
            for state in ('pushed', 'pending', 'failed')}
        from_shops = sum(1 for r in rmas if r['source'] == 'channel')
        return (f"    returns in the ERP: {', '.join(states) or 'none'}; "
            f"{from_shops} from the shops' customers\n"
            f"    refunds on the shops: {refunds['pushed']} made, "
            f"{refunds['pending']} to push, {refunds['failed']} refused")

    def _shelves(self) -> list[str]:
        """What each shop shows of each product, beside what the ERP says
        it may sell: a sale on one shop lowers the others"""
        levels = {}
        for code in self.shops:
            try:
                levels[code] = {lv['sku']: lv['quantity']
                    for lv in self.agent.erp.stock_levels(
                        code, all=True)['levels']}
            except Exception:  # noqa: BLE001 - the summary said why
                return []
        width = max(len(p[1]) for p in PRODUCTS)
        lines = []
        for _, name, _, _, *skus in PRODUCTS:
            shown = [f"{code} shows {shop.inventory(sku)} "
                f"(ERP {levels[code].get(sku, '?')})"
                for (code, shop), sku in zip(
                    self.shops.items(), skus, strict=True)
                if sku]
            lines.append(f"    {name:<{width}}  " + ' · '.join(shown))
        return lines

    def stop(self):
        self.stopping.set()
        if self.scheduler:
            self.scheduler.stop()
        for thread in self.threads:
            thread.join(timeout=30)
        self.sandbox.stop()


def _shorten(text: str, width: int) -> str:
    "The text in at most width characters, cut between words (…)"
    return textwrap.shorten(text, width, placeholder='…')


def _shown_shipped(shop, order):
    "Whether the shop shows the order shipped (the agent told it)"
    if shop.kind == 'shopify':
        return bool(shop.fulfilments(order['id']))
    return order['status'] == 'completed'


def _skus(order):
    "The SKUs of a shop's order, as the shop keeps it"
    lines = order.get('line_items') or order['lineItems']['nodes']
    return [line['sku'] for line in lines]


def _tracking(carrier, rng):
    "A tracking number as the carrier writes them"
    if carrier == 'UPS':
        return '1Z' + ''.join(rng.choices('0123456789ABCDEFGHJKLMNPRSTUVWXYZ',
                k=16))
    if carrier == 'SF':
        return 'SF' + ''.join(rng.choices('0123456789', k=12))
    return ''.join(rng.choices('0123456789', k=10))
