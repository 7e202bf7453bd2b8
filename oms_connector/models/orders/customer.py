"""Customers: the binding between a channel's customer id and an ERP party,
and how an incoming order finds or creates its customer and address."""
import pycountry

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool
from trytond.tools import escape_wildcard

from ...exceptions import OrderHold


class CustomerBinding(ModelSQL, ModelView):
    __name__ = 'oms.customer'
    __string__ = "Channel Customer"

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
        party, = cls.parties_for(channel, [customer])
        return party

    @classmethod
    def parties_for(cls, channel, customers):
        """The parties of orders' customers, in order, each found by the
        channel's matching policy or created; looked up and created all at
        once, a customer ordering twice getting one party."""
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        policy = channel.customer_matching

        by_id = {}
        if policy in {'id', 'id_email'}:
            ids = {c.external_id for c in customers if c.external_id}
            for binding in cls.search([
                        ('channel', '=', channel.id),
                        ('external_id', 'in', list(ids)),
                        ]):
                by_id[binding.external_id] = binding.party
        by_email = {}
        emails = {c.email.lower() for c in customers
            if c.email and c.external_id not in by_id}
        if policy == 'id_email' and emails:
            mechanisms = ContactMechanism.search([
                    ('type', '=', 'email'),
                    # e-mails are case-blind; '_' and '%' are literal
                    ['OR', *(('value', 'ilike', escape_wildcard(e))
                            for e in emails)],
                    ('party.active', '=', True),
                    ], order=[('id', 'DESC')])
            # the oldest contact wins, as one search per e-mail would
            by_email = {m.value.lower(): m.party for m in mechanisms}

        parties, new, bindings = [], [], []
        for customer in customers:
            party = by_id.get(customer.external_id)
            if party is None and policy == 'id_email' and customer.email:
                party = by_email.get(customer.email.lower())
            if party is None:
                party = cls._new_party(customer)
                if channel.customer_lang:
                    party.lang = channel.customer_lang
                new.append(party)
                if customer.email:
                    by_email.setdefault(customer.email.lower(), party)
            if (policy != 'none' and customer.external_id
                    and customer.external_id not in by_id):
                by_id[customer.external_id] = party
                bindings.append((customer.external_id, party))
            parties.append(party)
        Party.save(new)
        if bindings:
            cls.create([{
                        'channel': channel.id,
                        'external_id': external_id,
                        'party': party.id,
                        } for external_id, party in bindings])
        return parties

    @classmethod
    def _new_party(cls, customer):
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
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
        return party

    @classmethod
    def address_for(cls, party, address):
        """The party's address matching a canonical Address, created when the
        party has none like it. Raises OrderHold when it cannot be shipped
        to."""
        found, = cls.addresses_for([(party, address)])
        if isinstance(found, OrderHold):
            raise found
        return found

    @classmethod
    def addresses_for(cls, wanted):
        """The addresses of (party, canonical Address) pairs, in order: the
        party's address like it, else a new one, created all at once. An
        OrderHold stands for an address that cannot be shipped to."""
        Address = Pool().get('party.address')
        countries, subdivisions = {}, {}
        known = {}  # the addresses of each party, new ones included
        found, new = [], []
        for party, address in wanted:
            missing = [name for name in ('street', 'city', 'country_code')
                if not getattr(address, name)]
            if missing:
                found.append(OrderHold(gettext(
                            'oms_connector.msg_address_incomplete',
                            fields=', '.join(missing))))
                continue
            code = address.country_code.strip().upper()
            if code not in countries:
                try:
                    countries[code] = country_for_code(code)
                except OrderHold as hold:
                    countries[code] = hold
            country = countries[code]
            if isinstance(country, OrderHold):
                found.append(country)
                continue
            addresses = known.setdefault(party, list(party.addresses))
            for existing in addresses:
                if (existing.street_unstructured == address.street
                        and existing.city == address.city
                        and (existing.postal_code or '') == (address.zip or '')
                        and existing.country == country
                        # masked streets look alike: the receiver decides
                        and existing.oms_same_receiver(address.protected)):
                    found.append(existing)
                    break
            else:
                key = country, address.subdivision
                if key not in subdivisions:
                    subdivisions[key] = subdivision_for(*key)
                record = Address(
                    party=party,
                    party_name=(address.name
                        if address.name != party.name else None),
                    street_unstructured=address.street,
                    city=address.city,
                    postal_code=address.zip or None,
                    country=country,
                    subdivision=subdivisions[key],
                    **Address.oms_protected_values(address.protected))
                addresses.append(record)
                new.append(record)
                found.append(record)
        Address.save(new)
        return found


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
    """The country's subdivision named or coded by value: the ERP's, else
    added from ISO 3166-2 when value is its code (a fresh Tryton has none
    loaded); None when unknown"""
    Subdivision = Pool().get('country.subdivision')
    if not country or not value:
        return None
    value = value.strip()
    code = (value if '-' in value else f'{country.code}-{value}').upper()
    subdivisions = Subdivision.search([
            ('country', '=', country.id),
            ['OR',
                ('code', '=', code),
                ('name', 'ilike', escape_wildcard(value)),
                ],
            ], limit=1)
    if subdivisions:
        return subdivisions[0]
    iso = pycountry.subdivisions.get(code=code)
    if iso is None or iso.country_code != country.code:
        return None
    subdivision = Subdivision(
        country=country, code=iso.code, name=iso.name,
        type=_subdivision_type(iso.type))
    subdivision.save()
    return subdivision


def _subdivision_type(iso_type):
    "Tryton's type of an ISO 3166-2 subdivision type, where it has one"
    Subdivision = Pool().get('country.subdivision')
    value = (iso_type or '').lower()
    types = {key for key, _ in Subdivision.type.selection if key}
    return value if value in types else None
