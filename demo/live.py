"""The demo's moving parts around the ERP: the sandbox marketplace with the
demo's two shops taking orders, the agent syncing them, a warehouse
shipping orders and customers now and then wanting their money back (in
threads of this process), with a summary line every few seconds."""
import datetime as dt
import itertools
import logging
import random
import threading
from pathlib import Path

from proteus import Model
from proteus.config import XmlrpcConfig

from sandbox.server import Sandbox
from sync_agent import config as agent_config
from sync_agent import logs
from sync_agent.agent import Agent
from sync_agent.scheduler import Scheduler

from .data import CARRIERS, PRODUCTS, take_back

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
        for _, name, price, stock, shopify_sku, woo_sku in PRODUCTS:
            self.shops['shopify-eu'].add_product(
                shopify_sku, name, price, stock=stock)
            if woo_sku:
                self.shops['woo-main'].add_product(
                    woo_sku, name, price, stock=stock)
        config = agent_config.AgentConfig.model_validate({
                'erp': {'url': erp_url, 'database': database},
                'state_dir': str(directory / 'agent'),
                'channels': [{
                        'code': code,
                        'kind': ('shopify' if code.startswith('shopify')
                            else 'woocommerce'),
                        'base_url': shop.base_url,
                        'mapping': str(MAPPINGS / f'{code}.yaml'),
                        'intervals': {'orders': 5, 'stock': 5,
                            'fulfilments': 5, 'returns': 15,
                            'reconcile': 300},
                        } for code, shop in self.shops.items()],
                })
        self.erp_key = agent_key
        self.config = config
        self.agent = None
        self.scheduler = None
        self.threads = []
        self.returned = set()  # (shop, order id): each order returned once

    def start(self):
        self.sandbox.start()
        # A morning's orders are already waiting when the agent starts.
        for n, shop in enumerate(self.shops.values()):
            shop.generate_orders(12, seed=n, spread_hours=3)
        handler = logging.FileHandler(self.directory / 'agent.log')
        logs.setup('json')
        logging.getLogger().handlers[:] = [handler]
        handler.setFormatter(logs.JsonFormatter())
        self.agent = Agent.from_config(self.config, environ={
                'OMS_ERP_KEY': self.erp_key,
                'OMS_SHOPIFY_EU_TOKEN': TOKEN,
                'OMS_WOO_MAIN_CONSUMER_KEY': KEY,
                'OMS_WOO_MAIN_CONSUMER_SECRET': SECRET})
        self.scheduler = Scheduler(self.agent)
        # The links in customers' e-mails open this ERP's status page.
        Configuration = Model.get('oms.configuration', config=self.tryton)
        configuration = Configuration(1)
        configuration.customer_site_url = self.erp_url
        configuration.save()
        for target in (self.scheduler.run, self._sell, self._warehouse,
                self._after_sales):
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
                rng.choice(list(self.shops.values())).create_malformed_order(
                    'bad_date')

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
                        # The sandbox's orders (the seed ones are not on
                        # the shops: their ids read shopify-eu-1001, ...)
                        ('oms_external_id', 'not like', '%-%'),
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

    def summary(self):
        "One line per channel: what the shop has, what the ERP holds"
        lines = [dt.datetime.now().strftime('%H:%M:%S')]
        for code, shop in self.shops.items():
            try:
                erp = self.agent.erp.summary(code)
                pending = self.agent.erp.stock_levels(code, limit=0)[
                    'pending']
            except Exception as error:  # noqa: BLE001 - shown, not fatal
                lines.append(f"  {code}: ERP unreachable ({error})")
                continue
            state = self.agent.state.channel(code)
            stock = (state.get('last_success') or {}).get('stock') or {}
            error = state.get('last_error') or {}
            lines.append(
                f"  {code:<11} shop {len(shop.orders()):>4} orders · ERP "
                f"{erp['orders']:>4} imported, {erp['held']:>3} on hold · "
                f"stock last pushed {stock.get('pushed', 0):>3} SKU(s), "
                f"{pending} pending"
                + ('' if not error or error.get('resolved')
                    else f" · last error: {error['error'][:60]}"))
        lines.extend(self._shelves())
        lines.append(self._shipped())
        lines.append(self._returns())
        return '\n'.join(lines)

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
            line += f"\n    last e-mail: {self.mail.last_subject[:70]}"
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

    def _shelves(self, count=3):
        """What each shop shows of the scarcest products, beside what the
        ERP says it may sell: a sale on one shop lowers the others"""
        levels = {}
        for code in self.shops:
            try:
                levels[code] = {lv['sku']: lv['quantity']
                    for lv in self.agent.erp.stock_levels(
                        code, all=True)['levels']}
            except Exception:  # noqa: BLE001 - the summary said why
                return []
        lines = []
        scarcest = sorted(PRODUCTS, key=lambda p: p[3])[:count]
        for _, name, _, _, *skus in scarcest:
            shown = [f"{code} shows {shop.inventory(sku)} "
                f"(ERP {levels[code].get(sku, '?')})"
                for (code, shop), sku in zip(
                    self.shops.items(), skus, strict=True)
                if sku]
            lines.append(f"    {name[:22]:<22} " + ' · '.join(shown))
        return lines

    def stop(self):
        self.stopping.set()
        if self.scheduler:
            self.scheduler.stop()
        for thread in self.threads:
            thread.join(timeout=30)
        self.sandbox.stop()


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
