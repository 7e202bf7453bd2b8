"""Orders: the OMS lifecycle on Tryton's sale, kept in step with the sale's
own state and its customer shipments (DESIGN.md §6).

The OMS state says where the order is for the merchant and the customer;
``_oms_enact`` makes Tryton's sale and shipments match it (quote, confirm,
process, reserve, release) and ``_oms_set_state`` is the one place that
checks a transition and writes the log.
"""
import datetime as dt
import json
import secrets
from collections import defaultdict
from functools import wraps

from sql import For

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction, TransactionError

from oms_contract.models import STATUS_LABELS

from ...exceptions import TransitionError
from .import_checks import checked_import

# PostgreSQL's "could not serialize access due to concurrent update"
SERIALIZATION_FAILURE = '40001'


class StockReservedMeanwhile(TransactionError):
    """Another transaction reserved from the same warehouses since this one
    began: trytond runs it again from the start (see oms_lock_stock)"""


# How many waiting orders a worker's task reserves beside its own
ASSIGN_BACKLOG = 1000
# The order statuses of the contract, as the selection lists them
OMS_STATES = [(str(status), label) for status, label in STATUS_LABELS.items()]
# The forward path; cancelled and refunded are side exits.
PROGRESS = [
    'pending_payment', 'awaiting_shipment', 'partially_shipped', 'shipped',
    'completed']
# Orders whose goods have left (the channel says so): never held for stock
GONE = {'shipped', 'completed'}
EXCEPTION_KINDS = [
    (None, ""),
    ('unknown_sku', "Unknown SKU"),
    ('insufficient_stock', "Insufficient Stock"),
    ('invalid_address', "Invalid Address"),
    ('invalid_order', "Invalid Order"),
    ('cancelled_after_shipping', "Cancelled after Shipping"),
    ('channel_hold', "Held by the Channel"),
    ('manual', "Held by Staff"),
    ]
PRIORITIES = [
    ('0', "Low"),
    ('1', "Normal"),
    ('2', "High"),
    ('3', "Urgent"),
    ]


def _transitions():
    pairs = set()
    for i, from_ in enumerate(PROGRESS):
        pairs.update((from_, to) for to in PROGRESS[i + 1:])
        if from_ != 'completed':
            pairs.add((from_, 'cancelled'))
        pairs.add((from_, 'refunded'))
    return pairs


def rank(state):
    "How far along the forward path a state is (exits rank last)"
    return PROGRESS.index(state) if state in PROGRESS else len(PROGRESS)


def oms_source():
    "Who is acting: the channel being imported, else the current user"
    pool = Pool()
    User = pool.get('res.user')
    context = Transaction().context
    if context.get('oms_source'):
        return context['oms_source']
    return f'user: {User(Transaction().user).rec_name}'


def processing_now(sales):
    "Within it, confirming the sales queues no processing of them"
    context = Transaction().context
    return Transaction().set_context(_oms_processing_now=[
            *context.get('_oms_processing_now', ()),
            *(s.id for s in sales)])


def oms_reason(default):
    def decorator(func):
        @wraps(func)
        def wrapper(cls, sales, *args, **kwargs):
            context = Transaction().context
            with Transaction().set_context(
                    oms_reason=context.get('oms_reason') or default):
                return func(cls, sales, *args, **kwargs)
        return wrapper
    return decorator


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    oms_channel = fields.Many2One(
        'oms.channel', "Channel", readonly=True, ondelete='RESTRICT',
        help="The sales channel the order came from; empty for orders "
        "keyed in by hand.")
    oms_external_id = fields.Char(
        "Channel Order ID", readonly=True,
        states={'invisible': ~Eval('oms_channel')})
    oms_state = fields.Selection(
        OMS_STATES, "Order Status", required=True, readonly=True, sort=False)
    oms_state_string = oms_state.translated('oms_state')
    oms_channel_status = fields.Selection(
        [(None, "")] + OMS_STATES, "Channel Status", readonly=True,
        states={'invisible': ~Eval('oms_channel')},
        help="The status the channel last reported.")
    oms_channel_updated = fields.Timestamp(
        "Channel Updated", readonly=True,
        states={'invisible': ~Eval('oms_channel')})
    oms_channel_fulfils = fields.Boolean(
        "Fulfilled by Channel", readonly=True,
        states={'invisible': ~Eval('oms_channel_fulfils')},
        help="The channel ships this order from its own stock (Amazon FBA): "
        "nothing is reserved or shipped from the ERP's warehouses.")
    oms_channel_deducted = fields.Boolean(
        "Channel Deducted", readonly=True,
        states={'invisible': ~Eval('oms_channel')},
        help="The channel has taken the order's goods off the quantity it "
        "shows.")
    oms_exception = fields.Boolean(
        "On Hold", readonly=True,
        help="The order needs a person: see the reason.")
    oms_exception_kind = fields.Selection(
        EXCEPTION_KINDS, "Hold Kind", readonly=True,
        states={'invisible': ~Eval('oms_exception')})
    oms_exception_reason = fields.Text(
        "Hold Reason", readonly=True,
        states={'invisible': ~Eval('oms_exception')})
    oms_priority = fields.Selection(PRIORITIES, "Priority", required=True)
    oms_payload = fields.Text(
        "Channel Payload", readonly=True,
        states={'invisible': ~Eval('oms_channel')},
        help="The order as the channel last sent it, raw payload included.")
    oms_events = fields.One2Many(
        'oms.order.event', 'sale', "Status History", readonly=True)
    oms_fulfilments = fields.One2Many(
        'oms.fulfilment', 'sale', "Fulfilments", readonly=True,
        states={'invisible': ~Eval('oms_channel')},
        help="What the channel is told of the order's parcels.")
    oms_access_token = fields.Char(
        "Customer Access Token", readonly=True, strip=False,
        help="Lets the customer look the order up from the link in their "
        "e-mails, without their order number and e-mail address.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('oms_channel_external_id_unique',
                Unique(t, t.oms_channel, t.oms_external_id),
                'oms_connector.msg_sale_external_id_unique'),
            ]
        cls._oms_transitions = _transitions()
        cls._buttons.update({
                'oms_mark_paid': {
                    'invisible': Eval('oms_state') != 'pending_payment',
                    'depends': ['oms_state'],
                    },
                'oms_complete': {
                    'invisible': Eval('oms_state') != 'shipped',
                    'depends': ['oms_state'],
                    },
                'oms_cancel': {
                    'invisible': Eval('oms_state').in_(
                        ['shipped', 'completed', 'cancelled', 'refunded']),
                    'depends': ['oms_state'],
                    },
                'oms_refund': {
                    'invisible': Eval('oms_state').in_(
                        ['cancelled', 'refunded']),
                    'depends': ['oms_state'],
                    },
                'oms_hold': {
                    'invisible': Bool(Eval('oms_exception')),
                    'depends': ['oms_exception'],
                    },
                'oms_reprocess': {
                    'invisible': ~Eval('oms_exception'),
                    'depends': ['oms_exception'],
                    },
                })

    @classmethod
    def default_oms_state(cls):
        return 'pending_payment'

    @classmethod
    def default_oms_exception(cls):
        return False

    @classmethod
    def default_oms_priority(cls):
        return '1'

    @classmethod
    def create(cls, vlist):
        # Each order its own token: a default is computed once per create
        # call, and would be shared by all the orders of an import.
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if not values.get('oms_access_token'):
                values['oms_access_token'] = secrets.token_urlsafe(18)
        return super().create(vlist)

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        for name in [
                'oms_channel', 'oms_external_id', 'oms_channel_status',
                'oms_channel_updated', 'oms_channel_deducted',
                'oms_channel_fulfils',
                'oms_exception', 'oms_exception_kind',
                'oms_exception_reason', 'oms_payload', 'oms_events',
                'oms_fulfilments']:
            default.setdefault(name, None)
        default.setdefault('oms_access_token', None)
        default.setdefault('oms_state', 'pending_payment')
        return super().copy(sales, default=default)

    @property
    def oms_order(self):
        """The canonical order the channel last sent; None for hand-keyed
        orders and for those the agent could not read (whose payload is a
        RejectedOrder's)"""
        from oms_contract.models import Order
        if self.oms_payload:
            payload = json.loads(self.oms_payload)
            if 'reason' not in payload:
                return Order.model_validate(payload)

    @property
    def oms_shipped_anything(self):
        return any(
            m.state == 'done' for line in self.line_lines for m in line.moves
            if m.to_location.type == 'customer')

    @property
    def oms_tracking_info(self):
        """The parcels sent to the customer, oldest first: carrier, tracking
        number and URL, date"""
        shipments = sorted(
            (s for s in self.shipments if s.state == 'done'),
            key=lambda s: (s.effective_date or dt.date.min, s.id))
        return [t for t in (s.oms_tracking for s in shipments) if t]

    @property
    def oms_reserve_due(self):
        "Whether this order's goods should be reserved now"
        if self.oms_state in {'cancelled', 'refunded'}:
            return False
        if self.oms_state == 'pending_payment':
            return bool(self.oms_channel
                and self.oms_channel.reserve_stock == 'order')
        return True

    # Transitions, one method each, for staff (buttons) and the importer.

    @classmethod
    @ModelView.button
    @oms_reason("marked paid")
    def oms_mark_paid(cls, sales):
        cls._oms_set_state(sales, 'awaiting_shipment')
        cls._oms_enact(sales)

    @classmethod
    @ModelView.button
    @oms_reason("completed")
    def oms_complete(cls, sales):
        cls._oms_set_state(sales, 'completed')

    @classmethod
    @ModelView.button
    @oms_reason("cancelled")
    def oms_cancel(cls, sales):
        for sale in sales:
            if sale.oms_shipped_anything:
                raise TransitionError(gettext(
                        'oms_connector.msg_cancel_shipped',
                        sale=sale.rec_name))
        cls._oms_set_state(sales, 'cancelled')
        cls._oms_enact(sales)

    @classmethod
    @ModelView.button
    @oms_reason("refunded")
    def oms_refund(cls, sales):
        cls._oms_set_state(sales, 'refunded')
        cls._oms_enact(sales)

    @classmethod
    @ModelView.button
    def oms_hold(cls, sales, kind='manual', reason=None):
        pool = Pool()
        Event = pool.get('oms.order.event')
        reason = reason or gettext('oms_connector.msg_held_by_staff')
        cls.write(list(sales), {
                'oms_exception': True,
                'oms_exception_kind': kind,
                'oms_exception_reason': reason,
                })
        Event.save([cls._oms_event(s, 'hold', reason) for s in sales])

    @classmethod
    def oms_release(cls, sales, reason):
        pool = Pool()
        Event = pool.get('oms.order.event')
        sales = [s for s in sales if s.oms_exception]
        cls.write(sales, {
                'oms_exception': False,
                'oms_exception_kind': None,
                'oms_exception_reason': None,
                })
        Event.save([cls._oms_event(s, 'release', reason) for s in sales])

    @classmethod
    @ModelView.button
    def oms_reprocess(cls, sales):
        """Try held orders again, for example once their SKU is mapped or
        stock has arrived; those that pass are released."""
        pool = Pool()
        Importer = pool.get('oms.order.importer')
        for sale in sales:
            if not sale.oms_exception:
                continue
            if sale.oms_exception_kind in {'unknown_sku', 'invalid_address',
                    'invalid_order'} and sale.oms_payload:
                Importer.rebuild(sale)
            elif sale.oms_exception_kind != 'insufficient_stock':
                # Staff fixed it by hand: let it go ahead.
                cls.oms_release([sale], gettext(
                        'oms_connector.msg_released_by_staff'))
                cls._oms_enact([sale])
            else:
                cls._oms_enact([sale])

    @classmethod
    def oms_enact_imported(cls, sales):
        """Queued by an import: bring its new orders in step with their
        status, then reserve their goods: here if no one else reserves from
        their warehouses, else in a task of its own that waits its turn
        (oms_assign_imported). Processing (shipments, moves) needs no lock
        and runs in as many workers as there are; reserving runs alone per
        warehouse."""
        Importer = Pool().get('oms.order.importer')
        sales = [s for s in cls.browse(sales) if s.state == 'draft']
        with checked_import(), Transaction().set_context(
                _oms_defer_assign=True):
            Importer.enact(sales)
        waiting = [s for s in cls.browse(sales)
            if s.state == 'processing' and s.shipment_state == 'waiting'
            and not s.oms_exception]
        if not waiting:
            return
        if cls.oms_lock_stock_now({s.warehouse for s in waiting}):
            # No one reserves from these warehouses: no need to wait for
            # another task (one worker would run both, one after the other)
            with checked_import():
                cls._oms_assign(waiting)
        else:
            cls.__queue__.oms_assign_imported(waiting)

    @classmethod
    def oms_assign_imported(cls, sales):
        """Queued once imported orders are processed: reserve their goods
        under the warehouses' lock, and with them those of the other
        processed orders of these warehouses still waiting (whose own
        tasks then find them reserved): a backlog is reserved in a few big
        assignments, not one per import call"""
        warehouses = {s.warehouse for s in sales}
        cls.oms_lock_stock(warehouses)
        waiting = [('oms_channel', '!=', None),
            ('state', '=', 'processing'),
            ('shipment_state', '=', 'waiting'),
            ('oms_exception', '=', False)]
        sales = cls.search(
            [*waiting, ('id', 'in', [s.id for s in sales])])
        if not sales:
            return
        sales += cls.search([*waiting,
                ('warehouse', 'in', [w.id for w in warehouses if w]),
                ('id', 'not in', [s.id for s in sales]),
                ], order=[('id', 'ASC')], limit=ASSIGN_BACKLOG)
        with checked_import():
            cls._oms_assign(sales)

    @classmethod
    def oms_lock_stock(cls, warehouses):
        """Reserve from the warehouses alone: wait for any transaction
        reserving from them to finish, and start over if one finished since
        this transaction began.

        Tryton's own lock (its moves' rows) does not see the moves another
        reservation has just created: under PostgreSQL's repeatable read,
        two imports racing for the last units would both find them free.
        Writing the warehouses' rows makes the later one wait for the
        earlier one, then fail to serialize: it restarts with a fresh view
        of the stock, as often as it takes (each restart waits its turn, so
        it is not one of trytond's few quick retries). Taken first thing in
        an import, a restart costs nothing."""
        Location = Pool().get('stock.location')
        table = Location.__table__()
        ids = sorted({w.id for w in warehouses if w})
        if not ids:
            return
        cursor = Transaction().connection.cursor()
        try:
            cursor.execute(*table.update(
                    [table.write_date], [table.write_date],
                    where=table.id.in_(ids)))
        except backend.DatabaseOperationalError as error:
            if getattr(error, 'sqlstate', None) == SERIALIZATION_FAILURE:
                raise StockReservedMeanwhile() from error
            raise

    @classmethod
    def oms_lock_stock_now(cls, warehouses):
        """Take the warehouses' lock (see oms_lock_stock) only if no other
        transaction holds it and none reserved from them since this one
        began; whether it was taken. Late in a transaction, waiting for the
        lock would end in starting the whole transaction over."""
        Location = Pool().get('stock.location')
        table = Location.__table__()
        ids = sorted({w.id for w in warehouses if w})
        if backend.name != 'postgresql' or not ids:
            # SQLite serialises its writers: the lock is always at hand
            cls.oms_lock_stock(warehouses)
            return True
        cursor = Transaction().connection.cursor()
        cursor.execute('SAVEPOINT oms_lock_stock_now')
        try:
            cursor.execute(*table.select(table.id,
                    where=table.id.in_(ids),
                    for_=For('UPDATE', nowait=True)))
            cls.oms_lock_stock(warehouses)
        except (backend.DatabaseOperationalError, StockReservedMeanwhile):
            # Held by another (NOWAIT) or changed since (serialization)
            cursor.execute('ROLLBACK TO SAVEPOINT oms_lock_stock_now')
            return False
        cursor.execute('RELEASE SAVEPOINT oms_lock_stock_now')
        return True

    # The one place a transition is checked and logged.

    @classmethod
    def _oms_set_state(cls, sales, state):
        pool = Pool()
        Event = pool.get('oms.order.event')
        moving = [s for s in sales if s.oms_state != state]
        for sale in moving:
            if (sale.oms_state, state) not in cls._oms_transitions:
                raise TransitionError(gettext(
                        'oms_connector.msg_oms_transition',
                        sale=sale.rec_name,
                        from_=sale.oms_state_string,
                        to=dict(OMS_STATES)[state]))
        reason = Transaction().context.get('oms_reason')
        events = [cls._oms_event(s, 'transition', reason, to_state=state)
            for s in moving]
        cls.write(moving, {'oms_state': state})
        Event.save(events)
        cls._oms_logged(events)

    @classmethod
    def _oms_logged(cls, events):
        """The order events just logged (transitions, imports): the
        features that act on them extend this (notifications)"""

    @classmethod
    def _oms_event(cls, sale, kind, reason, to_state=None):
        "A log entry; a transition goes from the sale's current state"
        pool = Pool()
        Event = pool.get('oms.order.event')
        return Event(
            sale=sale,
            kind=kind,
            from_state=sale.oms_state if kind == 'transition' else None,
            to_state=to_state or sale.oms_state,
            date=dt.datetime.now(),
            reason=reason,
            source=oms_source())

    # Keeping Tryton's sale and shipments in step with the OMS state.

    @classmethod
    def _oms_enact(cls, sales):
        "Bring the Tryton sales and shipments in line with their OMS state"
        # A pending order may have no address yet (Amazon serves it once
        # paid): it stays a draft until then.
        to_quote = [s for s in sales
            if s.oms_state == 'pending_payment' and not s.oms_reserve_due
            and s.state == 'draft' and s.shipment_address]
        to_reserve = [s for s in sales if s.oms_reserve_due]
        to_release = [s for s in sales
            if s.oms_state in {'cancelled', 'refunded'}
            and not s.oms_shipped_anything]
        if to_quote:
            cls.quote(to_quote)
        if to_reserve:
            cls._oms_reserve(to_reserve)
        if to_release:
            cls._oms_release_stock(to_release)

    @classmethod
    def _oms_reserve(cls, sales):
        "Confirm and process the sales, which reserves their goods"
        cls.quote([s for s in sales if s.state == 'draft'])
        sales = cls.browse(sales)
        # Process now rather than from the queue: the goods must be reserved
        # before the import answers (process is idempotent).
        with processing_now(sales):
            cls.confirm([s for s in sales if s.state == 'quotation'])
        cls.process(cls.browse(sales))

    @classmethod
    def _oms_release_stock(cls, sales):
        "Cancel what the sales have not shipped, so their stock is free again"
        ShipmentOut = Pool().get('stock.shipment.out')
        cls.cancel([s for s in sales if s.state in {'draft', 'quotation'}])
        confirmed = [s for s in sales if s.state == 'confirmed']
        if confirmed:
            cls.draft(confirmed)
            cls.cancel(confirmed)
        processing = [s for s in sales if s.state == 'processing']
        shipments = [sh for s in processing for sh in s.shipments
            if sh.state not in {'done', 'cancelled'}]
        if shipments:
            ShipmentOut.cancel(shipments)
        cls.oms_finish_cancelled(processing)

    @classmethod
    def oms_finish_cancelled(cls, sales):
        """Tell Tryton the sales' cancelled moves are meant, as its "handle
        shipment exception" wizard does, and process them so they can
        finish"""
        Line = Pool().get('sale.line')
        for sale in sales:
            for line in sale.line_lines:
                ignored = [m.id for m in line.moves
                    if m.state == 'cancelled' and m not in line.moves_ignored]
                if ignored:
                    Line.write([line], {'moves_ignored': [('add', ignored)]})
        if sales:
            cls.process(sales)

    @property
    def oms_keeps_partial(self):
        "Whether the order keeps what could be reserved when short of stock"
        return bool(self.oms_channel
            and self.oms_channel.partial_reservation)

    @classmethod
    def _oms_assign(cls, sales):
        """Reserve the goods of the sales whose reservation is due: hold those
        that lack stock, release those that were held for it and now have
        it."""
        due = [s for s in sales if s.oms_reserve_due]
        short, freed = cls._oms_assign_try(due)
        if freed and len(short) > 1:
            # What a short order let go of may serve the others: try them
            # again one at a time, each letting go before the next.
            retry, short = [s for s in due if s in short], {}
            for sale in retry:
                short.update(cls._oms_assign_try([sale])[0])
        for sale in cls.browse(due):
            # Shipped on the channel: the goods are gone, nothing to wait for
            if sale in short and sale.oms_state not in GONE:
                if sale.oms_exception_kind != 'insufficient_stock':
                    cls.oms_hold([sale], 'insufficient_stock', gettext(
                            'oms_connector.msg_insufficient_stock',
                            products=short[sale]))
            elif sale.oms_exception_kind == 'insufficient_stock':
                cls.oms_release([sale], gettext(
                        'oms_connector.msg_stock_reserved'))

    @classmethod
    def _oms_assign_try(cls, sales):
        """Try to reserve the goods of the sales' waiting shipments.

        Return the sales short of stock (each with the products it lacks)
        and whether any reservation was let go of: a short order keeps
        nothing reserved unless its channel keeps partial reservations, or
        an order too big for the stock would starve every later one."""
        ShipmentOut = Pool().get('stock.shipment.out')
        sales = cls.browse(sales)
        waiting = [sh for s in sales for sh in s.shipments
            if sh.state == 'waiting']
        if waiting:
            cls.oms_lock_stock({sh.warehouse for sh in waiting})
            ShipmentOut.assign_try(waiting)
        short = {}
        for sale in cls.browse(sales):
            moves = [m for sh in sale.shipments
                if sh.state not in {'done', 'cancelled'}
                for m in sh.assign_moves
                if m.assignation_required
                and m.state in {'draft', 'staging'}]
            lacking = defaultdict(float)  # a product's split moves, summed
            for move in moves:
                lacking[move.product] += move.quantity
            if lacking:
                short[sale] = ', '.join(f'{product.rec_name} × {quantity:g}'
                    for product, quantity in lacking.items())
        freed = cls._oms_unreserve([s for s in short
                if not s.oms_keeps_partial and s.oms_state not in GONE])
        return short, freed

    @classmethod
    def _oms_unreserve(cls, sales):
        """Let go of what the sales' open shipments reserved, whole orders
        at once; whether there was any"""
        ShipmentOut = Pool().get('stock.shipment.out')
        shipments = [sh for s in sales for sh in s.shipments
            if sh.state in {'waiting', 'assigned'}
            and any(m.state == 'assigned' for m in sh.assign_moves)]
        if shipments:
            ShipmentOut.oms_unassign(shipments)
        return bool(shipments)

    # Tryton's own workflow moves the OMS state too, so orders keyed in by
    # hand and warehouse work follow the same lifecycle.

    # Tryton's buttons, extended as buttons: the user's click is checked
    # once, and the workflow it sets off (processing reserves, which is
    # the sale administrators' button) is the system's, as in Tryton.

    @classmethod
    @ModelView.button
    def confirm(cls, sales):
        with processing_now([s for s in sales
                    if not s.oms_channel and not s.oms_return
                    and s.oms_state == 'pending_payment']):
            super().confirm(sales)
        manual = [s for s in cls.browse(sales)
            if s.state == 'confirmed' and not s.oms_channel
            and not s.oms_return
            and s.oms_state == 'pending_payment']
        if manual:
            with Transaction().set_context(oms_reason="sale confirmed"):
                cls._oms_set_state(manual, 'awaiting_shipment')
            # Reserve now, like channel orders, not when the queue gets to it.
            cls.process(manual)

    @classmethod
    @ModelView.button
    def cancel(cls, sales):
        super().cancel(sales)
        with Transaction().set_context(oms_reason="sale cancelled"):
            cls._oms_set_state(
                [s for s in cls.browse(sales) if s.state == 'cancelled'
                    and not s.oms_return
                    and s.oms_state not in {'cancelled', 'refunded'}],
                'cancelled')

    @classmethod
    @ModelView.button
    def process(cls, sales):
        super().process(sales)
        # A return sale (see oms.return) brings goods back: it is no order.
        sales = [s for s in cls.browse(sales) if not s.oms_return]
        if not Transaction().context.get('_oms_defer_assign'):
            cls._oms_assign(sales)
        cls._oms_follow_shipments(sales)

    @classmethod
    def _oms_follow_shipments(cls, sales):
        with Transaction().set_context(oms_reason="shipment done"):
            sent = [s for s in sales if s.shipment_state == 'sent'
                and rank(s.oms_state) < rank('shipped')]
            partial = [s for s in sales
                if s.shipment_state == 'partially shipped'
                and rank(s.oms_state) < rank('partially_shipped')]
            if sent:
                cls._oms_set_state(sent, 'shipped')
            if partial:
                cls._oms_set_state(partial, 'partially_shipped')

    @property
    def oms_shipped_on(self):
        "When the order's last parcel left, else when it became shipped"
        dates = [s.effective_date for s in self.shipments
            if s.state == 'done' and s.effective_date]
        if dates:
            return max(dates)
        for event in self.oms_events:  # newest first
            if event.kind == 'transition' and event.to_state == 'shipped':
                return event.date.date()

    @classmethod
    def oms_complete_shipped(cls):
        """Complete, as delivered, the shipped orders whose last parcel left
        at least Complete After (days) ago: their channel's setting, or the
        configuration's for orders keyed in by hand (cron)"""
        pool = Pool()
        Configuration = pool.get('oms.configuration')
        Channel = pool.get('oms.channel')
        Date = pool.get('ir.date')
        context = Transaction().context
        by_hand = Configuration(1).complete_after
        with Transaction().set_context(active_test=False):
            after = {c.id: c.complete_after for c in Channel.search([
                        ('complete_after', '!=', None),
                        ])}
        which = [('oms_channel', 'in', list(after))]
        if by_hand is not None:
            which.append(('oms_channel', '=', None))
        domain = [
            ('oms_state', '=', 'shipped'),
            ('oms_exception', '=', False),
            ['OR', *which],
            ]
        if context.get('company'):
            domain.append(('company', '=', context['company']))
        today = Date.today()
        due = defaultdict(list)
        for sale in cls.search(domain, order=[('id', 'ASC')]):
            days = (after.get(sale.oms_channel.id) if sale.oms_channel
                else by_hand)
            shipped_on = sale.oms_shipped_on
            if (days is not None and shipped_on
                    and (today - shipped_on).days >= days):
                due[days].append(sale)
        for days, sales in sorted(due.items()):
            with Transaction().set_context(
                    oms_source='scheduler',
                    oms_reason=gettext(
                        'oms_connector.msg_delivered_after', days=days)):
                cls._oms_set_state(sales, 'completed')

    def oms_result(self, result):
        "What the import route answers for this order"
        return {
            'external_id': self.oms_external_id,
            'result': result,
            'sale': self.number,
            'sale_id': self.id,
            'state': self.oms_state,
            'exception': (
                {'kind': self.oms_exception_kind,
                    'reason': self.oms_exception_reason}
                if self.oms_exception else None),
            }

    @classmethod
    def search_oms(cls, channel, external_id):
        sales = cls.search([
                ('oms_channel', '=', channel.id),
                ('oms_external_id', '=', external_id),
                ], limit=1)
        return sales[0] if sales else None


class Queue(metaclass=PoolMeta):
    __name__ = 'ir.queue'

    @classmethod
    def push(cls, name, data, scheduled_at=None, expected_at=None):
        # Tryton's confirm queues the processing of the sales; those the OMS
        # processes at once (see processing_now) need no second pass.
        now = set((data.get('context') or {}).pop('_oms_processing_now', ()))
        instances = data.get('instances')
        if (now and data['model'] == 'sale.sale'
                and data['method'] == 'process'
                and ({instances} if isinstance(instances, int)
                    else set(instances)) <= now):
            return None
        return super().push(
            name, data, scheduled_at=scheduled_at, expected_at=expected_at)


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.line'

    oms_external_id = fields.Char(
        "Channel Line ID", readonly=True,
        help="The channel's id of this line, for partial fulfilments.")

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_external_id', None)
        return super().copy(lines, default=default)


def dump_order(order):
    "The canonical order as stored on the sale"
    return json.dumps(order.model_dump(mode='json'), indent=1, sort_keys=True)
