"""The merchant's templates of what customers are told, per event,
medium and language, and how a template is rendered (``${placeholders}``,
a line whose placeholders are all empty left out)."""
import logging
import string

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import inactive_records

from ...exceptions import NotificationError

logger = logging.getLogger(__name__)

EVENTS = [
    ('awaiting_shipment', "Order Confirmed"),
    ('partially_shipped', "Partially Shipped"),
    ('shipped', "Shipped"),
    ('completed', "Delivered"),
    ('cancelled', "Cancelled"),
    ('refunded', "Refunded"),
    ('message', "Message from Staff"),
    ('return_requested', "Return Requested"),
    ('return_approved', "Return Approved"),
    ('return_received', "Return Received"),
    ('return_refunded', "Return Refunded"),
    ('return_exchanged', "Return Exchanged"),
    ('return_closed', "Return Closed"),
    ('return_rejected', "Return Rejected"),
    ]
MEDIUMS = [
    ('email', "E-mail"),
    ('sms', "SMS"),
    ]
PLACEHOLDERS = [
    'number', 'customer', 'shop', 'state', 'total', 'amount', 'tracking',
    'status_url', 'message', 'rma', 'replacement']
PLACEHOLDERS_HELP = (
    "Placeholders: ${number} (the order number the customer knows), "
    "${customer}, ${shop}, ${state}, ${total}, ${amount} (a refund's), "
    "${tracking} (carrier, number and link of each parcel), ${status_url} "
    "(the customer's order page), ${message} (a reply from staff, a "
    "return's staff note), ${rma} (the return request's number), "
    "${replacement} (the number of an exchange's new order). Write "
    "$$ for a dollar sign. A line whose placeholders are all empty is left "
    "out.")

# Channels: what the customer most needs from the merchant; marketplaces
# confirm orders themselves. Orders keyed in by hand: the same plus


class NotificationTemplate(ModelSQL, ModelView):
    __name__ = 'oms.notification.template'
    __string__ = "Notification Template"

    event = fields.Selection(EVENTS, "Event", required=True, sort=False)
    medium = fields.Selection(MEDIUMS, "Medium", required=True)
    language = fields.Selection(
        'get_languages', "Language", required=True,
        help="Customers whose language is this one get this template; "
        "the others get the template of their base language (zh for "
        "zh_TW), else the English one.")
    subject = fields.Char(
        "Subject",
        states={
            'invisible': Eval('medium') != 'email',
            'required': Eval('medium') == 'email',
            },
        help=PLACEHOLDERS_HELP)
    body = fields.Text("Body", required=True, help=PLACEHOLDERS_HELP)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('event_medium_language_unique',
                Unique(t, t.event, t.medium, t.language),
                'oms_connector.msg_notification_template_unique'),
            ]
        cls._order = [
            ('event', 'ASC'), ('medium', 'ASC'), ('language', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def default_medium(cls):
        return 'email'

    @classmethod
    def default_language(cls):
        return 'en'

    @classmethod
    def get_languages(cls):
        Lang = Pool().get('ir.lang')
        with inactive_records():
            langs = Lang.search([], order=[('code', 'ASC')])
        return [(lang.code, lang.name) for lang in langs]

    def get_rec_name(self, name):
        return ' / '.join([
                dict(EVENTS)[self.event], dict(MEDIUMS)[self.medium],
                self.language])

    @classmethod
    def validate_fields(cls, templates, field_names):
        super().validate_fields(templates, field_names)
        if not field_names or field_names & {'subject', 'body'}:
            for template in templates:
                template.check_placeholders()

    def check_placeholders(self):
        "Refuse a text that would not render: a stray $ or an unknown name"
        for name in ['subject', 'body']:
            text = getattr(self, name) or ''
            template = string.Template(text)
            if not template.is_valid():
                raise NotificationError(gettext(
                        'oms_connector.msg_notification_template_dollar',
                        template=self.rec_name,
                        field=self.__names__(name)['field'],
                        text=_invalid_dollar(text)))
            unknown = sorted(
                set(template.get_identifiers()) - set(PLACEHOLDERS))
            if unknown:
                raise NotificationError(gettext(
                        'oms_connector.msg_notification_template_placeholder',
                        template=self.rec_name,
                        field=self.__names__(name)['field'],
                        names=', '.join(f'${{{n}}}' for n in unknown),
                        allowed=', '.join(
                            f'${{{n}}}' for n in PLACEHOLDERS)))

    @classmethod
    def choose(cls, templates, language):
        """The template for a customer speaking `language` (an ir.lang code)
        among templates of one event and medium: theirs, else one of their
        base language, else English; None when there is none of those."""
        by_code = {t.language: t for t in templates}
        language = (language or 'en').replace('-', '_')
        base = language.split('_')[0]
        related = sorted(
            (c for c in by_code if c.split('_')[0] == base),
            key=lambda c: (c != base, c))
        for code in [language, *related, 'en']:
            if code in by_code:
                return by_code[code]
        return None

    def render(self, values):
        "The subject (None for a text message) and body filled with values"
        subject = (render_text(self.subject, values)
            if self.medium == 'email' else None)
        return subject, render_text(self.body, values)


def render_text(text, values):
    """Fill the placeholders of text with values, leaving out the lines
    whose placeholders are all empty (a status link not configured, no
    tracking yet). A placeholder without a value stays as written: a
    message is never lost over a template."""
    lines = []
    for line in (text or '').splitlines():
        template = string.Template(line)
        names = template.get_identifiers()
        if names and not any(values.get(n) for n in names):
            continue
        line = template.safe_substitute(values).rstrip()
        if line or (lines and lines[-1]):  # one blank line where one was
            lines.append(line)
    return '\n'.join(lines).strip('\n')


def _invalid_dollar(text):
    "The stretch of text around its first $ that is no placeholder"
    for match in string.Template.pattern.finditer(text):
        if match.group('invalid') is not None:
            start = match.start('invalid')
            return text[max(start - 10, 0):start + 10]
    return text


