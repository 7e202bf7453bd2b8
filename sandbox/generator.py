"""The order generator: believable orders, the same ones for the same seed.

It knows nothing of Shopify or WooCommerce: it draws a ``Draft`` (who,
where, what, which state, when) from the shop's catalogue, and each shop
writes the draft in its own marketplace's shape. Customers, addresses and
carriers come from small per-country tables (DE, FR, GB, US, CA, CN) with
ISO 3166-1 country codes and ISO 3166-2 subdivision suffixes (US states,
Canadian provinces, Chinese provinces); e-mails are on the reserved
``example.*`` domains. Money is Decimal, rounded to cents.
"""
from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal('0.01')

# The generic states a draft can be in; each shop maps them to its own
# vocabulary (and also accepts its own words in create_order).
STATUSES = ('paid', 'pending', 'cancelled', 'fulfilled')
STATUS_WEIGHTS = (76, 12, 6, 6)


def cents(value: Decimal | int | str) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class SoldOut(ValueError):
    "A shop that does not sell out of stock refuses the order"


@dataclass(frozen=True)
class CatalogItem:
    "What the generator needs of a shop's sellable product or variant"
    sku: str
    title: str
    price: Decimal
    ref: Any = None       # the shop's own record, handed back in lines


@dataclass
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str | None


@dataclass
class Place:
    address1: str
    address2: str | None
    city: str
    zip: str
    country: str              # ISO 3166-1 alpha-2
    province: str | None      # ISO 3166-2 suffix (CA, ON, SH) or None
    company: str | None = None


@dataclass
class DraftLine:
    sku: str | None
    title: str
    quantity: int
    unit_price: Decimal       # before discount
    discount: Decimal = Decimal(0)   # per unit
    ref: Any = None

    @property
    def paid_unit_price(self) -> Decimal:
        return self.unit_price - self.discount


@dataclass
class Draft:
    status: str
    customer: Person
    address: Place
    lines: list[DraftLine]
    currency: str
    created_at: dt.datetime
    updated_at: dt.datetime
    shipping_title: str = 'Standard'
    shipping_code: str = 'standard'
    shipping_price: Decimal = Decimal(0)
    tax_rate: Decimal = Decimal(0)
    payment_method: str = 'card'
    guest: bool = False
    note: str | None = None
    coupon: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def subtotal(self) -> Decimal:
        return sum((line.paid_unit_price * line.quantity
                for line in self.lines), Decimal(0))

    @property
    def discount_total(self) -> Decimal:
        return sum((line.discount * line.quantity for line in self.lines),
            Decimal(0))


# country: first names, last names, (city, zip, province), street format,
# phone prefix, carrier (title, code, price)
COUNTRIES: dict[str, dict[str, Any]] = {
    'DE': dict(
        first=['Anna', 'Lukas', 'Marie', 'Jürgen', 'Sophie', 'Felix',
            'Lena', 'Maximilian', 'Hannah', 'Jonas'],
        last=['Müller', 'Schmidt', 'Schneider', 'Fischer', 'Weber',
            'Meyer', 'Wagner', 'Becker', 'Schulz', 'Hoffmann'],
        cities=[('Berlin', '10115', None), ('München', '80331', None),
            ('Hamburg', '20095', None), ('Köln', '50667', None),
            ('Frankfurt am Main', '60311', None)],
        streets=['Hauptstraße', 'Bahnhofstraße', 'Gartenweg',
            'Schillerstraße', 'Lindenallee'],
        street='{street} {n}', phone='+49 30 {a:03d} {b:04d}',
        carrier=('DHL Paket', 'dhl_paket', '4.90'), tax='0.19'),
    'FR': dict(
        first=['Camille', 'Louis', 'Léa', 'Hugo', 'Chloé', 'Élodie',
            'Gabriel', 'Manon'],
        last=['Martin', 'Bernard', 'Dubois', 'Thomas', 'Robert',
            'Richard', 'Petit', 'Durand'],
        cities=[('Paris', '75001', None), ('Lyon', '69001', None),
            ('Marseille', '13001', None), ('Toulouse', '31000', None),
            ('Bordeaux', '33000', None)],
        streets=['rue de la Paix', 'avenue Victor Hugo', 'rue Nationale',
            'boulevard Voltaire'],
        street='{n} {street}', phone='+33 1 {a:03d} {b:04d}',
        carrier=('Colissimo', 'colissimo', '6.50'), tax='0.20'),
    'GB': dict(
        first=['Oliver', 'Amelia', 'George', 'Isla', 'Harry', 'Ava',
            'Jack', 'Olivia'],
        last=['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson',
            'Evans', "O'Brien"],
        cities=[('London', 'SW1A 1AA', None), ('Manchester', 'M1 1AE', None),
            ('Edinburgh', 'EH1 1YZ', None), ('Bristol', 'BS1 4DJ', None)],
        streets=['High Street', 'Station Road', 'Church Lane',
            'Victoria Road'],
        street='{n} {street}', phone='+44 20 {a:03d} {b:04d}',
        carrier=('Royal Mail Tracked 48', 'royal_mail_48', '4.20'),
        tax='0.20'),
    'US': dict(
        first=['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer',
            'Michael', 'Linda', 'David', 'Emily'],
        last=['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia',
            'Miller', 'Davis', 'Rodriguez', 'Martinez'],
        cities=[('San Francisco', '94103', 'CA'), ('New York', '10001', 'NY'),
            ('Austin', '78701', 'TX'), ('Seattle', '98101', 'WA'),
            ('Chicago', '60601', 'IL'), ('Boston', '02108', 'MA')],
        streets=['Market St', 'Main Street', 'Oak Avenue', 'Elm Street',
            '5th Avenue'],
        street='{n} {street}', phone='+1 415-555-{b:04d}',
        carrier=('USPS Priority Mail', 'usps_priority', '8.95'),
        tax={'CA': '0.0725', 'NY': '0.04', 'TX': '0.0625', 'WA': '0.065',
            'IL': '0.0625', 'MA': '0.0625'}),
    'CA': dict(
        first=['Liam', 'Emma', 'Noah', 'Charlotte', 'William', 'Chloé'],
        last=['Tremblay', 'Roy', 'Gagnon', 'MacDonald', 'Wilson', 'Lee'],
        cities=[('Toronto', 'M5H 2N2', 'ON'), ('Montréal', 'H2Y 1C6', 'QC'),
            ('Vancouver', 'V6B 1A1', 'BC')],
        streets=['King Street West', 'Rue Saint-Paul', 'Granville Street'],
        street='{n} {street}', phone='+1 416-555-{b:04d}',
        carrier=('Canada Post Expedited', 'canada_post', '12.00'),
        tax={'ON': '0.13', 'QC': '0.14975', 'BC': '0.12'}),
    'CN': dict(
        # (as written, romanised): the e-mail needs the latter
        first=[('伟', 'wei'), ('芳', 'fang'), ('娜', 'na'), ('敏', 'min'),
            ('静', 'jing'), ('磊', 'lei'), ('洋', 'yang'), ('艳', 'yan')],
        last=[('王', 'wang'), ('李', 'li'), ('张', 'zhang'), ('刘', 'liu'),
            ('陈', 'chen'), ('杨', 'yang'), ('赵', 'zhao'), ('黄', 'huang')],
        cities=[('上海市', '200040', 'SH'), ('北京市', '100020', 'BJ'),
            ('广州市', '510030', 'GD'), ('杭州市', '310002', 'ZJ'),
            ('深圳市', '518000', 'GD')],
        streets=['南京西路', '建国门外大街', '天河路', '延安路'],
        street='{street}{n}号', phone='+86 138 {a:04d} {b:04d}',
        carrier=('SF Express', 'sf_express', '25.00'), tax='0'),
    }
# Where a shop's customers live, by the shop's currency.
COUNTRY_WEIGHTS = {
    'EUR': {'DE': 45, 'FR': 25, 'GB': 10, 'US': 10, 'CN': 5, 'CA': 5},
    'USD': {'US': 60, 'CA': 12, 'GB': 10, 'CN': 8, 'DE': 5, 'FR': 5},
    # Taobao sells within China
    'CNY': {'CN': 100},
    }
DEFAULT_WEIGHTS = {'US': 30, 'DE': 20, 'FR': 15, 'GB': 15, 'CN': 10,
    'CA': 10}
DOMAINS = ('example.com', 'example.org', 'example.net')
FREE_SHIPPING_FROM = Decimal('75')


def ascii_name(text: str) -> str:
    "Jürgen → jurgen, Élodie → elodie, O'Brien → obrien"
    text = text.replace('ü', 'ue').replace('ö', 'oe').replace('ä', 'ae')
    text = unicodedata.normalize('NFKD', text).encode('ascii', 'ignore')
    return ''.join(c for c in text.decode().lower() if c.isalnum())


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def person(rng: random.Random, country: str) -> Person:
    table = COUNTRIES[country]
    first, last = rng.choice(table['first']), rng.choice(table['last'])
    if isinstance(first, tuple):
        (first, first_ascii), (last, last_ascii) = first, last
        if rng.random() < 0.4:
            # Many Chinese buyers type their name in pinyin.
            first, last = first_ascii.title(), last_ascii.title()
    else:
        first_ascii, last_ascii = ascii_name(first), ascii_name(last)
    number = rng.randrange(1, 1000)
    email = f"{first_ascii}.{last_ascii}{number}@{rng.choice(DOMAINS)}"
    phone = None
    if rng.random() < 0.8:
        phone = table['phone'].format(
            a=rng.randrange(10, 999), b=rng.randrange(0, 9999))
    return Person(first, last, email, phone)


def place(rng: random.Random, country: str, who: Person) -> Place:
    table = COUNTRIES[country]
    city, zip_code, province = rng.choice(table['cities'])
    address1 = table['street'].format(
        street=rng.choice(table['streets']), n=rng.randrange(1, 200))
    address2 = None
    if rng.random() < 0.15:
        address2 = rng.choice(['Apt 4B', '2nd floor', 'c/o Reception',
                'Suite 210', 'Hinterhaus'])
    company = None
    if rng.random() < 0.1:
        company = f"{who.last_name} & Co"
    return Place(address1, address2, city, zip_code, country, province,
        company)


def tax_rate(country: str, province: str | None) -> Decimal:
    rate = COUNTRIES[country]['tax']
    if isinstance(rate, dict):
        rate = rate.get(province or '', '0')
    return Decimal(rate)


def _quantity(rng: random.Random) -> int:
    return rng.choices([1, 2, 3, 4, 6, 10], [70, 16, 7, 4, 2, 1])[0]


def _take(stock: dict[str, int], lines: Sequence[DraftLine]) -> None:
    """Take the lines off the stock, or refuse them all (SoldOut) when a
    product has not enough left"""
    wanted: dict[str, int] = {}
    for line in lines:
        if line.sku in stock:
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
    short = [f"{sku} ({stock[sku]} left)" for sku, quantity in wanted.items()
        if quantity > stock[sku]]
    if short:
        raise SoldOut("not enough in stock: " + ', '.join(short))
    for sku, quantity in wanted.items():
        stock[sku] -= quantity


def draft(rng: random.Random, catalog: Sequence[CatalogItem],
        currency: str, now: dt.datetime, *, status: str | None = None,
        spread_hours: float = 6.0, many_lines_share: float = 0.02,
        country: str | None = None,
        lines: list[DraftLine] | None = None,
        stock: dict[str, int] | None = None) -> Draft:
    """One order drawn from the catalogue. `status` is forced when given,
    else mostly paid, some pending, cancelled, fulfilled. A share of
    orders (many_lines_share) has 26-60 lines; `lines` given are kept.

    `stock`, given by a shop that does not sell out of stock, is what it
    has left by SKU (a SKU not in it is not counted): its checkout offers
    only what is left and lets no line take more (SoldOut when nothing or
    not enough is left); what the draft takes is taken off it."""
    if not catalog and lines is None:
        raise ValueError("the shop has no products: add_product() first")
    if stock is not None and lines is None:
        catalog = [item for item in catalog if stock.get(item.sku, 1) > 0]
        if not catalog:
            raise SoldOut("every product of the shop is sold out")
    if country is None:
        country = _pick(rng, COUNTRY_WEIGHTS.get(currency, DEFAULT_WEIGHTS))
    elif country not in COUNTRIES:
        raise ValueError(f"no customers in {country!r}; countries: "
            + ', '.join(sorted(COUNTRIES)))
    who = person(rng, country)
    where = place(rng, country, who)
    # Drawn even when lines are given, so that a seed gives the same
    # customer whatever the lines.
    if rng.random() < many_lines_share:
        count = rng.randrange(26, 61)
    else:
        count = rng.choices([1, 2, 3, 4], [50, 28, 14, 8])[0]
    coupon = 'WELCOME10' if rng.random() < 0.1 else None
    if lines is None:
        if count <= len(catalog):
            items = rng.sample(catalog, count)
        else:
            items = rng.choices(catalog, k=count)
        lines = []
        for item in items:
            # Drawn whatever the stock, so a seed draws the same customers
            quantity = _quantity(rng)
            if stock is not None and item.sku in stock:
                # The customer takes what is left; a repeated product
                # (in a many-line order) may have none left.
                quantity = min(quantity, stock[item.sku])
                stock[item.sku] -= quantity
                if not quantity:
                    continue
            discount = cents(item.price / 10) if coupon else Decimal(0)
            lines.append(DraftLine(item.sku, item.title, quantity,
                    cents(item.price), discount, item.ref))
    else:
        coupon = None
        if stock is not None:
            _take(stock, lines)
    status = status or rng.choices(STATUSES, STATUS_WEIGHTS)[0]
    created = now - dt.timedelta(seconds=rng.uniform(0, spread_hours * 3600))
    created = created.replace(microsecond=0)
    later = {
        'paid': (5, 180), 'pending': (0, 30), 'cancelled': (300, 7200),
        'fulfilled': (600, 10800)}.get(status, (0, 600))
    updated = min(now, created + dt.timedelta(
            seconds=rng.uniform(*later))).replace(microsecond=0)
    title, code, price = COUNTRIES[country]['carrier']
    result = Draft(
        status=status, customer=who, address=where, lines=lines,
        currency=currency, created_at=created, updated_at=updated,
        shipping_title=title, shipping_code=code, shipping_price=cents(price),
        tax_rate=tax_rate(country, where.province),
        payment_method=rng.choices(
            ['card', 'paypal', 'bank_transfer'], [70, 20, 10])[0],
        guest=rng.random() < 0.3,
        note=rng.choice([None] * 8 + ['Please leave at the door',
                'Gift – no invoice in the parcel']),
        coupon=coupon)
    if result.subtotal >= FREE_SHIPPING_FROM:
        result.shipping_price = Decimal('0.00')
    return result


def catalog(count: int, seed: int | None = 0, *, stock: int | None = None,
        prefix: str = 'SKU') -> list[dict[str, Any]]:
    """`count` homeware products for add_product(**p): distinct SKUs
    (``{prefix}-00001``…), titles, prices and stock levels."""
    rng = random.Random(seed)
    things = ['Mug', 'Plate', 'Bowl', 'Vase', 'Candle', 'Cushion', 'Throw',
        'Lamp', 'Tray', 'Jar', 'Teapot', 'Towel', 'Basket', 'Frame']
    kinds = ['Linen', 'Stoneware', 'Oak', 'Glass', 'Cotton', 'Enamel',
        'Brass', 'Wool', 'Rattan', 'Porcelain']
    colours = ['red', 'blue', 'sage', 'sand', 'black', 'white', 'ochre',
        'rose']
    products = []
    width = max(5, len(str(count)))
    for n in range(1, count + 1):
        title = (f"{rng.choice(kinds)} {rng.choice(things)} – "
            f"{rng.choice(colours)}")
        price = cents(Decimal(rng.randrange(290, 8900)) / 100)
        products.append(dict(
                sku=f"{prefix}-{n:0{width}d}", title=title, price=str(price),
                stock=rng.randrange(0, 60) if stock is None else stock))
    return products
