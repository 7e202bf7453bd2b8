"""The order importer: writes a batch of canonical orders and the channel's
new cursor in one transaction. Each order is bound to its sale by
(channel, external id); a bad order is held with its reason, never blocking
the others or the cursor."""
import logging
from collections import Counter, defaultdict
from contextlib import contextmanager

from sql import Literal

import trytond.config as config
from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.model import Model
from trytond.pool import Pool
from trytond.transaction import Transaction, TransactionError

from oms_contract.models import RejectedOrder

from ...exceptions import OrderHold
from .import_checks import checked_import
from .order import GONE, dump_order, rank

logger = logging.getLogger(__name__)


@contextmanager
def savepoint(name):
    """Undo only what the block wrote when it fails. Nested in the batch's
    transaction, which must already be open (see
    OrderImporter.import_batch)."""
    transaction = Transaction()
    cursor = transaction.connection.cursor()
    cursor.execute(f'SAVEPOINT {name}')
    tasks, logs = len(transaction.tasks), len(transaction.log_records)
    try:
        yield
    except Exception:
        cursor.execute(f'ROLLBACK TO SAVEPOINT {name}')
        del transaction.tasks[tasks:]
        del transaction.log_records[logs:]
        for cache in transaction.cache.values():
            cache.clear()
        raise
    else:
        cursor.execute(f'RELEASE SAVEPOINT {name}')


def busy(error):
    """Whether an error is about the transaction rather than an order: the
    database busy (locks, timeouts), or Tryton starting the transaction
    again to take its locks first; it must reach with_transaction"""
    return isinstance(error, (TransactionError,
            backend.DatabaseOperationalError, backend.DatabaseTimeoutError))


class OrderImporter(Model):
    __name__ = 'oms.order.importer'
    __string__ = "Order Importer"

    @classmethod
    def import_batch(cls, channel, batch):
        """Import the orders of a batch (oms_contract.models.OrderBatch) and
        store its cursor. Returns one result per order, in order, then one
        per rejected order."""
        pool = Pool()
        Sale = pool.get('sale.sale')
        cls._lock_channel(channel)
        if not config.getboolean('queue', 'worker', default=False):
            # Orders reserve in this transaction: see oms_lock_stock.
            Sale.oms_lock_stock(channel.sellable_warehouses)
        with Transaction().set_context(
                oms_source=f'channel: {channel.code}',
                oms_importing=True,  # see Notification._too_old
                company=channel.company.id), checked_import():
            # Orders seen for the first time are created together: Tryton's
            # checks cost per call far more than per record.
            known = {s.oms_external_id for s in Sale.search([
                        ('oms_channel', '=', channel.id),
                        ('oms_external_id', 'in',
                            [o.external_id for o in batch.orders]),
                        ])}
            new = {}
            for order in batch.orders:
                if order.external_id not in known:
                    new.setdefault(order.external_id, order)
            created = dict(zip(new, cls.create_orders(
                        channel, list(new.values())), strict=True))
            imported = []
            for order in batch.orders:
                if new.get(order.external_id) is order:
                    imported.append(created[order.external_id])
                else:
                    imported.append(cls.import_order(channel, order))
            for rejected in batch.rejected:
                imported.append(cls.import_rejected(channel, rejected))
            cls.enact_soon(
                [s for s, result in imported if result == 'created'])
        sales = Sale.browse([s.id for s, _ in imported])
        cls.orders_imported(channel, sales)
        results = []
        for sale, (_, result) in zip(sales, imported, strict=True):
            if sale.oms_exception and result != 'unchanged':
                result = 'exception'
            results.append(sale.oms_result(result))
        if batch.cursor is not None:
            channel.store_cursor(batch.cursor)
        counts = Counter(r['result'] for r in results)
        logger.info(
            "channel %s: %d order(s) %s, cursor %s", channel.code,
            len(results), dict(counts), channel.cursor)
        return results

    @classmethod
    def orders_imported(cls, channel, sales):
        """The sales of a batch just imported (created, updated or
        unchanged): the features that follow the channel's orders extend
        this (stock levels, returns)"""

    @classmethod
    def orders_received(cls, pairs):
        """The channel's orders as they arrived, with their sales ((sale,
        order) pairs: new, or changed since): the features that read more
        of the channel's order extend this (order messages)"""

    @classmethod
    def _lock_channel(cls, channel):
        # A write first: it opens the transaction on SQLite (so savepoints
        # nest in it) and makes concurrent batches of one channel queue
        # behind each other on PostgreSQL, keeping the cursor consistent.
        Channel = Pool().get('oms.channel')
        table = Channel.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update(
                [table.cursor], [table.cursor],
                where=table.id == Literal(channel.id)))

    @classmethod
    def enact_soon(cls, sales):
        """Enact new sales in this transaction, or, where queue workers run,
        in a task of their own right after it commits: the batch is then
        answered as soon as its orders are safely stored, and the workers
        confirm them and reserve their goods meanwhile."""
        Sale = Pool().get('sale.sale')
        if not sales:
            return
        if config.getboolean('queue', 'worker', default=False):
            Sale.__queue__.oms_enact_imported(sales)
        else:
            cls.enact(sales)

    @classmethod
    def enact(cls, sales):
        """Bring new, unheld sales in step with their status, all at once;
        when Tryton refuses, one by one, holding those it refuses."""
        Sale = Pool().get('sale.sale')
        sales = [s for s in Sale.browse(sales) if not s.oms_exception]
        if not sales:
            return
        try:
            with savepoint('oms_enact_all'):
                Sale._oms_enact(sales)
            return
        except UserError:
            pass
        for sale in sales:
            try:
                with savepoint('oms_enact'):
                    Sale._oms_enact([Sale(sale.id)])
            except UserError as error:
                logger.info("order %s held: %s", sale.rec_name, error.message)
                Sale.oms_hold([Sale(sale.id)], 'invalid_order', gettext(
                        'oms_connector.msg_order_refused',
                        error=error.message))

    @classmethod
    def create_orders(cls, channel, orders):
        """Create the sales of orders new to the ERP, all at once; when
        Tryton refuses, one by one, holding those it refuses. Returns a
        (sale, result) pair per order."""
        if not orders:
            return []
        try:
            with savepoint('oms_orders'):
                return [(s, 'created') for s in cls.create(channel, orders)]
        except Exception as error:
            if busy(error):
                raise
        return [cls.import_order(channel, order) for order in orders]

    @classmethod
    def import_order(cls, channel, order):
        """Create or update one order's sale; returns it and the result.
        New sales are left for `enact`. An order Tryton refuses is held as
        invalid; one whose data the database refuses is kept as unreadable,
        with its payload: neither stops the batch."""
        Sale = Pool().get('sale.sale')
        try:
            with savepoint('oms_order'):
                sale = Sale.search_oms(channel, order.external_id)
                if sale:
                    return sale, cls.update(sale, order)
                sale, = cls.create(channel, [order])
                return sale, 'created'
        except UserError as error:
            # Tryton refused something the checks did not foresee: the
            # order's own writes are undone and it is held as invalid.
            logger.info(
                "order %s/%s held: %s", channel.code, order.external_id,
                error.message)
            reason = gettext(
                'oms_connector.msg_order_refused', error=error.message)
            try:
                with savepoint('oms_order_held'):
                    sale = Sale.search_oms(channel, order.external_id)
                    if sale:
                        cls.hold([(sale, [('invalid_order', reason)])])
                    else:
                        sale, = cls.create(channel, [order],
                            hold=('invalid_order', reason))
                    return sale, 'exception'
            except Exception as error:
                if busy(error):
                    raise
        except Exception as error:
            if busy(error):
                raise
            # What the contract's bounds did not foresee and the database
            # refused: logged in full, and held as the agent holds an
            # order it cannot read.
            logger.exception("order %s/%s cannot be stored",
                channel.code, order.external_id)
            reason = gettext('oms_connector.msg_order_unstorable',
                error=f'{type(error).__name__}: {error}')
        return cls.import_rejected(channel, RejectedOrder.storable(
                order.external_id, order.number, reason,
                order.raw or order.model_dump(mode='json')))

    @classmethod
    def import_rejected(cls, channel, rejected):
        """Record an order the agent could not read (a RejectedOrder): held
        with its reason and raw payload until a readable copy arrives. An
        order already imported is kept as it is; its history notes the
        unreadable copy."""
        Sale = Pool().get('sale.sale')
        logger.info(
            "order %s/%s unreadable: %s", channel.code, rejected.external_id,
            rejected.reason)
        sale = Sale.search_oms(channel, rejected.external_id)
        if sale is None:
            return cls.create_rejected(channel, rejected), 'exception'
        if sale.oms_order is not None:
            cls._note_unreadable(sale, rejected.reason)
            return sale, 'unchanged'
        stored = sale.oms_channel_updated
        updated = (rejected.updated_at.replace(tzinfo=None)
            if rejected.updated_at else None)
        payload = dump_order(rejected)
        if (sale.oms_payload == payload
                or (stored and updated and updated < stored)):
            return sale, 'unchanged'
        sale.reference = rejected.number
        sale.oms_channel_updated = updated
        sale.oms_payload = payload
        sale.save()
        cls.hold([(sale, [('invalid_order', rejected.reason)])])
        return sale, 'updated'

    @classmethod
    def create(cls, channel, orders, hold=None):
        """New draft sales for the orders, in the channel's status; held when
        they cannot go ahead, or all with `hold` when given. `enact` brings
        the others in step."""
        pool = Pool()
        Binding = pool.get('oms.customer')
        parties = Binding.parties_for(channel, [o.customer for o in orders])
        sales = [cls._new_sale(channel, o.external_id, p)
            for o, p in zip(orders, parties, strict=True)]
        lookup = Lookup(channel)
        holds = []
        addresses = cls._addresses(sales, orders)
        for sale, order, address in zip(
                sales, orders, addresses, strict=True):
            sale.oms_state = order.status.value
            if order.fulfilled_by_channel:
                sale.oms_channel_fulfils = True
                sale.shipment_method = 'manual'  # no shipment of ours
            cls._write_order(sale, order, new=True)
            found = [hold] if hold else cls._fill(sale, order, address, lookup)
            if sale.oms_state in {'cancelled', 'refunded'}:
                # Arrived closed: kept for the record, nothing to fix.
                found = []
            holds.append(found)
        cls._save_new(sales, holds)
        cls.orders_received(list(zip(sales, orders, strict=True)))
        return sales

    @classmethod
    def create_rejected(cls, channel, rejected):
        """A held draft sale without lines for an unreadable order, of the
        channel's unknown customer"""
        sale = cls._new_sale(
            channel, rejected.external_id, channel.get_unknown_customer())
        sale.reference = rejected.number
        sale.oms_channel_updated = (rejected.updated_at.replace(tzinfo=None)
            if rejected.updated_at else None)
        sale.oms_payload = dump_order(rejected)
        cls._save_new([sale], [[('invalid_order', rejected.reason)]])
        return sale

    @classmethod
    def _new_sale(cls, channel, external_id, party):
        "A draft sale of the channel, with its settings"
        Sale = Pool().get('sale.sale')
        sale = Sale(
            company=channel.company,
            oms_channel=channel,
            oms_external_id=external_id,
            oms_channel_fulfils=False,
            currency=channel.currency,
            lines=[])
        cls._set_party(sale, party)
        return sale

    @classmethod
    def _set_party(cls, sale, party):
        "Give the sale its party, keeping the channel's sale settings"
        channel = sale.oms_channel
        sale.party = party
        sale.on_change_party()
        sale.warehouse = channel.warehouse
        sale.invoice_method = channel.invoice_method
        # The channel ships what it fulfils itself: no shipment is made
        sale.shipment_method = ('manual' if sale.oms_channel_fulfils
            else 'order')

    @classmethod
    def _save_new(cls, sales, holds):
        """Save new sales with their numbers, log their import and hold those
        with reasons to, all at once"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Event = pool.get('oms.order.event')
        Sale.save(sales)
        Sale.set_number(sales)
        events = [Sale._oms_event(
                s, 'import', gettext('oms_connector.msg_imported'))
            for s in sales]
        Event.save(events)
        Sale._oms_logged(events)
        cls.hold([(s, h) for s, h in zip(sales, holds, strict=True) if h])

    @classmethod
    def _note_unreadable(cls, sale, reason):
        "Log in the order's history that an unreadable copy came, once"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Event = pool.get('oms.order.event')
        if not Event.search([
                    ('sale', '=', sale.id),
                    ('kind', '=', 'unreadable'),
                    ('reason', '=', reason),
                    ], limit=1):
            Event.save([Sale._oms_event(sale, 'unreadable', reason)])

    @classmethod
    def update(cls, sale, order):
        """Apply what changed since the channel last sent the order: its
        status (payment, shipping, cancellation). Lines never change here."""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Binding = pool.get('oms.customer')
        stored = sale.oms_channel_updated
        updated = order.updated_at.replace(tzinfo=None)
        # Held unread until now: any readable copy is better than none.
        unread = sale.oms_order is None
        if not unread and stored and updated < stored:
            return 'unchanged'  # an older copy arrived late
        if (order.status.value == sale.oms_channel_status
                and stored and updated == stored):
            return 'unchanged'
        cls._write_order(sale, order)
        if unread and sale.state == 'draft':
            cls._set_party(
                sale, Binding.party_for(sale.oms_channel, order.customer))
        sale.save()
        cls.orders_received([(sale, order)])
        if sale.oms_exception and sale.oms_exception_kind in {
                'unknown_sku', 'invalid_address', 'invalid_order'}:
            cls.rebuild(sale, keep_address=not unread)
            sale = Sale(sale.id)
        elif (sale.state == 'draft' and not sale.shipment_address
                and order.shipping_address):
            # The address a pending order lacked came with its payment
            cls.rebuild(sale, keep_address=False)
            sale = Sale(sale.id)
        target = order.status.value
        if target == sale.oms_state:
            pass
        elif target == 'cancelled':
            if sale.oms_shipped_anything:
                Sale.oms_hold([sale], 'cancelled_after_shipping', gettext(
                        'oms_connector.msg_cancelled_after_shipping'))
            else:
                Sale.oms_cancel([sale])
        elif target == 'refunded':
            Sale.oms_refund([sale])
        elif sale.oms_state in {'cancelled', 'refunded'}:
            pass  # a closed order does not reopen from a channel update
        elif rank(target) > rank(sale.oms_state):
            with Transaction().set_context(
                    oms_reason=gettext(
                        'oms_connector.msg_channel_status', status=target)):
                Sale._oms_set_state([sale], target)
                if not Sale(sale.id).oms_exception:
                    Sale._oms_enact([Sale(sale.id)])
        cls._follow_channel_hold(Sale(sale.id), order)
        return 'updated'

    @classmethod
    def _follow_channel_hold(cls, sale, order):
        """Hold the order while the channel asks not to ship it (a buyer's
        cancellation request); let it go once the channel no longer does"""
        Sale = Pool().get('sale.sale')
        if (order.hold_reason and not sale.oms_exception
                and sale.oms_state not in GONE | {'cancelled', 'refunded'}):
            Sale.oms_hold([sale], 'channel_hold', gettext(
                    'oms_connector.msg_channel_hold',
                    reason=order.hold_reason))
        elif (not order.hold_reason
                and sale.oms_exception_kind == 'channel_hold'):
            Sale.oms_release([sale], gettext(
                    'oms_connector.msg_channel_hold_lifted'))
            Sale._oms_enact([Sale(sale.id)])

    @classmethod
    def rebuild(cls, sale, keep_address=True):
        """Build a held draft sale again from its stored payload: its customer
        address (unless staff corrected it) and lines. Released and brought
        in step when nothing is wrong any more, else held with the new
        reasons. An order the agent could not read stays held."""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Line = pool.get('sale.line')
        order = sale.oms_order
        if sale.state != 'draft' or order is None:
            return
        Line.delete(list(sale.lines))
        sale = Sale(sale.id)
        sale.lines = []
        if keep_address and sale.shipment_address:
            address = sale.shipment_address  # staff corrected it
        else:
            address, = cls._addresses([sale], [order])
        holds = cls._fill(sale, order, address, Lookup(sale.oms_channel))
        sale.save()
        if holds:
            cls.hold([(sale, holds)])
        else:
            Sale.oms_release([sale], gettext('oms_connector.msg_reprocessed'))
            Sale._oms_enact([Sale(sale.id)])

    @classmethod
    def hold(cls, held):
        """Hold sales with every reason found for each, given as (sale,
        [(kind, reason), ...]) pairs; the first reason names the kind"""
        Sale = Pool().get('sale.sale')
        groups = defaultdict(list)
        for sale, holds in held:
            kind = holds[0][0]
            reason = '\n'.join(r for _, r in holds)
            if not (sale.oms_exception
                    and sale.oms_exception_reason == reason):
                groups[kind, reason].append(sale)
        for (kind, reason), sales in groups.items():
            Sale.oms_hold(sales, kind, reason)

    @classmethod
    def _addresses(cls, sales, orders):
        """The shipping address of each order for its sale's party: an
        address, an OrderHold when it cannot be shipped to, or None when
        the order has none"""
        Binding = Pool().get('oms.customer')
        found = iter(Binding.addresses_for([
                    (s.party, o.shipping_address)
                    for s, o in zip(sales, orders, strict=True)
                    if o.shipping_address]))
        return [next(found) if o.shipping_address else None for o in orders]

    @classmethod
    def _write_order(cls, sale, order, new=False):
        "Record what the channel said about the order"
        sale.reference = order.number
        sale.oms_channel_status = order.status.value
        sale.oms_channel_updated = order.updated_at.replace(tzinfo=None)
        sale.oms_payload = dump_order(order)
        if new or sale.state == 'draft':
            sale.sale_date = order.created_at.date()
            sale.comment = order.notes

    @classmethod
    def _fill(cls, sale, order, address, lookup):
        """Set the sale's currency, shipping address (see `_addresses`) and
        lines from the order. Returns the reasons to hold it, as (kind,
        message) pairs: empty when fine."""
        Line = Pool().get('sale.line')
        holds = []

        sale.currency = lookup.currency(order.currency)
        if not sale.currency:
            sale.currency = sale.oms_channel.currency
            holds.append(('invalid_order', gettext(
                        'oms_connector.msg_unknown_currency',
                        currency=order.currency)))

        if address is None:
            sale.shipment_address = None
            # A pending order may get its address with its payment
            # (Amazon's do): nothing to fix until it is due to reserve.
            if not (order.status == 'pending_payment'
                    and sale.oms_channel.reserve_stock == 'payment'):
                holds.append(('invalid_address', gettext(
                            'oms_connector.msg_no_shipping_address')))
        elif isinstance(address, OrderHold):
            sale.shipment_address = None
            holds.append(('invalid_address', address.message))
        else:
            sale.shipment_address = address
            if not sale.invoice_address:
                sale.invoice_address = address

        lines = []
        if not order.lines:
            holds.append(('invalid_order', gettext(
                        'oms_connector.msg_no_lines')))
        holds.extend(cls._price_holds(order))
        for position, ordered in enumerate(order.lines, 1):
            if not ordered.sku:
                holds.append(('unknown_sku', gettext(
                            'oms_connector.msg_missing_sku',
                            line=position, title=ordered.title)))
                lines.append(cls._unmapped_line(sale, ordered))
                continue
            product = lookup.product(ordered.sku)
            unmapped = None
            if product is None:
                unmapped = gettext('oms_connector.msg_unknown_sku',
                    sku=ordered.sku, line=position, title=ordered.title)
            elif not product.salable:
                # What the sale line's domain would refuse (see
                # import_checks): a listing outliving its product's sale
                unmapped = gettext('oms_connector.msg_product_not_salable',
                    sku=ordered.sku, line=position, product=product.rec_name)
            if unmapped:
                holds.append(('unknown_sku', unmapped))
                lines.append(cls._unmapped_line(sale, ordered))
                continue
            # The channel's price is what the customer paid: no product
            # on_change, which would reprice and ask for tax accounts.
            lines.append(Line(
                    sale=sale, type='line', product=product,
                    unit=product.sale_uom, quantity=ordered.quantity,
                    unit_price=ordered.unit_price,
                    description=ordered.title or product.rec_name,
                    taxes=[], oms_external_id=ordered.external_id))
        if order.shipping_price:
            lines.append(Line(
                    sale=sale, type='line', quantity=1,
                    description=gettext('oms_connector.msg_shipping_line'),
                    unit_price=order.shipping_price, taxes=[]))
        # Held orders keep every line (unmapped ones without a product), so
        # staff see what was ordered and its total.
        sale.lines = lines
        if order.hold_reason and order.status.value not in GONE:
            holds.append(('channel_hold', gettext(
                        'oms_connector.msg_channel_hold',
                        reason=order.hold_reason)))
        return holds


    @classmethod
    def _price_holds(cls, order):
        """The prices with more decimals than Tryton keeps (the contract
        allows 6): what the unit price's digits would refuse (see
        import_checks)"""
        Line = Pool().get('sale.line')
        _, decimals = Line.unit_price.digits
        prices = [(str(position), ordered.unit_price)
            for position, ordered in enumerate(order.lines, 1)]
        if order.shipping_price:
            prices.append((gettext('oms_connector.msg_shipping_line'),
                    order.shipping_price))
        return [('invalid_order', gettext(
                    'oms_connector.msg_price_decimals', line=line,
                    price=price, decimals=decimals))
            for line, price in prices if price != round(price, decimals)]

    @classmethod
    def _unmapped_line(cls, sale, ordered):
        """The channel's line as it came, without a product: staff see what
        was ordered and its total; once its SKU is mapped, Reprocess builds
        the sale again from the channel's order"""
        Line = Pool().get('sale.line')
        return Line(
            sale=sale, type='line', quantity=ordered.quantity,
            unit_price=ordered.unit_price, taxes=[],
            description=gettext('oms_connector.msg_unmapped_line',
                title=ordered.title, sku=ordered.sku or "-"),
            oms_external_id=ordered.external_id)


class Lookup:
    "What a batch's orders refer to, each looked up once per batch"

    def __init__(self, channel):
        self.channel = channel
        self._currencies, self._products = {}, {}

    def currency(self, code):
        "The currency of an ISO 4217 code, or None"
        if code not in self._currencies:
            Currency = Pool().get('currency.currency')
            currencies = Currency.search([('code', '=', code)], limit=1)
            self._currencies[code] = currencies[0] if currencies else None
        return self._currencies[code]

    def product(self, sku):
        "The product of the channel's SKU, or None"
        if sku not in self._products:
            Listing = Pool().get('oms.listing')
            self._products[sku] = Listing.product_for_sku(self.channel, sku)
        return self._products[sku]
