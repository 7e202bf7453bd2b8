"""Customers: the binding between a channel's customer id and an ERP party,
and how an incoming order finds or creates its customer and address."""
import pycountry

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.tools import escape_wildcard

from ..exceptions import OrderHold


class CustomerBinding(ModelSQL, ModelView):
    __name__ = 'oms.customer'

    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, ondelete='CASCADE')
    external_id = fields.Char("Channel Customer ID", required=True)
    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('channel_external_id_unique',
                Unique(t, t.channel, t.external_id),
                'oms_connector.msg_customer_external_id_unique'),
            ]

    @classmethod
    def party_for(cls, channel, customer):
        """The party of an order's customer (a canonical Customer), found by
        the channel's matching policy or created."""
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')

        policy = channel.customer_matching
        if policy in {'id', 'id_email'} and customer.external_id:
            bindings = cls.search([
                    ('channel', '=', channel.id),
                    ('external_id', '=', customer.external_id),
                    ], limit=1)
            if bindings:
                return bindings[0].party
        party = None
        if policy == 'id_email' and customer.email:
            mechanisms = ContactMechanism.search([
                    ('type', '=', 'email'),
                    # e-mails are case-blind; '_' and '%' are literal
                    ('value', 'ilike', escape_wildcard(customer.email)),
                    ('party.active', '=', True),
                    ], order=[('id', 'ASC')], limit=1)
            if mechanisms:
                party = mechanisms[0].party
        if party is None:
            party = Party(name=customer.name)
            mechanisms = []
            if customer.email:
                mechanisms.append(
                    ContactMechanism(type='email', value=customer.email))
            if customer.phone:
                mechanisms.append(
                    ContactMechanism(type='phone', value=customer.phone))
            party.contact_mechanisms = mechanisms
            party.addresses = []
            party.save()
        if policy != 'none' and customer.external_id:
            cls.create([{
                        'channel': channel.id,
                        'external_id': customer.external_id,
                        'party': party.id,
                        }])
        return party

    @classmethod
    def address_for(cls, party, address):
        """The party's address matching a canonical Address, created when the
        party has none like it. Raises OrderHold when it cannot be shipped
        to."""
        pool = Pool()
        Address = pool.get('party.address')
        missing = [name for name in ('street', 'city', 'country_code')
            if not getattr(address, name)]
        if missing:
            raise OrderHold(gettext(
                    'oms_connector.msg_address_incomplete',
                    fields=', '.join(missing)))
        country = country_for_code(address.country_code)
        for existing in party.addresses:
            if (existing.street_unstructured == address.street
                    and existing.city == address.city
                    and (existing.postal_code or '') == (address.zip or '')
                    and existing.country == country):
                return existing
        new = Address(
            party=party,
            party_name=address.name if address.name != party.name else None,
            street_unstructured=address.street,
            city=address.city,
            postal_code=address.zip or None,
            country=country,
            subdivision=subdivision_for(country, address.subdivision))
        new.save()
        return new


def country_for_code(code):
    """The ERP country of an ISO 3166-1 alpha-2 code, added to the ERP's
    country list when missing (a fresh Tryton has none loaded)."""
    Country = Pool().get('country.country')
    code = (code or '').strip().upper()
    if not code:
        return None
    countries = Country.search([('code', '=', code)], limit=1)
    if countries:
        return countries[0]
    iso = pycountry.countries.get(alpha_2=code)
    if iso is None:
        raise OrderHold(gettext(
                'oms_connector.msg_address_unknown_country', code=code))
    country = Country(
        code=code, code3=iso.alpha_3, code_numeric=iso.numeric,
        name=iso.name)
    country.save()
    return country


def subdivision_for(country, value):
    "The country's subdivision named or coded by value, if the ERP knows it"
    Subdivision = Pool().get('country.subdivision')
    if not country or not value:
        return None
    value = value.strip()
    code = value if '-' in value else f'{country.code}-{value}'
    subdivisions = Subdivision.search([
            ('country', '=', country.id),
            ['OR',
                ('code', '=', code.upper()),
                ('name', 'ilike', value),
                ],
            ], limit=1)
    return subdivisions[0] if subdivisions else None
