"""A return request's refund made on the channel: the outbox the agent
reads (refunds_to_push), acknowledges (record_refund_push) and staff
retry or settle by hand."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import Index, ModelView, Unique, fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval

from ..outbox import ChannelOutbox, OutboxFields
from .after_sales import REFUND_STATES


class Return(ChannelOutbox, metaclass=PoolMeta):
    __name__ = 'oms.return'
    _outbox = OutboxFields(
        state='refund_state', waiting='pending', done='pushed',
        manual='manual', attempts='refund_attempts',
        next_attempt='refund_next_attempt', error='refund_error',
        external_id='refund_external_id')

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

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('refund_key_unique', Unique(t, t.refund_key),
                'oms_connector.msg_return_refund_key_unique'),
            ]
        cls._sql_indexes.add(
            Index(t, (t.channel, Index.Equality()),
                (t.refund_state, Index.Equality(cardinality='low')),
                where=t.refund_state.in_(['pending', 'failed'])))
        cls._buttons.update({
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

    @classmethod
    def default_refund_attempts(cls):
        return 0

    # The refund push to the channel (agent: GET refunds, then ack)

    @classmethod
    def refunds_to_push(cls, channel, limit=None):
        return cls.search(cls.outbox_due(channel),
            order=[('refund_next_attempt', 'ASC'), ('id', 'ASC')],
            limit=limit)

    @classmethod
    def record_refund_push(cls, pushed, failed):
        """Record the refunds the channel made ({rma: its refund id}) and
        those it refused ({rma: (error, manual)}): a refusal is retried
        later and later, one the channel cannot take waits for staff"""
        for rma, external_id in pushed.items():
            if not rma.outbox_open:
                continue
            cls.write([rma], rma.outbox_pushed(external_id))
            cls._log([rma], {rma.id: rma.state}, gettext(
                    'oms_connector.msg_return_refund_pushed',
                    channel=rma.channel.rec_name,
                    external_id=external_id or ''))
        for rma, (error, manual) in failed.items():
            if not rma.outbox_open:
                continue
            news = rma.outbox_refusal_is_news(error, manual)
            cls.write([rma], rma.outbox_refused(error, manual))
            if news:
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
