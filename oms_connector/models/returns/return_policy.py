"""After-sales service policies: per channel and customer segment, the
priority of a return request, its due date (the SLA), whether it is
approved without a person, and the resolutions it may get."""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin,
    MatchMixin,
    ModelSQL,
    ModelView,
    fields,
    sequence_ordered,
)
from trytond.pyson import Eval
from trytond.transaction import Transaction

from ...exceptions import ReturnError
from ..orders.order import PRIORITIES

RESOLUTIONS = [
    ('refund', "Refund"),
    ('exchange', "Exchange"),
    ('repair', "Repair / Reship"),
    ('reject', "Reject"),
    ]


class ReturnPolicy(
        DeactivableMixin, sequence_ordered(), MatchMixin, ModelSQL,
        ModelView):
    __name__ = 'oms.return.policy'
    __string__ = "Return Policy"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    channel = fields.Many2One(
        'oms.channel', "Channel", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        help="Empty: every channel, and orders keyed in by hand.")
    segment = fields.Many2One(
        'oms.customer.segment', "Customer Tier", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        help="Empty: every customer.")
    priority = fields.Selection(
        PRIORITIES, "Priority", required=True, sort=False,
        help="Return queues list higher priorities first.")
    respond_within = fields.Integer(
        "Respond Within (hours)",
        domain=['OR',
            ('respond_within', '=', None),
            ('respond_within', '>', 0),
            ],
        help="The request is due this long after it arrives, and flagged "
        "overdue if still open then. Empty: no due date.")
    auto_approve = fields.Boolean(
        "Approve Automatically",
        help="Requests are approved as they arrive, without staff.")
    resolutions = fields.MultiSelection(
        RESOLUTIONS, "Allowed Resolutions", sort=False,
        help="What requests may be resolved with; empty: any.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_priority(cls):
        return '1'

    @classmethod
    def default_auto_approve(cls):
        return False

    @classmethod
    def default_resolutions(cls):
        return [r for r, _ in RESOLUTIONS]

    @classmethod
    def for_request(cls, company, channel, segment):
        """The policy of a request: the first, in the list's order, whose
        channel and segment (empty: any) fit; None: no policy applies"""
        pattern = {
            'company': company.id,
            'channel': channel.id if channel else None,
            'segment': segment.id if segment else None,
            }
        for policy in cls.search([('company', '=', company.id)]):
            if policy.match(pattern):
                return policy
        return None

    def due_date(self, requested):
        if self.respond_within:
            return requested + dt.timedelta(hours=self.respond_within)
        return None

    def check_resolution(self, rma):
        if (self.resolutions and rma.resolution
                and rma.resolution not in self.resolutions):
            raise ReturnError(gettext(
                    'oms_connector.msg_return_resolution_not_allowed',
                    rma=rma.rec_name,
                    resolution=dict(RESOLUTIONS)[rma.resolution],
                    policy=self.rec_name))
