"""After-sales: return requests (RMAs) on orders, from staff, customers and
the channels, resolved by a refund, an exchange, a repair/reship or a
rejection.

requested → approved → received → refunded / exchanged / closed, and
rejected; a request whose goods do not come back (a refund of money alone)
goes from approved to its resolution. ``_set_state`` is the one place a
transition is checked, logged and told to the customer.

Stock follows through Tryton's own return sale: approving a request whose
goods come back makes the return sale and its incoming return shipment;
receiving it puts each line in the warehouse's storage (sellable: the
channels' available-to-sell rises) or its waste location (damaged,
quarantined: not for sale). An exchange or reship is a new order through
the same lifecycle and reservation as any other."""
import datetime as dt
import uuid
from decimal import Decimal

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from ...exceptions import ReturnError, TransitionError
from ..orders.order import PRIORITIES, oms_source
from .return_policy import RESOLUTIONS

STATES = [
    ('requested', "Requested"),
    ('approved', "Approved"),
    ('received', "Received"),
    ('refunded', "Refunded"),
    ('exchanged', "Exchanged"),
    ('closed', "Closed"),
    ('rejected', "Rejected"),
    ]
OPEN = ['requested', 'approved', 'received']
TRANSITIONS = {
    ('requested', 'approved'),
    ('requested', 'rejected'),
    # A channel refund of money alone arrives already settled.
    ('requested', 'refunded'),
    ('approved', 'received'),
    ('approved', 'rejected'),
    # Goods not coming back: resolved once approved
    ('approved', 'refunded'),
    ('approved', 'exchanged'),
    ('approved', 'closed'),
    ('received', 'refunded'),
    ('received', 'exchanged'),
    ('received', 'closed'),
    }
SOURCES = [
    ('staff', "Staff"),
    ('customer', "Customer"),
    ('channel', "Channel"),
    ]
CONDITIONS = [
    ('unopened', "Unopened"),
    ('opened', "Opened, Resellable"),
    ('damaged', "Damaged"),
    ('defective', "Defective"),
    ]
DESTINATIONS = [
    ('sellable', "Sellable Stock"),
    ('quarantine', "Quarantine / Damaged"),
    ]
# Where goods in each condition go by default
RESELLABLE = {'unopened', 'opened'}
REFUND_STATES = [
    (None, ""),
    ('pending', "To Push"),
    ('failed', "Channel Refused"),
    ('pushed', "Refunded on Channel"),
    ('channel', "Refunded by Channel"),
    ('manual', "Refund by Hand"),
    ]
# What customers may ask for themselves; the rest is staff's call
CUSTOMER_RESOLUTIONS = {'refund', 'exchange'}
# The sales the customer may return goods of
RETURNABLE_SALE_STATES = {'confirmed', 'processing', 'done'}


# Channels' reasons (Shopify's ReturnReason) named otherwise than ours
REASON_ALIASES = {
    'size_too_large': 'size_fit',
    'size_too_small': 'size_fit',
    'color': 'not_as_described',
    'style': 'unwanted',
    }


def new_refund_key():
    return f'oms-refund-{uuid.uuid4().hex}'


class ReturnReason(ModelSQL, ModelView):
    __name__ = 'oms.return.reason'
    __string__ = "Return Reason"

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char(
        "Code", required=True,
        help="The reason as the channels and the customer page name it.")
    active = fields.Boolean("Active")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'oms_connector.msg_return_reason_code_unique'),
            ]
        cls._order = [('name', 'ASC'), ('id', 'ASC')]

    @classmethod
    def default_active(cls):
        return True

    @classmethod
    def from_channel(cls, text):
        """The reason a channel's reason text names (by code or name, case
        blind), else the catch-all 'other'"""
        reasons = cls.search([])
        if text:
            wanted = text.strip().lower().replace(' ', '_')
            wanted = REASON_ALIASES.get(wanted, wanted)
            for reason in reasons:
                if wanted in {reason.code.lower(),
                        reason.name.lower().replace(' ', '_')}:
                    return reason
        return next((r for r in reasons if r.code == 'other'), None)


class Return(ModelSQL, ModelView):
    __name__ = 'oms.return'
    __string__ = "Return Request"
    _rec_name = 'number'
    _open = {'readonly': ~Eval('state').in_(['requested'])}

    number = fields.Char("Number", readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    sale = fields.Many2One(
        'sale.sale', "Order", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('oms_return', '=', None),
            ],
        states={
            'readonly': Eval('id', -1) >= 0,
            'required': Eval('source') != 'channel',
            })
    channel = fields.Many2One(
        'oms.channel', "Channel", readonly=True, ondelete='RESTRICT')
    order_external_id = fields.Char(
        "Channel Order ID", readonly=True,
        states={'invisible': ~Eval('channel')})
    external_id = fields.Char(
        "Channel Return ID", readonly=True,
        states={'invisible': ~Eval('external_id')},
        help="The channel's id of the return or refund this request "
        "came from.")
    party = fields.Many2One(
        'party.party', "Customer", readonly=True, ondelete='RESTRICT',
        context={'company': Eval('company', -1)}, depends={'company'})
    segment = fields.Many2One(
        'oms.customer.segment', "Customer Tier", readonly=True,
        ondelete='SET NULL',
        help="The customer's tier when they asked.")
    source = fields.Selection(SOURCES, "Source", required=True, readonly=True)
    requested_at = fields.Timestamp("Requested At", readonly=True)
    description = fields.Text("Customer's Words", states=_open)
    resolution = fields.Selection(
        RESOLUTIONS, "Resolution", required=True, sort=False,
        states={'readonly': ~Eval('state').in_(['requested', 'approved'])})
    return_goods = fields.Boolean(
        "Goods Come Back", states=_open,
        help="The customer sends the goods back; without it, a refund, "
        "exchange or reship moves no stock in.")
    # Known once the goods are on their way: after the approval
    return_carrier = fields.Char(
        "Return Carrier",
        help="The carrier the customer sends the goods back with.")
    return_tracking_number = fields.Char(
        "Return Waybill",
        help="The waybill of the goods coming back, as the channel or the "
        "customer gave it.")
    lines = fields.One2Many(
        'oms.return.line', 'rma', "Lines", states=_open)
    state = fields.Selection(
        STATES, "State", required=True, readonly=True, sort=False)
    state_string = state.translated('state')
    policy = fields.Many2One(
        'oms.return.policy', "Policy", readonly=True, ondelete='SET NULL')
    priority = fields.Selection(
        PRIORITIES, "Priority", required=True, sort=False)
    due_date = fields.Timestamp("Due", help="When it should be resolved by.")
    overdue = fields.Function(
        fields.Boolean("Overdue"), 'get_overdue', searcher='search_overdue')
    note = fields.Text(
        "Staff Note",
        help="Told to the customer with the next change (e.g. why it is "
        "rejected).")
    held = fields.Boolean("Needs Attention", readonly=True)
    hold_reason = fields.Text(
        "Attention Reason", readonly=True,
        states={'invisible': ~Eval('held')})
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')
    refund_amount = fields.Numeric(
        "Amount to Refund", digits='currency',
        domain=['OR',
            ('refund_amount', '=', None),
            ('refund_amount', '>=', 0),
            ],
        states={
            'invisible': Eval('resolution') != 'refund',
            'readonly': ~Eval('state').in_(['requested', 'approved',
                    'received']),
            },
        help="Filled from the lines' prices; change it for a partial "
        "refund or to add shipping.")
    refunded_amount = fields.Numeric(
        "Refunded", digits='currency', readonly=True)
    return_sale = fields.Many2One(
        'sale.sale', "Return Sale", readonly=True, ondelete='RESTRICT',
        help="Tryton's return sale: its return shipment brings the goods "
        "in.")
    return_shipments = fields.Function(fields.Many2Many(
            'stock.shipment.out.return', None, None, "Return Shipments"),
        'get_return_shipments')
    replacement = fields.Many2One(
        'sale.sale', "Replacement Order", readonly=True,
        ondelete='RESTRICT')
    events = fields.One2Many(
        'oms.return.event', 'rma', "History", readonly=True)
    channel_payload = fields.Text(
        "Channel Payload", readonly=True,
        states={'invisible': ~Eval('channel_payload')})

    del _open

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('external_id_unique', Unique(t, t.channel, t.external_id),
                'oms_connector.msg_return_external_id_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(OPEN)),
                })
        # The queue: most urgent first, then the soonest due
        cls._order = [
            ('priority', 'DESC'),
            ('due_date', 'ASC NULLS LAST'),
            ('id', 'ASC'),
            ]
        cls._buttons.update({
                'approve': {
                    'invisible': Eval('state') != 'requested',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': ~Eval('state').in_(
                        ['requested', 'approved']),
                    'depends': ['state'],
                    },
                'receive': {
                    'invisible': ((Eval('state') != 'approved')
                        | ~Eval('return_goods')),
                    'depends': ['state', 'return_goods'],
                    },
                'refund': {
                    'invisible': ~cls._resolvable('refund'),
                    'depends': ['state', 'return_goods', 'resolution'],
                    },
                'exchange': {
                    'invisible': ~cls._resolvable('exchange'),
                    'depends': ['state', 'return_goods', 'resolution'],
                    },
                'close': {
                    'invisible': ~cls._resolvable('repair'),
                    'depends': ['state', 'return_goods', 'resolution'],
                    },
                'release': {
                    'invisible': ~Eval('held'),
                    'depends': ['held'],
                    },
                })

    @staticmethod
    def _resolvable(resolution):
        "Whether requests may now be resolved so (a PYSON expression)"
        return ((Eval('resolution') == resolution)
            & ((Eval('state') == 'received')
                | ((Eval('state') == 'approved') & ~Eval('return_goods'))))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'requested'

    @classmethod
    def default_source(cls):
        return 'staff'

    @classmethod
    def default_resolution(cls):
        return 'refund'

    @classmethod
    def default_return_goods(cls):
        return True

    @classmethod
    def default_priority(cls):
        return '1'

    @classmethod
    def default_held(cls):
        return False

    def get_currency(self, name):
        if self.sale:
            return self.sale.currency.id
        if self.channel:
            return self.channel.currency.id
        return self.company.currency.id if self.company else None

    def get_overdue(self, name):
        return bool(self.due_date and self.state in OPEN
            and self.due_date < dt.datetime.now())

    @classmethod
    def search_overdue(cls, name, clause):
        _, operator, value = clause
        overdue = [
            ('due_date', '<', dt.datetime.now()),
            ('state', 'in', OPEN),
            ]
        if (operator == '=') == bool(value):
            return overdue
        return ['OR',
            ('due_date', '=', None),
            ('due_date', '>=', dt.datetime.now()),
            ('state', 'not in', OPEN),
            ]

    @property
    def return_received(self):
        "Whether goods of the request have come in"
        return any(s.state in {'received', 'done'}
            for s in self.return_shipments)

    def get_return_shipments(self, name):
        if self.return_sale:
            return [s.id for s in self.return_sale.shipment_returns]
        return []

    @fields.depends('sale', 'lines')
    def on_change_sale(self):
        if self.sale:
            self.party = self.sale.party

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual', If(Bool(Eval('overdue')), 'danger',
                    If(Bool(Eval('held')), 'warning', ''))),
            ]

    # Creation: numbered, and given the policy of its channel and segment.

    @classmethod
    def create(cls, vlist):
        pool = Pool()
        Sequence = pool.get('ir.sequence')
        ModelData = pool.get('ir.model.data')
        Sale = pool.get('sale.sale')
        sequence = Sequence(
            ModelData.get_id('oms_connector', 'sequence_return'))
        now = dt.datetime.now()
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            values.setdefault('number', sequence.get())
            values.setdefault('requested_at', now)
            if values.get('sale'):
                sale = Sale(values['sale'])
                values.setdefault('party', sale.party.id)
                values.setdefault('company', sale.company.id)
                if sale.oms_channel:
                    values.setdefault('channel', sale.oms_channel.id)
                    values.setdefault(
                        'order_external_id', sale.oms_external_id)
        rmas = super().create(vlist)
        for rma in rmas:
            if rma.refund_amount is None and rma.sale:
                rma.refund_amount = rma.lines_amount
        cls._apply_policy(rmas)  # saves both
        for rma in rmas:
            cls._log([rma], None, gettext(
                    'oms_connector.msg_return_requested',
                    source=dict(SOURCES)[rma.source]))
        cls._notify([r for r in rmas if r.state == 'requested'],
            'return_requested')
        cls.approve_automatically(
            [r for r in rmas if r.state == 'requested'])
        return rmas

    @classmethod
    def _apply_policy(cls, rmas):
        "Set each request's segment, policy, priority and due date"
        Policy = Pool().get('oms.return.policy')
        for rma in rmas:
            rma.segment = rma.party.oms_segment if rma.party else None
            rma.policy = Policy.for_request(
                rma.company, rma.channel, rma.segment)
            if rma.policy:
                rma.priority = rma.policy.priority
                rma.due_date = rma.policy.due_date(rma.requested_at)
        cls.save(rmas)

    @classmethod
    def copy(cls, rmas, default=None):
        default = default.copy() if default is not None else {}
        for name in ['number', 'external_id', 'events', 'return_sale',
                'replacement', 'refunded_amount', 'refund_state',
                'refund_key', 'refund_external_id', 'refund_error',
                'refund_next_attempt', 'channel_payload', 'requested_at']:
            default.setdefault(name, None)
        default.setdefault('state', 'requested')
        default.setdefault('refund_attempts', 0)
        return super().copy(rmas, default=default)

    @classmethod
    def delete(cls, rmas):
        for rma in rmas:
            if rma.state not in {'requested', 'rejected'} or rma.return_sale:
                raise ReturnError(gettext(
                        'oms_connector.msg_return_delete', rma=rma.rec_name,
                        state=rma.state_string))
        super().delete(rmas)

    @classmethod
    def request_by_customer(cls, sale, quantities, reason=None,
            resolution='refund', description=None):
        """The customer's own request, from the order page: quantities by
        order line, their reason (a reason code), refund or exchange. Bad
        input raises ReturnError naming what is wrong."""
        Reason = Pool().get('oms.return.reason')
        if resolution not in CUSTOMER_RESOLUTIONS:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_customer_resolution',
                    resolution=resolution))
        reasons = Reason.search([('code', '=', reason)]) if reason else []
        if reason and not reasons:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_reason_unknown', reason=reason))
        lines = [{
                'sale_line': line.id,
                'quantity': quantity,
                'reason': reasons[0].id if reasons else None,
                'condition': 'opened',
                } for line, quantity in quantities.items() if quantity]
        rma, = cls.create([{
                    'sale': sale.id,
                    'source': 'customer',
                    'resolution': resolution,
                    'description': description,
                    'lines': [('create', lines)],
                    }])
        return rma

    def customer_view(self):
        "What the customer is shown of the request"
        return {
            'number': self.number,
            'state': self.state,
            'label': self.state_string,
            'resolution': self.resolution,
            'requested_at': (self.requested_at.replace(microsecond=0)
                .isoformat() + 'Z') if self.requested_at else None,
            }

    # Checks: what may be returned of the order

    @classmethod
    def validate(cls, rmas):
        super().validate(rmas)
        for rma in rmas:
            # What a channel reports happened already: it is flagged for
            # staff (see oms.return.importer), never refused.
            if rma.source != 'channel' and rma.state == 'requested':
                rma.check_returnable()

    def check_returnable(self):
        sale = self.sale
        if not sale:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_no_order', rma=self.rec_name))
        if sale.state not in RETURNABLE_SALE_STATES or sale.oms_state in {
                'cancelled', 'pending_payment'}:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_sale_state',
                    sale=sale.rec_name, state=sale.oms_state_string))
        if not self.lines:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_no_lines', rma=self.rec_name))
        for line in self.lines:
            line.check_quantity()

    @property
    def lines_amount(self):
        "What the lines were sold for"
        amount = sum((line.amount for line in self.lines), Decimal(0))
        return self.currency.round(amount) if self.currency else amount

    # Transitions, one method each, for staff (buttons), the customer page
    # and the channels.

    @classmethod
    def check_actionable(cls, rmas):
        "Refuse to act on requests needing attention or without an order"
        for rma in rmas:
            if rma.held:
                raise ReturnError(gettext(
                        'oms_connector.msg_return_held', rma=rma.rec_name,
                        reason=rma.hold_reason or ''))
            if not rma.sale:
                raise ReturnError(gettext(
                        'oms_connector.msg_return_no_order',
                        rma=rma.rec_name))

    @classmethod
    @ModelView.button
    def release(cls, rmas):
        """Staff have seen to what needed attention (lines corrected, the
        order linked): the request goes ahead"""
        rmas = [r for r in rmas if r.held]
        for rma in rmas:
            if not rma.sale:
                raise ReturnError(gettext(
                        'oms_connector.msg_return_no_order',
                        rma=rma.rec_name))
        cls.write(rmas, {'held': False, 'hold_reason': None})
        cls._log(rmas, {r.id: r.state for r in rmas},
            gettext('oms_connector.msg_return_released'))
        cls.expect_goods([r for r in cls.browse(rmas)
                if r.state == 'approved'])

    @classmethod
    @ModelView.button
    def approve(cls, rmas):
        cls.check_actionable(rmas)
        for rma in rmas:
            if rma.policy:
                rma.policy.check_resolution(rma)
            if rma.resolution == 'reject':
                raise ReturnError(gettext(
                        'oms_connector.msg_return_approve_reject',
                        rma=rma.rec_name))
        cls._set_state(rmas, 'approved',
            gettext('oms_connector.msg_return_approved'))
        cls.expect_goods([r for r in rmas if r.return_goods])

    @classmethod
    def approve_automatically(cls, rmas):
        "Approve the requests whose policy says so"
        auto = [r for r in rmas if r.state == 'requested' and r.policy
            and r.policy.auto_approve and not r.held
            and r.resolution != 'reject'
            and (not r.policy.resolutions
                or r.resolution in r.policy.resolutions)]
        if auto:
            with Transaction().set_context(oms_source='policy'):
                cls._set_state(auto, 'approved', gettext(
                        'oms_connector.msg_return_auto_approved'))
            cls.expect_goods([r for r in auto if r.return_goods])

    @classmethod
    @ModelView.button
    def reject(cls, rmas):
        pool = Pool()
        Sale = pool.get('sale.sale')
        Shipment = pool.get('stock.shipment.out.return')
        for rma in rmas:
            if rma.return_received:
                raise ReturnError(gettext(
                        'oms_connector.msg_return_reject_received',
                        rma=rma.rec_name))
        cls.write(list(rmas), {'resolution': 'reject'})
        # The goods are no longer expected.
        shipments = [s for r in rmas for s in r.return_shipments
            if s.state == 'draft']
        if shipments:
            Shipment.cancel(shipments)
        Sale.oms_finish_cancelled(
            [r.return_sale for r in rmas if r.return_sale])
        cls._set_state(rmas, 'rejected',
            gettext('oms_connector.msg_return_rejected'))

    @classmethod
    @ModelView.button
    def receive(cls, rmas):
        """Receive the goods into the warehouse: each line to its
        destination, as the return shipment's inventory moves"""
        cls.check_actionable(rmas)
        pool = Pool()
        Shipment = pool.get('stock.shipment.out.return')
        for rma in rmas:
            if not rma.return_goods:
                raise ReturnError(gettext(
                        'oms_connector.msg_return_no_goods',
                        rma=rma.rec_name))
        cls.expect_goods([r for r in rmas if not r.return_sale])
        rmas = cls.browse(rmas)
        drafts = [s for r in rmas for s in r.return_shipments
            if s.state == 'draft']
        if drafts:
            Shipment.receive(drafts)
        received = [s for r in cls.browse(rmas) for s in r.return_shipments
            if s.state == 'received']
        if received:
            Shipment.do(received)
        # Shipment.do moved them on (see ShipmentOutReturn.do)
        cls._set_state(
            [r for r in cls.browse(rmas) if r.state == 'approved'],
            'received', gettext('oms_connector.msg_return_received'))

    @classmethod
    def goods_received(cls, rmas):
        """Move on the requests whose return shipments are all done: to
        received, and to refunded when the channel refunded already"""
        done = [r for r in rmas if r.state == 'approved' and r.return_sale
            and r.return_shipments
            and all(s.state in {'done', 'cancelled'}
                for s in r.return_shipments)]
        cls._set_state(done, 'received',
            gettext('oms_connector.msg_return_received'))
        refunded = [r for r in cls.browse(done)
            if r.refund_state == 'channel' and r.resolution == 'refund']
        if refunded:
            cls._set_state(refunded, 'refunded', gettext(
                    'oms_connector.msg_return_refunded_by_channel'))

    @classmethod
    @ModelView.button
    def refund(cls, rmas):
        """Refund the customer: the amount is recorded, and pushed to the
        channel the order came from (or flagged for staff to refund there
        by hand, where the channel cannot take it)"""
        cls.check_actionable(rmas)
        now = dt.datetime.now()
        for rma in rmas:
            rma.check_refund_amount()
            rma.refunded_amount = rma.refund_amount
            if (rma.channel and rma.sale
                    and rma.refund_state not in {'channel', 'pushed'}):
                rma.refund_state = 'pending'
                rma.refund_key = rma.refund_key or new_refund_key()
                rma.refund_next_attempt = now
        cls.save(rmas)
        for rma in rmas:
            cls._set_state([rma], 'refunded', gettext(
                    'oms_connector.msg_return_refunded',
                    amount=rma.amount_text(rma.refunded_amount)),
                values={'amount': rma.refunded_amount})

    def check_refund_amount(self):
        "Refuse a refund of nothing, or of more than the order has left"
        if not self.refund_amount:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_refund_zero',
                    rma=self.rec_name))
        refunded = sum((r.refunded_amount or 0
                for r in self.__class__.search([
                        ('sale', '=', self.sale.id),
                        ('id', '!=', self.id),
                        ('state', '=', 'refunded'),
                        ])), Decimal(0))
        left = self.sale.total_amount - refunded
        if self.refund_amount > left:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_refund_too_much',
                    rma=self.rec_name,
                    amount=self.amount_text(self.refund_amount),
                    sale=self.sale.rec_name,
                    left=self.amount_text(left)))

    def amount_text(self, amount):
        Lang = Pool().get('ir.lang')
        if amount is None:
            return ''
        return Lang.get().currency(amount, self.currency)

    @classmethod
    @ModelView.button
    def exchange(cls, rmas):
        "Send the exchange products, as a new order"
        cls.check_actionable(rmas)
        for rma in rmas:
            rma.replacement = rma.make_replacement(priced=True)
        cls.save(rmas)
        for rma in rmas:
            cls._set_state([rma], 'exchanged', gettext(
                    'oms_connector.msg_return_exchanged',
                    sale=rma.replacement.rec_name),
                values={'replacement': rma.replacement.number})

    @classmethod
    @ModelView.button
    def close(cls, rmas):
        "Repaired or to reship: send the goods again, as a new order"
        cls.check_actionable(rmas)
        for rma in rmas:
            if rma.resolution == 'repair' and not rma.replacement:
                rma.replacement = rma.make_replacement(priced=False)
        cls.save(rmas)
        cls._set_state(rmas, 'closed', gettext(
                'oms_connector.msg_return_closed'))

    # The one place a transition is checked, logged and notified.

    @classmethod
    def _set_state(cls, rmas, state, reason, values=None):
        moving = [r for r in rmas if r.state != state]
        for rma in moving:
            if (rma.state, state) not in TRANSITIONS:
                raise TransitionError(gettext(
                        'oms_connector.msg_return_transition',
                        rma=rma.rec_name, from_=rma.state_string,
                        to=dict(STATES)[state]))
        if not moving:
            return
        from_states = {r.id: r.state for r in moving}
        cls.write(moving, {'state': state})
        reason = Transaction().context.get('oms_reason') or reason
        cls._log(moving, from_states, reason)
        cls._notify(moving, f'return_{state}', values)

    @classmethod
    def _log(cls, rmas, from_states, reason):
        Event = Pool().get('oms.return.event')
        now = dt.datetime.now()
        Event.save([Event(
                    rma=r, from_state=(from_states or {}).get(r.id),
                    to_state=r.state, date=now, reason=reason,
                    source=oms_source())
                for r in rmas])

    @classmethod
    def _notify(cls, rmas, event, values=None):
        """Tell the customers of the change, unless it comes from their
        channel (which told them itself)"""
        Notification = Pool().get('oms.notification')
        if Transaction().context.get('oms_importing'):
            return
        for rma in rmas:
            if rma.sale and not rma.held:
                Notification.notify([rma.sale], event, {
                        'rma': rma.number,
                        'message': rma.note,
                        **(values or {}),
                        })


class ReturnEvent(ModelSQL, ModelView):
    __name__ = 'oms.return.event'
    __string__ = "Return Request History"

    rma = fields.Many2One(
        'oms.return', "Return Request", required=True, ondelete='CASCADE')
    from_state = fields.Selection(
        [(None, "")] + STATES, "From", readonly=True)
    to_state = fields.Selection(STATES, "To", required=True, readonly=True)
    date = fields.Timestamp("When", required=True, readonly=True)
    reason = fields.Text("Why", readonly=True)
    source = fields.Char("Source", required=True, readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
