"""The demo's moving parts around the ERP: the sandbox marketplace with the
demo's three shops taking orders, the agent syncing them, a warehouse
shipping orders, purchasing staff replenishing from the suppliers and
customers now and then wanting their money back (in threads of this
process), with a summary every few seconds."""
import copy
import datetime as dt
import functools
import itertools
import logging
import random
import textwrap
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

from .data import (
    CARRIERS,
    CHANNELS,
    FULFILLED_BY_CHANNEL,
    PRODUCTS,
    skus,
    take_back,
)
from .supply import Purchasing

# Each kind's credentials on the sandbox (demo only)
CREDENTIALS = {
    'shopify': {'token': 'shpat_demo_0123456789'},
    'woocommerce': {'consumer_key': 'ck_demo_0123456789',
        'consumer_secret': 'cs_demo_0123456789'},
    'amazon': {'client_id': 'amzn1.application-oa2-client.demo',
        'client_secret': 'amzn1.oa2-cs.v1.demo0123456789',
        'refresh_token': 'Atzr|demo0123456789'},
    }
# Amazon's per-operation limits run this many times faster than Amazon's
# own: its order search, one call in 3 minutes after a burst, is one in 9 s.
RATE_SCALE = 20
# How often the agent runs each job, in seconds: briskly, for a demo. On
# Amazon it searches orders every 10 s, when the search has a call to
# spare (at RATE_SCALE), rather than wait for one.
INTERVALS = {'orders': 5, 'stock': 5, 'fulfilments': 5, 'returns': 15,
    'reconcile': 300}
KIND_INTERVALS = {'amazon': {'orders': 10}}
MAPPINGS = Path(__file__).resolve().parent / 'mappings'
# What happens after delivery, in turn, to an order a shop shows shipped:
# the customer's refund or return on the shop (the agent brings it into
# the ERP), or staff's refund in the ERP (the agent makes it on the shop;
# Amazon takes none from it). And before shipping: an Amazon buyer asks to
# cancel (the ERP holds the order), and the seller cancels it on Amazon
# the next time round.
AFTER_SALES = [
    ('shopify-eu', 'staff_refund'),
    ('amazon-us', 'cancellation'),
    ('shopify-eu', 'return'),
    ('woo-main', 'refund'),
    ('amazon-us', 'refund'),
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
    'channel_hold': "buyer asked to cancel",
    'manual': "by staff",
    }
# The orders the ERP got from the sandbox shops: those seeded with the
# database (the morning's and the history's) have ids like shopify-eu-1001.
FROM_THE_SHOPS = [('oms_external_id', 'not like', f'{code}-%')
    for code, *_ in CHANNELS]


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
        self.sandbox = Sandbox(port=port, rate_scale=RATE_SCALE)
        self.shops = {code: self.sandbox.add(kind, code, currency=currency,
                **CREDENTIALS[kind])
            for code, kind, _, currency, _ in CHANNELS}
        for code, shop in self.shops.items():
            shop.sells_out_of_stock = False
            # A homeware shop's customers buy a few things, not 26-60
            # lines of its five products.
            shop.many_lines_share = 0
            for product, sku in skus(code).items():
                _, name, price, stock, *_ = _product(product)
                shop.add_product(sku, name, price, stock=stock)
        self.settings = {
            'erp': {'url': erp_url, 'database': database},
            'state_dir': str(directory / 'agent'),
            'channels': [{
                    'code': code,
                    'kind': shop.kind,
                    'base_url': shop.base_url,
                    # What the kind's API needs beyond the URL (Amazon's
                    # seller and marketplace): never a secret
                    **({'settings': shop.settings} if shop.settings
                        else {}),
                    'mapping': str(MAPPINGS / f'{code}.yaml'),
                    'intervals': INTERVALS | KIND_INTERVALS.get(
                        shop.kind, {}),
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
        """New orders now and then, some of them of what Amazon ships
        itself; now and then one that cannot be read"""
        rng = random.Random(42)
        for n in itertools.count():
            if self.stopping.wait(self.every):
                return
            for shop in self.shops.values():
                shop.generate_orders(rng.randint(0, 2), seed=rng.random(),
                    spread_hours=0)
            for code, listings in FULFILLED_BY_CHANNEL.items():
                if rng.random() < 0.3:
                    self._sell_fulfilled_by_channel(code, listings, rng)
            if n % 10 == 9:
                shop = rng.choice(list(self.shops.values()))
                try:
                    shop.create_malformed_order('bad_date')
                except SoldOut:
                    pass  # nothing left to order, even unreadably

    def _sell_fulfilled_by_channel(self, code: str,
            listings: list[tuple[str, str, int]],
            rng: random.Random) -> None:
        """An order Amazon ships from its own stock, shipped already. Its
        listings are not in the sandbox shop's catalogue: the generator
        would put them in orders the seller ships, which Amazon never
        does (it splits such an order in two)."""
        sku, product, _ = rng.choice(listings)
        _, name, price, *_ = _product(product)
        self.shops[code].create_fba_order(seed=rng.random(), lines=[{
                    'sku': sku, 'title': name, 'price': price,
                    'quantity': rng.choice([1, 1, 2])}])

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
        """Every fifteen orders' time, something happens to an order of a
        shop (see AFTER_SALES); what the shop does about it (approve a
        return asked for on Shopify, cancel an order an Amazon buyer
        wants cancelled) it does the next time round"""
        tryton = XmlrpcConfig(self.tryton.url)  # this thread's own
        next_time: list[Callable[[], object]] = []
        turns = itertools.cycle(AFTER_SALES)
        code, what = next(turns)
        while not self.stopping.wait(self.every * 15):
            try:
                for step in next_time:
                    step()
                next_time.clear()
                order = (self._unshipped_order(code)
                    if what == 'cancellation' else self._shipped_order(code))
                if order is None:
                    continue  # nothing (un)shipped on that shop yet
                order_id = _order_id(order)
                self.returned.add((code, order_id))
                shop, sku = self.shops[code], _skus(order)[0]
                if what == 'staff_refund':
                    self._refund_by_staff(code, order, tryton)
                elif what == 'return':
                    return_id = shop.request_return(order_id, {sku: 1},
                        reason='SIZE_TOO_SMALL')['id']
                    next_time.append(functools.partial(
                            shop.set_return_status, return_id, 'OPEN'))
                elif what == 'cancellation':
                    shop.request_cancellation(order_id,
                        reason="Ordered the wrong size")
                    next_time.append(functools.partial(
                            _cancel_unshipped, shop, order_id))
                elif shop.kind == 'shopify':
                    shop.refund(order_id, lines={sku: 1}, note="Damaged")
                else:
                    shop.refund(order_id, lines={sku: 1}, reason="Damaged")
            except Exception as error:  # noqa: BLE001 - the demo goes on
                logging.getLogger(__name__).warning(
                    "after-sales (%s on %s) failed: %s", what, code, error)
            code, what = next(turns)

    def _shipped_order(self, code):
        """The oldest order the shop shows shipped (so the ERP imported and
        shipped it) that nothing was returned of yet"""
        shop = self.shops[code]
        return next((o for o in shop.orders()
                if (code, _order_id(o)) not in self.returned
                and _shown_shipped(shop, o)), None)

    def _unshipped_order(self, code):
        """The newest order of an Amazon shop waiting for the seller to ship
        it that the ERP has had for a while (a minute: the agent imported
        it, and the warehouse ships the oldest first)"""
        shop = self.shops[code]
        before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        return next((o for o in reversed(shop.orders())
                if (code, _order_id(o)) not in self.returned
                and _waits_for_seller(o)
                and (_created(o) or before) < before), None)

    @staticmethod
    def _refund_by_staff(code, order, tryton):
        """Staff take back one unit of the order's first product, unopened,
        into sellable stock and refund it"""
        Sale = Model.get('sale.sale', config=tryton)
        codes = {p[0] for p in PRODUCTS}
        sale, = Sale.find([
                ('oms_channel.code', '=', code),
                ('oms_external_id', '=',
                    str(_order_id(order)).rsplit('/', 1)[-1]),
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
            fulfils = sales.search_count(channel + [FROM_THE_SHOPS,
                    ('oms_channel_fulfils', '=', True)], 0, None, context)
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
            f"{imported:>4} of them"
            + (f" ({fulfils} shipped by the channel)" if fulfils else '')
            + f", +{erp['orders'] - imported} seeded before the demo",
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
        for _, name, _, _, *channel_skus in PRODUCTS:
            shown = [f"{code} shows {shop.inventory(sku)} "
                f"(ERP {levels[code].get(sku, '?')})"
                for (code, shop), sku in zip(
                    self.shops.items(), channel_skus, strict=True)
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


def _product(code: str) -> tuple:
    "The product of that code in data.PRODUCTS"
    return next(p for p in PRODUCTS if p[0] == code)


def _order_id(order: dict[str, Any]) -> Any:
    "The id a shop knows its order by (Amazon's orderId)"
    return order['orderId'] if 'orderId' in order else order['id']


def _shown_shipped(shop: Shop, order: dict[str, Any]) -> bool:
    "Whether the shop shows the order shipped (the agent told it)"
    if shop.kind == 'woocommerce':
        return order['status'] == 'completed'
    return bool(shop.fulfilments(_order_id(order)))


def _waits_for_seller(order: dict[str, Any]) -> bool:
    "Whether an Amazon order waits for the seller to ship it"
    fulfillment = order.get('fulfillment') or {}
    return (fulfillment.get('fulfilledBy') == 'MERCHANT'
        and fulfillment.get('fulfillmentStatus') == 'UNSHIPPED')


def _created(order: dict[str, Any]) -> dt.datetime | None:
    "When an Amazon order was placed (None: unreadable, a malformed one)"
    try:
        return dt.datetime.fromisoformat(order['createdTime'])
    except (KeyError, TypeError, ValueError):
        return None


def _cancel_unshipped(shop: Shop, order_id: str) -> None:
    """The seller cancels an Amazon order its buyer asked to cancel, unless
    it has shipped meanwhile"""
    if _waits_for_seller(shop.order(order_id)):
        shop.cancel(order_id)


def _skus(order: dict[str, Any]) -> list[str]:
    "The SKUs of a shop's order, as the shop keeps it"
    if 'orderItems' in order:  # Amazon's
        return [item['product'].get('sellerSku')
            for item in order['orderItems']]
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
