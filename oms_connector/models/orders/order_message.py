"""The conversation with the customer about an order: the note they left
at the channel's checkout, the questions they ask on the order-status page
(which await a reply) and the staff's answers, which are sent to them."""
import datetime as dt

from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import without_check_access

from .order import oms_source

MAX_LENGTH = 4000


class OrderMessage(ModelSQL, ModelView):
    __name__ = 'oms.order.message'
    __string__ = "Customer Message"

    sale = fields.Many2One(
        'sale.sale', "Order", required=True, ondelete='CASCADE')
    direction = fields.Selection([
            ('in', "From the Customer"),
            ('out', "To the Customer"),
            ], "Direction", required=True, readonly=True)
    origin = fields.Selection([
            ('status_page', "Order-Status Page"),
            ('channel', "Channel Checkout"),
            ('staff', "Staff"),
            ], "Origin", required=True, readonly=True)
    date = fields.Timestamp("Date", required=True, readonly=True)
    author = fields.Char("Author", readonly=True)
    body = fields.Text(
        "Message", required=True,
        states={'readonly': Eval('id', -1) >= 0})
    awaiting_reply = fields.Boolean(
        "Awaiting Reply", readonly=True,
        states={'invisible': Eval('direction') != 'in'},
        help="A question from the customer that no staff reply has "
        "answered yet. A note left at the channel's checkout awaits none.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._order = [('date', 'ASC'), ('id', 'ASC')]
        cls._sql_indexes.add(Index(t,
                (t.sale, Index.Range()),
                (t.awaiting_reply, Index.Equality(cardinality='low'))))

    @classmethod
    def default_direction(cls):
        return 'out'

    @classmethod
    def default_origin(cls):
        return 'staff'

    @classmethod
    def default_date(cls):
        return dt.datetime.now()

    @classmethod
    def default_awaiting_reply(cls):
        return False

    @classmethod
    def default_author(cls):
        return oms_source().removeprefix('user: ')

    def get_rec_name(self, name):
        return f'{self.sale.rec_name} {self.date:%Y-%m-%d %H:%M}'

    @classmethod
    def create(cls, vlist):
        messages = super().create(vlist)
        replies = [m for m in messages if m.direction == 'out']
        if replies:
            # Whoever may reply may close the questions and send the reply
            with without_check_access():
                cls._answer(replies)
        return messages

    @classmethod
    def _answer(cls, replies):
        """Staff replied: the customer's questions on those orders are
        answered, and each reply goes to the customer"""
        pool = Pool()
        Notification = pool.get('oms.notification')
        questions = cls.search([
                ('sale', 'in', [r.sale.id for r in replies]),
                ('awaiting_reply', '=', True),
                ])
        if questions:
            cls.write(questions, {'awaiting_reply': False})
        for reply in replies:
            Notification.notify(
                [reply.sale], 'message', {'message': reply.body})

    @classmethod
    def receive(cls, sale, body, origin, author=None):
        "A question from the customer, kept on the order for the staff"
        message, = cls.create([{
                    'sale': sale.id,
                    'direction': 'in',
                    'awaiting_reply': True,
                    'origin': origin,
                    'author': author or (
                        sale.party.rec_name if sale.party else None),
                    'body': body.strip()[:MAX_LENGTH],
                    }])
        return message

    @classmethod
    def note_from_channel(cls, pairs):
        """The notes customers left at the channel's checkout, as their
        first message: once each, even when the order is imported again.
        A note ("please leave it at the door") asks nothing: it awaits no
        reply."""
        pairs = [(s, o) for s, o in pairs if o.notes and o.notes.strip()]
        if not pairs:
            return
        known = {(m.sale.id, m.body) for m in cls.search([
                    ('sale', 'in', [s.id for s, _ in pairs]),
                    ('origin', '=', 'channel'),
                    ])}
        cls.create([{
                    'sale': s.id,
                    'direction': 'in',
                    'origin': 'channel',
                    'author': o.customer.name,
                    'body': o.notes.strip()[:MAX_LENGTH],
                    } for s, o in pairs
                if (s.id, o.notes.strip()[:MAX_LENGTH]) not in known])


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    oms_messages = fields.One2Many(
        'oms.order.message', 'sale', "Customer Messages",
        help="Questions from the customer and the staff's replies; a reply "
        "added here is sent to the customer.")

    @classmethod
    def copy(cls, sales, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('oms_messages', None)
        return super().copy(sales, default=default)


class OrderImporter(metaclass=PoolMeta):
    __name__ = 'oms.order.importer'

    @classmethod
    def orders_received(cls, pairs):
        super().orders_received(pairs)
        Pool().get('oms.order.message').note_from_channel(pairs)
