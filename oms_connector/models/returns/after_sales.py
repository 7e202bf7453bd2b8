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
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from ...exceptions import ReturnError, TransitionError
from ..backoff import backoff
from ..orders.order import PRIORITIES, oms_source, processing_now
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
RETRY_MAX = dt.timedelta(hours=1)
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
        'oms.customer.segment', "Customer Segment", readonly=True,
        ondelete='SET NULL',
        help="The customer's segment when they asked.")
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
    refund_state = fields.Selection(
        REFUND_STATES, "Channel Refund", readonly=True,
        states={'invisible': ~Eval('refund_state')})
    refund_key = fields.Char("Refund Key", readonly=True, strip=False)
    refund_external_id = fields.Char(
        "Channel Refund ID", readonly=True,
        states={'invisible': ~Eval('refund_external_id')})
    refund_attempts = fields.Integer("Failed Refund Pushes", readonly=True)
    refund_next_attempt = fields.Timestamp(
        "Next Refund Push", readonly=True,
        states={'invisible': Eval('refund_state') != 'failed'})
    refund_error = fields.Text(
        "Refund Error", readonly=True,
        states={'invisible': ~Eval('refund_error')})
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
            ('refund_key_unique', Unique(t, t.refund_key),
                'oms_connector.msg_return_refund_key_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(OPEN)),
                Index(t, (t.channel, Index.Equality()),
                    (t.refund_state, Index.Equality(cardinality='low')),
                    where=t.refund_state.in_(['pending', 'failed'])),
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
                'retry_refund': {
                    'invisible': Eval('refund_state') != 'failed',
                    'depends': ['refund_state'],
                    },
                'refund_done_by_hand': {
                    'invisible': ~Eval('refund_state').in_(
                        ['failed', 'manual']),
                    'depends': ['refund_state'],
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

    @classmethod
    def default_refund_attempts(cls):
        return 0

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

    # Stock: Tryton's return sale brings the goods back.

    @classmethod
    def expect_goods(cls, rmas):
        """Make each request's return sale, whose return shipment (draft)
        tells the warehouse what to expect and brings the goods in"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        rmas = [r for r in rmas if r.sale and not r.return_sale
            and r.return_goods and not r.held]
        if not rmas:
            return
        sales = []
        for rma in rmas:
            rma.return_sale = rma._return_sale()
            sales.append(rma.return_sale)
        Sale.save(sales)
        cls.save(rmas)
        for rma in rmas:
            for line in rma.lines:
                line.return_sale_line = next(
                    sl for sl in rma.return_sale.lines
                    if sl.oms_return_line == line)
        pool.get('oms.return.line').save(
            [line for rma in rmas for line in rma.lines])
        Sale.quote(sales)
        with processing_now(sales):
            Sale.confirm(sales)
        Sale.process(sales)

    def _new_sale(self, description, **values):
        """A sale to the order's customer and address, from its warehouse,
        made by this request"""
        Sale = Pool().get('sale.sale')
        sale = self.sale
        return Sale(
            company=sale.company, party=sale.party,
            invoice_address=sale.invoice_address,
            shipment_address=sale.shipment_address,
            warehouse=sale.warehouse, currency=sale.currency,
            payment_term=sale.payment_term,
            # Money goes back through the channel or the request, and a
            # replacement is paid as the order was: no invoices
            invoice_method='manual', shipment_method='order',
            reference=self.number, origin=self,
            description=gettext(description,
                rma=self.number, sale=sale.rec_name),
            **values)

    def _return_sale(self):
        "Tryton's return sale of the lines: their quantities negated"
        Line = Pool().get('sale.line')
        return_sale = self._new_sale(
            'oms_connector.msg_return_sale_description', oms_return=self)
        lines = []
        for line in self.lines:
            sale_line = line.sale_line
            lines.append(Line(
                    type='line', product=line.product,
                    description=sale_line.description if sale_line else None,
                    quantity=-line.quantity, unit=line.unit,
                    unit_price=line.unit_price or Decimal(0),
                    taxes=sale_line.taxes if sale_line else [],
                    oms_return_line=line))
        return_sale.lines = lines
        return return_sale

    def make_replacement(self, priced):
        """The new order sending the goods of an exchange (the exchange
        products, the customer paying any difference) or a reship (the
        same goods, free), through the order lifecycle: confirmed and
        reserved at once when it costs nothing, else awaiting payment"""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Line = pool.get('sale.line')
        Product = pool.get('product.product')
        sale = self.sale
        replacement = self._new_sale(
            'oms_connector.msg_replacement_description')
        lines = []
        for line in self.lines:
            product = line.exchange_product if priced else None
            product = product or line.product
            price = Decimal(0)
            if priced:
                # The customer pays what the new goods cost more
                with Transaction().set_context(
                        currency=sale.currency.id, customer=sale.party.id,
                        uom=product.sale_uom.id):
                    list_price = Product.get_sale_price(
                        [product], line.quantity)[product.id]
                if list_price is not None:
                    price = max(Decimal(0),
                        list_price - (line.unit_price or 0))
            sale_line = line.sale_line
            lines.append(Line(type='line', product=product,
                    description=product.rec_name,
                    quantity=line.quantity, unit=product.sale_uom,
                    unit_price=price,
                    taxes=sale_line.taxes if sale_line else []))
        replacement.lines = lines
        replacement.save()
        Sale.quote([replacement])
        if not replacement.total_amount:
            with Transaction().set_context(oms_reason=gettext(
                        'oms_connector.msg_replacement_free',
                        rma=self.number)):
                Sale.confirm([replacement])
        return replacement

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

    # The refund push to the channel (agent: GET refunds, then ack)

    @classmethod
    def _refund_due_domain(cls, channel):
        return [
            ('channel', '=', channel.id),
            ['OR',
                ('refund_state', '=', 'pending'),
                [('refund_state', '=', 'failed'),
                    ('refund_next_attempt', '<=', dt.datetime.now())],
                ],
            ]

    @classmethod
    def refunds_to_push(cls, channel, limit=None):
        return cls.search(cls._refund_due_domain(channel),
            order=[('refund_next_attempt', 'ASC'), ('id', 'ASC')],
            limit=limit)

    @classmethod
    def refunds_pending(cls, channel):
        return cls.search_count(cls._refund_due_domain(channel))

    @classmethod
    def record_refund_push(cls, pushed, failed):
        """Record the refunds the channel made ({rma: its refund id}) and
        those it refused ({rma: (error, manual)}): a refusal is retried
        later and later, one the channel cannot take waits for staff"""
        now = dt.datetime.now()
        for rma, external_id in pushed.items():
            if rma.refund_state not in {'pending', 'failed'}:
                continue
            cls.write([rma], {
                    'refund_state': 'pushed',
                    'refund_external_id': external_id,
                    'refund_error': None,
                    'refund_next_attempt': None,
                    })
            cls._log([rma], {rma.id: rma.state}, gettext(
                    'oms_connector.msg_return_refund_pushed',
                    channel=rma.channel.rec_name,
                    external_id=external_id or ''))
        for rma, (error, manual) in failed.items():
            if rma.refund_state not in {'pending', 'failed'}:
                continue
            attempts = rma.refund_attempts + 1
            cls.write([rma], {
                    'refund_state': 'manual' if manual else 'failed',
                    'refund_error': error,
                    'refund_attempts': attempts,
                    'refund_next_attempt': (None if manual
                        else now + backoff(attempts, RETRY_MAX)),
                    })
            if rma.refund_error != error or manual:
                cls._log([rma], {rma.id: rma.state}, gettext(
                        'oms_connector.msg_return_refund_manual'
                        if manual else
                        'oms_connector.msg_return_refund_failed',
                        channel=rma.channel.rec_name, error=error))

    @classmethod
    @ModelView.button
    def retry_refund(cls, rmas):
        cls.write([r for r in rmas if r.refund_state == 'failed'], {
                'refund_state': 'pending',
                'refund_next_attempt': dt.datetime.now(),
                })

    @classmethod
    @ModelView.button
    def refund_done_by_hand(cls, rmas):
        rmas = [r for r in rmas if r.refund_state in {'failed', 'manual'}]
        cls.write(rmas, {
                'refund_state': 'pushed',
                'refund_next_attempt': None,
                })
        cls._log(rmas, {r.id: r.state for r in rmas},
            gettext('oms_connector.msg_return_refund_by_hand'))

    def refund_answer(self):
        "The refund as the agent reads it (oms_contract.models.Refund)"
        return {
            'id': self.id,
            'key': self.refund_key,
            'number': self.number,
            'order': {
                'external_id': self.sale.oms_external_id,
                'number': self.sale.reference,
                },
            'amount': str(self.refunded_amount),
            'currency': self.currency.code,
            'reason': ', '.join(sorted({line.reason.name
                            for line in self.lines if line.reason})) or None,
            'lines': [{
                    'external_id': (line.sale_line.oms_external_id
                        if line.sale_line else None),
                    'sku': line.product.code if line.product else None,
                    'quantity': int(line.quantity),
                    } for line in self.lines if line.quantity >= 1],
            'notify_customer': bool(self.channel.notifies_buyer),
            'attempts': self.refund_attempts,
            }


class ReturnLine(ModelSQL, ModelView):
    __name__ = 'oms.return.line'
    __string__ = "Return Request Line"

    rma = fields.Many2One(
        'oms.return', "Return Request", required=True, ondelete='CASCADE')
    sale_line = fields.Many2One(
        'sale.line', "Order Line", ondelete='RESTRICT',
        domain=[
            ('sale', '=', Eval('_parent_rma', {}).get('sale', -1)),
            ('type', '=', 'line'),
            ])
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT')
    quantity = fields.Float(
        "Quantity", digits='unit', required=True,
        domain=[('quantity', '>', 0)])
    unit = fields.Function(
        fields.Many2One('product.uom', "Unit"), 'on_change_with_unit')
    unit_price = fields.Numeric(
        "Unit Price", digits=(16, 4), readonly=True,
        help="What the order sold it for.")
    reason = fields.Many2One(
        'oms.return.reason', "Reason", ondelete='RESTRICT')
    condition = fields.Selection(CONDITIONS, "Condition", required=True)
    destination = fields.Selection(
        DESTINATIONS, "Goes To", required=True,
        help="Where the goods are put when received: the sellable stock "
        "(the channels can sell them again) or the warehouse's waste "
        "location.")
    exchange_product = fields.Many2One(
        'product.product', "Exchange For", ondelete='RESTRICT',
        domain=[('salable', '=', True)],
        states={
            'invisible': (Eval('_parent_rma', {}).get('resolution')
                != 'exchange'),
            },
        help="What the customer gets instead; empty: the same product.")
    external_id = fields.Char("Channel Line ID", readonly=True)
    return_sale_line = fields.Many2One(
        'sale.line', "Return Sale Line", readonly=True, ondelete='SET NULL')

    @classmethod
    def default_condition(cls):
        return 'unopened'

    @classmethod
    def default_destination(cls):
        return 'sellable'

    @fields.depends('sale_line', 'quantity')
    def on_change_sale_line(self):
        if self.sale_line:
            self.product = self.sale_line.product
            self.unit_price = self.sale_line.unit_price
            if not self.quantity:
                self.quantity = self.sale_line.quantity

    @fields.depends('condition')
    def on_change_condition(self):
        self.destination = ('sellable' if self.condition in RESELLABLE
            else 'quarantine')

    @fields.depends('sale_line', 'product')
    def on_change_with_unit(self, name=None):
        if self.sale_line:
            return self.sale_line.unit
        if self.product:
            return self.product.default_uom

    @classmethod
    def create(cls, vlist):
        SaleLine = Pool().get('sale.line')
        vlist = [v.copy() for v in vlist]
        for values in vlist:
            if values.get('sale_line'):
                sale_line = SaleLine(values['sale_line'])
                values.setdefault('product', sale_line.product.id)
                values.setdefault('unit_price', sale_line.unit_price)
            if 'destination' not in values:
                values['destination'] = ('sellable'
                    if values.get('condition', 'unopened') in RESELLABLE
                    else 'quarantine')
        return super().create(vlist)

    @property
    def amount(self):
        return Decimal(str(self.quantity)) * (self.unit_price or 0)

    @staticmethod
    def shipped_quantity(sale_line):
        "How much of the order line has reached the customer"
        return sum(m.quantity for m in sale_line.moves
            if m.state == 'done' and m.to_location.type == 'customer')

    @classmethod
    def asked_quantity(cls, sale_line, but=None):
        """How much of the order line return requests ask back, rejected
        ones aside (and the line `but`)"""
        return sum(line.quantity for line in cls.search([
                    ('sale_line', '=', sale_line.id),
                    ('id', '!=', but.id if but else -1),
                    ('rma.state', '!=', 'rejected'),
                    ]))

    def check_quantity(self):
        """Refuse returning more than was sold (shipped, for goods coming
        back), counting the order's other open or settled requests"""
        Line = self.__class__
        sale_line = self.sale_line
        if not sale_line or sale_line.sale != self.rma.sale:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_line_not_in_order',
                    product=self.product.rec_name,
                    sale=self.rma.sale.rec_name))
        if self.product != sale_line.product:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_line_product',
                    product=self.product.rec_name,
                    line=sale_line.rec_name))
        others = Line.asked_quantity(sale_line, but=self)
        if self.rma.return_goods:
            limit = Line.shipped_quantity(sale_line)
            message = 'oms_connector.msg_return_more_than_shipped'
        else:
            limit = sale_line.quantity
            message = 'oms_connector.msg_return_more_than_sold'
        if self.quantity + others > limit:
            raise ReturnError(gettext(message,
                    quantity=f'{self.quantity:g}',
                    product=self.product.rec_name,
                    sale=self.rma.sale.rec_name, limit=f'{limit:g}',
                    others=f'{others:g}'))

    def destination_location(self, warehouse):
        "Where the goods of this line go in the warehouse"
        if self.destination == 'sellable':
            return warehouse.storage_location
        if not warehouse.waste_locations:
            raise ReturnError(gettext(
                    'oms_connector.msg_return_no_quarantine',
                    warehouse=warehouse.rec_name))
        return warehouse.waste_locations[0]


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


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    oms_return = fields.Many2One(
        'oms.return', "Return Request", readonly=True, ondelete='RESTRICT',
        states={'invisible': ~Eval('oms_return')},
        help="This is the return sale of the request: it brings the goods "
        "back, outside the order lifecycle.")
    oms_returns = fields.One2Many(
        'oms.return', 'sale', "Return Requests", readonly=True)

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['oms.return']

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_return', None)
        default.setdefault('oms_returns', None)
        return super().copy(sales, default=default)


class SaleLine(metaclass=PoolMeta):
    __name__ = 'sale.line'

    oms_return_line = fields.Many2One(
        'oms.return.line', "Return Request Line", readonly=True,
        ondelete='SET NULL')

    @classmethod
    def copy(cls, lines, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_return_line', None)
        return super().copy(lines, default=default)


class ShipmentOutReturn(metaclass=PoolMeta):
    __name__ = 'stock.shipment.out.return'

    def _get_inventory_move(self, incoming_move):
        # Each request line's goods go where it says: sellable stock or
        # the warehouse's waste location.
        move = super()._get_inventory_move(incoming_move)
        line = getattr(incoming_move.origin, 'oms_return_line', None)
        if move and line:
            move.to_location = line.destination_location(self.warehouse)
        return move

    @classmethod
    def do(cls, shipments):
        Return = Pool().get('oms.return')
        super().do(shipments)
        rmas = {m.origin.oms_return_line.rma
            for s in shipments for m in s.incoming_moves
            if getattr(m.origin, 'oms_return_line', None)}
        if rmas:
            Return.goods_received(Return.browse(list(rmas)))
