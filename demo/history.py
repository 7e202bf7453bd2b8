"""The demo shop's last six months, so that its reports have something to
say: stock bought from two suppliers and received, orders from the three
shops imported, shipped by each carrier and completed, a few cancelled, a
few returned and refunded. Everything goes through the ERP's own flows (the
import route, shipments, purchases, return requests) in a proteus session;
then the dates are set back to when it happened, for the flows stamp today."""
import datetime as dt
import random
from decimal import Decimal

from proteus import Model
from trytond.pool import Pool
from trytond.transaction import Transaction

from oms_connector.tests.tools import order_payload

from . import data

# name, country, orders in six months (some come back, most do not)
CUSTOMERS = [
    ("Ada Lovelace", 'GB', 9), ("Grace Hopper", 'US', 6),
    ("Lin Hui", 'CN', 8), ("Jean Dupont", 'FR', 3),
    ("Maria Garcia", 'ES', 4), ("Hans Weber", 'DE', 5),
    ("Sofia Rossi", 'IT', 2), ("Emma de Vries", 'NL', 2),
    ("Liam Murphy", 'IE', 1), ("Olivia Smith", 'GB', 1),
    ("Noah Johnson", 'US', 1), ("Chen Jing", 'CN', 2),
    ("Lucas Martin", 'FR', 1), ("Mia Fischer", 'DE', 1),
    ("Elena Popescu", 'RO', 1), ("Yuki Tanaka", 'JP', 1),
    ]
# supplier, the product codes it supplies, days from order to receipt,
# cost as a share of the list price
SUPPLIERS = [
    ("Nordic Linen & Cotton", ['TEE-ORG-M', 'TEE-ORG-L', 'TOWEL-SET'], 12,
        Decimal('0.40')),
    ("Stoneware Works", ['MUG-STONE', 'KETTLE-1L'], 6, Decimal('0.45')),
    ]
DAYS = 180
SEED_EMAILS = {c[0]: c[1] for c in data.CUSTOMERS}
# Hours from payment to the parcel leaving, by carrier: SF is the
# slowest warehouse lane, DHL the quickest.
SHIP_HOURS = {'DHL': (4, 30), 'UPS': (8, 48), 'SF': (20, 96)}


def build(products, skus, carriers, keys, post_orders, refund_by_hand):
    """The six months before today: products by code, each channel's SKU
    by product code, the carriers, the API keys, and the demo's helpers to
    post orders and to record a refund made by hand"""
    rng = random.Random('history')
    today = dt.date.today()
    orders = _orders(skus, today, rng)
    _purchases(products, _needs(orders, skus), today, rng)
    for channel, batch in orders.items():
        post_orders(channel, keys[channel], [o for o, _ in batch])
    shipped = _ship(orders, carriers, rng)
    _returns(shipped, keys, refund_by_hand, rng)
    return len(shipped)


def _needs(orders, skus):
    "The units the orders to ship take, by product code"
    codes = {sku: code for by_code in skus.values()
        for code, sku in by_code.items()}
    needs = {}
    for batch in orders.values():
        for order, _ in batch:
            if order['status'] == 'cancelled':
                continue
            for line in order['lines']:
                code = codes[line['sku']]
                needs[code] = needs.get(code, 0) + line['quantity']
    return needs


def _purchases(products, needs, today, rng):
    """Each supplier's goods bought every six weeks and received after its
    lead time: what the history sells (needs, by product code), so the
    stock the demo starts with stays as it is"""
    Party = Model.get('party.party')
    Purchase = Model.get('purchase.purchase')
    ShipmentIn = Model.get('stock.shipment.in')
    Move = Model.get('stock.move')
    received = []
    for name, codes, lead_days, cost in SUPPLIERS:
        supplier = Party(name=name)
        supplier.save()
        for template in {products[c].template for c in codes}:
            template.purchasable = True
            template.purchase_uom = template.default_uom
            template.save()
        batches = (26, 20, 14, 8)
        for n, weeks_ago in enumerate(batches):
            ordered = today - dt.timedelta(weeks=weeks_ago)
            purchase = Purchase(party=supplier, invoice_method='manual')
            for code in codes:
                need = needs.get(code, 0)
                # The need split in even batches, the rest in the first.
                quantity = need // len(batches) + (
                    need % len(batches) if n == 0 else 0)
                if not quantity:
                    continue
                product = products[code]
                line = purchase.lines.new(product=product)
                line.quantity = quantity
                line.unit_price = unit_cost(product, cost)
            if not purchase.lines:
                continue
            purchase.click('quote')
            purchase.click('confirm')
            shipment = ShipmentIn(supplier=supplier)
            for move in purchase.moves:
                shipment.incoming_moves.append(Move(move.id))
            shipment.click('receive')
            shipment.click('do')
            arrived = ordered + dt.timedelta(
                days=lead_days + rng.randint(-2, 3))
            received.append((purchase.id, shipment.id, ordered, arrived))
    with _database() as cursor:
        pool = Pool()
        for purchase, shipment, ordered, arrived in received:
            _set_dates(cursor, pool, purchase=purchase, shipment_in=shipment,
                ordered=ordered, arrived=arrived)


def unit_cost(product, cost):
    "What a supplier charges for the product: a share of its list price"
    return (product.template.list_price * cost).quantize(Decimal('0.01'))


def _orders(skus, today, rng):
    """Each customer's orders over the six months, on the shop they use,
    oldest first: by channel, (payload, when it was paid)"""
    orders = {}
    number = 0
    for name, country, count in CUSTOMERS:
        channel = rng.choice(list(skus))
        # The demo's own customers keep their e-mail: the same party.
        email = SEED_EMAILS.get(
            name, f"{name.lower().replace(' ', '.')}@example.com")
        # The loyal buy all along; the one-off buyers at any time.
        for _ in range(count):
            number += 1
            day = rng.randint(8, DAYS)
            # Sales grow towards the season: recent days twice as likely.
            if rng.random() < 0.5:
                day = rng.randint(8, DAYS // 3)
            paid = dt.datetime.combine(
                today - dt.timedelta(days=day),
                dt.time(rng.randint(7, 22), rng.randint(0, 59)),
                tzinfo=dt.UTC)
            codes = rng.sample(list(skus[channel]), rng.randint(1, 2))
            lines = [(skus[channel][c], rng.randint(1, 2), _price(c))
                for c in codes]
            status = ('cancelled' if rng.random() < 0.08
                else 'awaiting_shipment')
            order = order_payload(
                channel, f'{channel}-h{100 + number}', status=status,
                lines=lines, email=email, customer_id=email, name=name,
                country_code=country, shipping_price='4.90',
                updated_at=paid, currency=data.CURRENCIES[channel],
                created_at=paid.isoformat(), kind=data.KINDS[channel])
            orders.setdefault(channel, []).append((order, paid))
    return orders


def _price(code):
    return next(p[2] for p in data.PRODUCTS if p[0] == code)


def _ship(orders, carriers, rng):
    """Every paid order shipped by a carrier, most delivered (completed):
    the sales with their paid, shipped and completed times"""
    Sale = Model.get('sale.sale')
    paid_at = {o['external_id']: paid
        for batch in orders.values() for o, paid in batch}
    sales = Sale.find([
            ('oms_external_id', 'in', list(paid_at)),
            ('oms_state', '=', 'awaiting_shipment'),
            ])
    shipped = []
    for sale in sales:
        paid = paid_at[sale.oms_external_id]
        carrier = rng.choice(carriers)
        low, high = SHIP_HOURS[carrier.code]
        left = paid + dt.timedelta(hours=rng.uniform(low, high))
        shipment, = sale.shipments
        shipment.click('pick')
        shipment.click('pack')
        shipment.oms_carrier = carrier
        shipment.oms_tracking_number = f'{rng.randint(10**9, 10**10)}'
        shipment.click('do')
        completed = None
        if (dt.datetime.now(dt.UTC) - left).days > 6 or rng.random() < 0.5:
            completed = left + dt.timedelta(hours=rng.uniform(30, 140))
            sale.reload()
            sale.click('oms_complete')
        shipped.append((sale, paid, left, completed))
    Fulfilment = Model.get('oms.fulfilment')
    for fulfilment in Fulfilment.find([('state', '=', 'waiting')]):
        fulfilment.click('mark_done')
    with _database() as cursor:
        pool = Pool()
        for sale, paid, left, completed in shipped:
            _set_dates(cursor, pool, sale=sale.id, paid=paid, left=left,
                completed=completed)
    return shipped


def _returns(shipped, keys, refund_by_hand, rng):
    "One order in twelve sends something back a week after it arrived"
    returned = []
    for sale, _, left, _ in shipped[::12]:
        line = sale.lines[0]
        reason, condition = rng.choice([
                ('size_fit', 'opened'), ('unwanted', 'unopened'),
                ('damaged', 'damaged'), ('not_as_described', 'opened')])
        rma = data.take_back(sale, line.product.code, 1, condition, reason)
        for button in ('receive', 'refund'):
            rma.click(button)
        refund_by_hand(rma, keys)
        returned.append((rma.id, left + dt.timedelta(days=7)))
    with _database() as cursor:
        pool = Pool()
        for rma, requested in returned:
            _set_dates(cursor, pool, rma=rma, requested=requested)


class _database:
    "A transaction of the demo database, for setting dates back"

    def __enter__(self):
        from proteus.config import get_config
        config = get_config()
        self.transaction = Transaction().start(
            config.database_name, config.user, context=config.context)
        return self.transaction.connection.cursor()

    def __exit__(self, *exc):
        if not exc[0]:
            self.transaction.commit()
        self.transaction.stop()


def _set_dates(cursor, pool, sale=None, paid=None, left=None,
        completed=None, purchase=None, shipment_in=None, ordered=None,
        arrived=None, rma=None, requested=None):
    "Moves what happened to when it happened"
    Sale = pool.get('sale.sale')
    Event = pool.get('oms.order.event')
    ShipmentOut = pool.get('stock.shipment.out')
    ShipmentIn = pool.get('stock.shipment.in')
    Move = pool.get('stock.move')
    Purchase = pool.get('purchase.purchase')
    Return = pool.get('oms.return')
    ReturnEvent = pool.get('oms.return.event')
    naive = _naive
    if sale:
        table = Sale.__table__()
        cursor.execute(*table.update([table.sale_date], [paid.date()],
                where=table.id == sale))
        event = Event.__table__()
        for states, when in [
                (['awaiting_shipment', 'pending_payment'], paid),
                (['shipped', 'partially_shipped'], left),
                (['completed'], completed)]:
            if when:
                cursor.execute(*event.update([event.date], [naive(when)],
                        where=(event.sale == sale)
                        & event.to_state.in_(states)))
        shipment = ShipmentOut.__table__()
        cursor.execute(*shipment.update(
                [shipment.effective_date, shipment.planned_date],
                [left.date(), left.date()],
                where=shipment.id.in_(shipment_ids(pool, sale))))
        move = Move.__table__()
        cursor.execute(*move.update(
                [move.effective_date, move.planned_date],
                [left.date(), left.date()],
                where=move.shipment.in_([f'stock.shipment.out,{s}'
                        for s in shipment_ids(pool, sale)])))
    if purchase:
        table = Purchase.__table__()
        cursor.execute(*table.update([table.purchase_date], [ordered],
                where=table.id == purchase))
        shipment = ShipmentIn.__table__()
        cursor.execute(*shipment.update(
                [shipment.effective_date, shipment.planned_date],
                [arrived, arrived], where=shipment.id == shipment_in))
        move = Move.__table__()
        cursor.execute(*move.update(
                [move.effective_date, move.planned_date],
                [arrived, arrived],
                where=move.shipment == f'stock.shipment.in,{shipment_in}'))
    if rma:
        table = Return.__table__()
        cursor.execute(*table.update([table.requested_at],
                [naive(requested)], where=table.id == rma))
        event = ReturnEvent.__table__()
        cursor.execute(*event.update([event.date],
                [naive(requested + dt.timedelta(hours=20))],
                where=event.rma == rma))


def shipment_ids(pool, sale):
    return [s.id for s in pool.get('sale.sale')(sale).shipments]


def _naive(when):
    "Timestamps are stored in naive UTC"
    return when.astimezone(dt.UTC).replace(tzinfo=None)
