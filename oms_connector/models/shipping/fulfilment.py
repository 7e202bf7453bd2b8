"""Fulfilments: what a channel must hear once a customer shipment of one of
its orders is done (DESIGN.md §2: ERP shipment done → agent GET
fulfilments → adapter → ack).

One fulfilment per (shipment, sale), made as the shipment is done: the
parcel's carrier and tracking number, the lines it carried as the channel
knows them, and whether the order has nothing left to ship. The agent reads
the waiting ones (and the failed ones whose retry has come), pushes each to
the channel under its key, the channel's idempotency key, and acknowledges
it pushed or failed; a failure is retried later and later, at most an hour
apart, until it goes through or staff mark it done."""
import datetime as dt
import math
import uuid
from collections import defaultdict

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import without_check_access

from ...exceptions import FulfilmentError, UntrackedShipmentWarning
from ..outbox import ChannelOutbox, OutboxFields

STATES = [
    ('waiting', "Waiting"),
    ('done', "Done"),
    ('failed', "Failed"),
    ]
# The fields staff may correct until the fulfilment reaches the channel
EDITABLE = {'carrier', 'tracking_number', 'tracking_url', 'notify_customer'}

def new_key():
    return f'oms-fulfilment-{uuid.uuid4().hex}'


class Fulfilment(ChannelOutbox, Workflow, ModelSQL, ModelView):
    __name__ = 'oms.fulfilment'
    __string__ = "Fulfilment"
    _rec_name = 'key'
    _outbox = OutboxFields(
        state='state', waiting='waiting', done='done', attempts='attempts',
        next_attempt='next_attempt', error='error',
        external_id='external_id')
    _editable = {'readonly': Eval('state') == 'done'}

    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    sale = fields.Many2One(
        'sale.sale', "Order", required=True, readonly=True,
        ondelete='RESTRICT')
    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, readonly=True,
        ondelete='RESTRICT')
    shipment = fields.Many2One(
        'stock.shipment.out', "Shipment", required=True, readonly=True,
        ondelete='RESTRICT')
    key = fields.Char(
        "Key", required=True, readonly=True, strip=False,
        help="Sent with the fulfilment as the channel's idempotency key: "
        "a push repeated after a lost answer fulfils nothing twice.")
    carrier = fields.Many2One(
        'oms.carrier', "Carrier", ondelete='RESTRICT', states=_editable)
    tracking_number = fields.Char(
        "Tracking Number", strip=True, states=_editable)
    tracking_url = fields.Char(
        "Tracking URL", states=_editable,
        help="Filled from the carrier's tracking URL template.")
    shipped_at = fields.Timestamp("Shipped At", required=True, readonly=True)
    lines = fields.One2Many(
        'oms.fulfilment.line', 'fulfilment', "Lines", readonly=True)
    complete = fields.Boolean(
        "Complete", readonly=True,
        help="Nothing of the order was left to ship after this parcel.")
    notify_customer = fields.Boolean(
        "Notify Customer", states=_editable,
        help="The channel tells the buyer of the parcel (from the channel's "
        "Marketplace Notifies Buyer).")
    state = fields.Selection(
        STATES, "State", required=True, readonly=True, sort=False)
    error = fields.Text(
        "Error", readonly=True,
        states={
            'invisible': ~Eval('error'),
            },
        help="Why the channel last refused the fulfilment.")
    attempts = fields.Integer(
        "Failed Attempts", required=True, readonly=True)
    next_attempt = fields.Timestamp(
        "Next Attempt", readonly=True,
        states={
            'invisible': Eval('state') != 'failed',
            })
    external_id = fields.Char(
        "Channel Fulfilment ID", readonly=True,
        states={
            'invisible': ~Eval('external_id'),
            })
    pushed_at = fields.Timestamp("Pushed At", readonly=True)

    del _editable

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('key_unique', Unique(t, t.key),
                'oms_connector.msg_fulfilment_key_unique'),
            ('shipment_sale_unique', Unique(t, t.shipment, t.sale),
                'oms_connector.msg_fulfilment_shipment_sale_unique'),
            ]
        cls._sql_indexes.add(Index(t,
                (t.channel, Index.Equality()),
                (t.state, Index.Equality(cardinality='low')),
                where=t.state.in_(['waiting', 'failed'])))
        cls._order = [('shipped_at', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('waiting', 'done'),
            ('waiting', 'failed'),
            ('failed', 'waiting'),
            ('failed', 'done'),
            }
        cls._buttons.update({
                'retry': {
                    'invisible': Eval('state') != 'failed',
                    'depends': ['state'],
                    },
                'mark_done': {
                    'invisible': Eval('state') == 'done',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'waiting'

    @classmethod
    def default_attempts(cls):
        return 0

    @classmethod
    def default_key(cls):
        return new_key()

    @classmethod
    def default_notify_customer(cls):
        return True

    @classmethod
    def default_complete(cls):
        return False

    @fields.depends('carrier', 'tracking_number')
    def on_change_with_tracking_url(self):
        if self.carrier:
            return self.carrier.tracking_url_for(self.tracking_number)

    def get_rec_name(self, name):
        return f'{self.shipment.rec_name} ({self.sale.rec_name})'

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Eval('state') == 'failed', 'danger', '')),
            ]

    @property
    def parcel(self):
        "The parcel as the order's history names it: carrier and number"
        name = ' '.join(p for p in [
                self.carrier.name if self.carrier else None,
                self.tracking_number] if p)
        return name or gettext('oms_connector.msg_fulfilment_untracked')

    # Staff may correct a parcel's tracking until it reaches the channel.

    @classmethod
    def check_modification(cls, mode, fulfilments, values=None,
            external=False):
        super().check_modification(
            mode, fulfilments, values=values, external=external)
        if mode == 'write' and EDITABLE & set(values or ()):
            for fulfilment in fulfilments:
                if fulfilment.state == 'done':
                    raise FulfilmentError(gettext(
                            'oms_connector.msg_fulfilment_done_readonly',
                            fulfilment=fulfilment.rec_name))

    @classmethod
    def write(cls, *args):
        super().write(*args)
        # A corrected carrier or number gets its tracking URL anew, unless
        # the URL is given with it.
        retrack = [f for fulfilments, values in zip(
                args[::2], args[1::2], strict=True)
            if {'carrier', 'tracking_number'} & values.keys()
            and 'tracking_url' not in values
            for f in fulfilments]
        to_write = []
        for fulfilment in cls.browse(retrack):
            url = fulfilment.on_change_with_tracking_url()
            if url != fulfilment.tracking_url:
                to_write.extend(([fulfilment], {'tracking_url': url}))
        if to_write:
            super().write(*to_write)

    @classmethod
    def on_modification(cls, mode, fulfilments, field_names=None):
        super().on_modification(mode, fulfilments, field_names=field_names)
        if mode == 'write' and {'carrier', 'tracking_number'} & set(
                field_names or ()):
            cls._correct_shipments(fulfilments)

    @classmethod
    @without_check_access
    def _correct_shipments(cls, fulfilments):
        "Carry a corrected carrier and number to the shipment they came from"
        ShipmentOut = Pool().get('stock.shipment.out')
        to_write = []
        for fulfilment in cls.browse(fulfilments):
            shipment = fulfilment.shipment
            if (shipment.oms_carrier != fulfilment.carrier
                    or shipment.oms_tracking_number
                    != fulfilment.tracking_number):
                to_write.extend(([shipment], {
                            'oms_carrier': (fulfilment.carrier.id
                                if fulfilment.carrier else None),
                            'oms_tracking_number': fulfilment.tracking_number,
                            }))
        if to_write:
            ShipmentOut.write(*to_write)

    # Made as customer shipments are done.

    @classmethod
    def check_tracking(cls, shipments):
        """Warn before parcels of channel orders leave without a carrier or
        a tracking number: skipped, their fulfilments go without one."""
        Warning = Pool().get('res.user.warning')
        with without_check_access():
            untracked = [s for s in shipments
                if s.state != 'done'
                and not (s.oms_carrier and s.oms_tracking_number)
                and any(m.sale and m.sale.oms_channel
                    for m in s.outgoing_moves if m.state != 'cancelled')]
        if untracked:
            key = Warning.format('oms_untracked_shipment', untracked)
            if Warning.check(key):
                raise UntrackedShipmentWarning(key, gettext(
                        'oms_connector.msg_shipment_untracked',
                        shipments=', '.join(
                            s.rec_name for s in untracked[:5])))

    @classmethod
    @without_check_access
    def create_for_shipments(cls, shipments):
        """Record, for each channel order the done shipments carried goods
        of, what they carried: one fulfilment per shipment and order"""
        pool = Pool()
        ShipmentOut = pool.get('stock.shipment.out')
        Sale = pool.get('sale.sale')
        shipments = sorted(ShipmentOut.browse(shipments), key=lambda s: s.id)
        parcels = defaultdict(list)  # sale id: its shipments, in order
        for shipment in shipments:
            sale_ids = {m.sale.id for m in shipment.outgoing_moves
                if m.state == 'done' and m.sale}
            for sale_id in sorted(sale_ids):
                parcels[sale_id].append(shipment)
        existing = {(f.shipment.id, f.sale.id) for f in cls.search([
                    ('shipment', 'in', [s.id for s in shipments]),
                    ])}
        now = dt.datetime.now()
        fulfilments = []
        for sale in Sale.browse(sorted(parcels)):
            if not sale.oms_channel:
                continue
            sale_parcels = parcels[sale.id]
            lines = cls._reported_lines(sale)
            in_batch = {m.id for s in sale_parcels for m in s.outgoing_moves}
            # Done before: what this batch's shipments add is theirs.
            counted = {m.id for m in sale.moves
                if m.state == 'done' and m.to_location.type == 'customer'
                and m.id not in in_batch}
            made = []
            for shipment in sale_parcels:
                before = {li: cls._shipped_units(li, counted) for li in lines}
                counted |= {m.id for m in shipment.outgoing_moves
                    if m.state == 'done'}
                shipped = [(li, cls._shipped_units(li, counted) - before[li])
                    for li in lines]
                shipped = [(li, q) for li, q in shipped if q > 0]
                if not shipped or (shipment.id, sale.id) in existing:
                    # Parts of a kit only: the kit goes with its last part.
                    continue
                made.append(cls._new(sale, shipment, shipped, now))
            if made:
                made[-1].complete = cls._nothing_to_ship(sale)
            fulfilments.extend(made)
        cls.save(fulfilments)
        return fulfilments

    @classmethod
    def _new(cls, sale, shipment, shipped, now):
        pool = Pool()
        Line = pool.get('oms.fulfilment.line')
        carrier = shipment.oms_carrier
        return cls(
            company=sale.company,
            sale=sale,
            channel=sale.oms_channel,
            shipment=shipment,
            key=new_key(),
            carrier=carrier,
            tracking_number=shipment.oms_tracking_number,
            tracking_url=shipment.oms_tracking_url,
            shipped_at=now,
            complete=False,
            notify_customer=sale.oms_channel.notifies_buyer,
            state='waiting',
            attempts=0,
            lines=[Line(
                    sale_line=line,
                    external_id=line.oms_external_id,
                    sku=line.product.code or None,
                    quantity=quantity)
                for line, quantity in shipped])

    @classmethod
    def _reported_lines(cls, sale):
        """The sale's lines a channel knows of goods: the parts Tryton adds
        for products made of components go with their line"""
        return [line for line in sale.line_lines
            if line.product and line.quantity and line.quantity > 0
            and not getattr(line, 'component_parent', None)]

    @classmethod
    def _shipped_units(cls, line, moves):
        """The whole units of the line (in its unit) that the done moves of
        `moves` (ids) took to the customer; a kit counts the kits its
        shipped components make up"""
        Uom = Pool().get('product.uom')

        def done(origin, unit):
            return sum(Uom.compute_qty(m.unit, m.quantity, unit, round=False)
                for m in origin.moves if m.id in moves)
        components = getattr(line, 'components', None)
        if components:
            quantity = min(
                (done(c, c.unit) * line.quantity / c.quantity
                    for c in components if c.quantity),
                default=0)
        else:
            quantity = done(line, line.unit)
        return math.floor(round(quantity, 6))

    @classmethod
    def _nothing_to_ship(cls, sale):
        Sale = Pool().get('sale.sale')
        sale = Sale(sale.id)
        return all(line.moves_progress >= 1 for line in sale.line_lines
            if line.moves_progress is not None)

    # Read and acknowledged by the agent.

    @classmethod
    def to_push(cls, channel, limit=None):
        "The channel's fulfilments to push now, oldest first"
        return cls.search(cls.outbox_due(channel),
            order=[('shipped_at', 'ASC'), ('id', 'ASC')], limit=limit)

    @classmethod
    def record_push(cls, pushed, failed):
        """Record the fulfilments the channel accepted ({fulfilment: its
        channel id}) and those it refused ({fulfilment: error}), which are
        retried after a back-off. Done ones stay as they are."""
        pool = Pool()
        Event = pool.get('oms.order.event')
        Sale = pool.get('sale.sale')
        now = dt.datetime.now()
        args, events = [], []
        for fulfilment, external_id in pushed.items():
            if not fulfilment.outbox_open:
                continue
            args.extend(([fulfilment], {
                        **fulfilment.outbox_pushed(external_id),
                        'pushed_at': now,
                        }))
            events.append(Sale._oms_event(
                    fulfilment.sale, 'fulfilment', gettext(
                        'oms_connector.msg_fulfilment_sent'
                        if not external_id
                        else 'oms_connector.msg_fulfilment_sent_as',
                        parcel=fulfilment.parcel,
                        channel=fulfilment.channel.rec_name,
                        external_id=external_id)))
        for fulfilment, error in failed.items():
            if not fulfilment.outbox_open:
                continue
            args.extend(([fulfilment], fulfilment.outbox_refused(error)))
            if fulfilment.outbox_refusal_is_news(error):
                events.append(Sale._oms_event(
                        fulfilment.sale, 'fulfilment_failed', gettext(
                            'oms_connector.msg_fulfilment_failed',
                            parcel=fulfilment.parcel,
                            channel=fulfilment.channel.rec_name,
                            error=error)))
        if args:
            with without_check_access():
                cls.write(*args)
        Event.save(events)

    # Staff

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting')
    def retry(cls, fulfilments):
        "Push the failed fulfilments at the agent's next poll"
        cls.write(fulfilments, {'next_attempt': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def mark_done(cls, fulfilments):
        "Staff fulfilled them on the channel by hand: push them no more"
        pool = Pool()
        Event = pool.get('oms.order.event')
        Sale = pool.get('sale.sale')
        cls.write(fulfilments, {'next_attempt': None})
        Event.save([Sale._oms_event(
                    f.sale, 'fulfilment', gettext(
                        'oms_connector.msg_fulfilment_marked_done',
                        parcel=f.parcel, channel=f.channel.rec_name))
                for f in fulfilments])


class FulfilmentLine(ModelSQL, ModelView):
    "What a parcel carried of one order line"
    __name__ = 'oms.fulfilment.line'
    __string__ = "Fulfilment Line"

    fulfilment = fields.Many2One(
        'oms.fulfilment', "Fulfilment", required=True, readonly=True,
        ondelete='CASCADE')
    sale_line = fields.Many2One(
        'sale.line', "Order Line", required=True, readonly=True,
        ondelete='RESTRICT')
    external_id = fields.Char(
        "Channel Line ID", readonly=True,
        help="The channel's id of the order line.")
    sku = fields.Char(
        "SKU", readonly=True, help="The product's code.")
    quantity = fields.Integer(
        "Quantity", required=True, readonly=True,
        help="Whole units shipped, in the order line's unit; kits count "
        "once all their components are shipped.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('fulfilment')
        cls._order = [('fulfilment', 'ASC'), ('id', 'ASC')]
