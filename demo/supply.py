"""The demo's purchasing: its suppliers replenish what the shops sell
through Tryton's own flow, as staff would. Order points (stock_supply) turn
a warehouse forecast below their minimum into purchase requests (Tryton's
*Supply Stock* scheduled task, every minute in the demo); staff make the
requests purchases and confirm them; the supplier's delivery is received
and put away a round later, and the orders held for stock are tried
again. `prepare` and `supplied_by` set it up with the demo's data;
`Purchasing.round` is the staff's round while the demo runs."""
import datetime as dt
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from proteus.config import Config, get_config

SUPPLY_STOCK = 'stock.order_point|supply_stock'
# The account category of the goods bought: purchase lines take their
# supplier taxes from it (none here: the demo keeps no accounts).
GOODS = "Goods for Resale"


class Caller:
    """Calls of Tryton's models and wizards in the config's context, as the
    client makes them: what is asked and no more (proteus' records read
    whole records, more than the rounds need)"""

    def __init__(self, config: Config | None) -> None:
        self.config = config or get_config()

    def __call__(self, model: str, method: str, *args: Any) -> Any:
        return getattr(self.config.get_proxy(model), method)(
            *args, self.config.context)

    def wizard(self, name: str, model: str, ids: list[int]) -> None:
        "Run a wizard on the records to its end (no form on the way)"
        wizard = self.config.get_proxy(name, type='wizard')
        context = self.config.context
        session, start, end = wizard.create(context)
        wizard.execute(session, {}, start, {**context,
                'active_model': model, 'active_id': ids[0],
                'active_ids': ids})
        wizard.delete(session, context)


def prepare(config: Config | None = None) -> None:
    """Purchases paid outside Tryton (the demo keeps no accounts), an
    account category for the goods bought, and the Supply Stock task every
    minute (trytond-cron runs it): a shop would run it daily, the demo's
    day lasts minutes"""
    call = Caller(config)
    call('purchase.configuration', 'write', [1],
        {'purchase_invoice_method': 'manual'})
    call('product.category', 'create', [{'name': GOODS, 'accounting': True}])
    call('ir.cron', 'create', [{'method': SUPPLY_STOCK,
                'interval_number': 1, 'interval_type': 'minutes'}])


def supplied_by(product: int, supplier: int, lead_time: dt.timedelta,
        unit_price: Decimal, minimum: int, target: int,
        config: Config | None = None) -> None:
    """The product (id) bought from the supplier (a party's id) at that
    price, delivered after the lead time, and ordered up to target when the
    warehouse's forecast falls below minimum (after prepare)"""
    call = Caller(config)
    (template,) = call('product.product', 'read', [product],
        ['template', 'default_uom'])
    (category,) = call('product.category', 'search', [('name', '=', GOODS)])
    (warehouse,) = call('stock.location', 'search',
        [('type', '=', 'warehouse')])
    call('product.template', 'write', [template['template']], {
            'purchasable': True, 'purchase_uom': template['default_uom'],
            'account_category': category})
    call('purchase.product_supplier', 'create', [{
                'template': template['template'], 'product': product,
                'party': supplier, 'lead_time': lead_time,
                'prices': [('create', [{'quantity': 0,
                                'unit_price': unit_price}])],
                }])
    call('stock.order_point', 'create', [{
                'product': product, 'location': warehouse,
                'type': 'purchase', 'min_quantity': minimum,
                'target_quantity': target}])


@dataclass
class Purchasing:
    """The purchasing staff's rounds, and what they came to: purchases
    ordered and received (with their units), held orders released. Each
    step is what the staff's client asks of Tryton: searches, buttons and
    wizards."""
    config: Config
    ordered: int = 0
    received: int = 0
    units: int = 0
    released: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock,
        repr=False)

    def round(self) -> None:
        """Receive what the suppliers delivered (purchases confirmed in an
        earlier round: the demo's lead time), try the orders held for stock
        again when goods came in, then order what the requests ask for"""
        call = Caller(self.config)
        received, units = self.receive(call)
        released = self.release_held(call) if units else 0
        ordered = self.order_requested(call)
        with self.lock:
            self.received += received
            self.units += units
            self.released += released
            self.ordered += ordered

    @staticmethod
    def receive(call: Caller) -> tuple[int, int]:
        """Each confirmed purchase waiting for its goods gets them: a
        supplier shipment received and put away. The purchases received
        and their units."""
        purchases = call('purchase.purchase', 'search_read', [
                ('state', '=', 'processing'),
                ('shipment_state', '=', 'waiting'),
                ], 0, None, [('id', 'ASC')], ['party', 'warehouse', 'moves'])
        units = 0
        for purchase in purchases:
            moves = [m for m in call('stock.move', 'read', purchase['moves'],
                    ['state', 'shipment', 'quantity'])
                if m['state'] == 'draft' and not m['shipment']]
            # Received at the warehouse's door, put away in its storage
            warehouse, = call('stock.location', 'read',
                [purchase['warehouse']], ['input_location',
                    'storage_location'])
            shipment, = call('stock.shipment.in', 'create', [{
                        'supplier': purchase['party'],
                        'warehouse': purchase['warehouse'],
                        'warehouse_input': warehouse['input_location'],
                        'warehouse_storage': warehouse['storage_location'],
                        'incoming_moves': [
                            ('add', [m['id'] for m in moves])],
                        }])
            for button in ('receive', 'do'):
                call('stock.shipment.in', button, [shipment])
            units += sum(int(m['quantity']) for m in moves)
        return len(purchases), units

    @staticmethod
    def release_held(call: Caller) -> int:
        """Reprocess the orders held for stock, as staff do from the
        exception queue once goods came in; how many were released"""
        short = [('oms_exception', '=', True),
            ('oms_exception_kind', '=', 'insufficient_stock')]
        held = call('sale.sale', 'search', short)
        if not held:
            return 0
        call('sale.sale', 'oms_reprocess', held)
        return len(held) - len(call('sale.sale', 'search',
                short + [('id', 'in', held)]))

    @staticmethod
    def order_requested(call: Caller) -> int:
        """The purchase requests with a supplier become purchases (Tryton's
        Create Purchase wizard, one a supplier), quoted and confirmed; how
        many"""
        requests = call('purchase.request', 'search', [
                ('state', '=', 'draft'),
                ('purchase_line', '=', None),
                ('party', '!=', None),
                ])
        if not requests:
            return 0
        call.wizard('purchase.request.create_purchase', 'purchase.request',
            requests)
        purchases = sorted({r['purchase_line.']['purchase']
                for r in call('purchase.request', 'read', requests,
                    ['purchase_line.purchase'])})
        for button in ('quote', 'confirm'):
            call('purchase.purchase', button, purchases)
        return len(purchases)

    def summary(self) -> str:
        with self.lock:
            waiting = self.ordered - self.received
            return (f"    supplier: {self.received} purchase(s) received "
                f"({self.units} units), {waiting} on the way; "
                f"{self.released} held order(s) released")
