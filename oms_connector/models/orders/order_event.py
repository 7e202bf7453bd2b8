"""The order transition log: every OMS state change and hold, with when,
why and who (a user or a channel), so lead times can be reported."""
from trytond.model import Index, ModelSQL, ModelView, fields

from .order import OMS_STATES


class OrderEvent(ModelSQL, ModelView):
    __name__ = 'oms.order.event'
    __string__ = "Order Status History"

    sale = fields.Many2One(
        'sale.sale', "Order", required=True, ondelete='CASCADE')
    kind = fields.Selection([
            ('import', "Imported"),
            ('transition', "Transition"),
            ('hold', "Hold"),
            ('release', "Release"),
            ('unreadable', "Unreadable Copy"),
            ('fulfilment', "Sent to Channel"),
            ('fulfilment_failed', "Channel Refused Parcel"),
            ], "Kind", required=True)
    from_state = fields.Selection(
        [(None, "")] + OMS_STATES, "From", readonly=True)
    to_state = fields.Selection(OMS_STATES, "To", required=True, readonly=True)
    date = fields.Timestamp("When", required=True, readonly=True)
    reason = fields.Text("Why", readonly=True)
    source = fields.Char(
        "Source", required=True, readonly=True,
        help="The user or the channel that caused it.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('date', 'DESC'), ('id', 'DESC')]
        t = cls.__table__()
        # The fulfilment report finds the orders paid in a range by these.
        cls._sql_indexes.add(Index(t,
                (t.to_state, Index.Equality()), (t.date, Index.Range())))
