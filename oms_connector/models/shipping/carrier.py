"""Carriers: who takes a shipment to the customer, the code the mapping
files name it by (ERP carrier → channel carrier) and where a customer
follows a parcel (a tracking URL template)."""
from urllib.parse import quote, urlsplit

from trytond.i18n import gettext
from trytond.model import DeactivableMixin, ModelSQL, ModelView, Unique, fields

from ...exceptions import CarrierError

NUMBER = '{number}'


class Carrier(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'oms.carrier'
    __string__ = "Carrier"

    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code", required=True, strip=True,
        help="How the agent's mapping files name this carrier "
        "(carriers: ERP code → the channel's carrier name).")
    tracking_url = fields.Char(
        "Tracking URL",
        help="The carrier's tracking page, with {number} where the "
        "tracking number goes, e.g. "
        "https://www.dhl.com/en/express/tracking.html?AWB={number}")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'oms_connector.msg_carrier_code_unique'),
            ]
        cls._order = [('name', 'ASC'), ('id', 'ASC')]

    @classmethod
    def validate_fields(cls, carriers, field_names):
        super().validate_fields(carriers, field_names)
        if not field_names or 'tracking_url' in field_names:
            for carrier in carriers:
                carrier.check_tracking_url()

    def check_tracking_url(self):
        url = self.tracking_url
        if not url:
            return
        if (urlsplit(url).scheme not in {'http', 'https'}
                or NUMBER not in url):
            raise CarrierError(gettext(
                    'oms_connector.msg_carrier_tracking_url',
                    carrier=self.rec_name, url=url))

    def tracking_url_for(self, number):
        "The page where the parcel of this tracking number is followed"
        if not self.tracking_url or not number:
            return None
        return self.tracking_url.replace(
            NUMBER, quote(number.strip(), safe=''))

    @classmethod
    def search_code(cls, code):
        carriers = cls.search([('code', '=', code)], limit=1)
        return carriers[0] if carriers else None
