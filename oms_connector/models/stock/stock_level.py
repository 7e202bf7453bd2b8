"""Stock levels: what each listing may sell on its channel (per warehouse
where the channel keeps stock by location), what the channel shows, and
the change log that keeps them current (DESIGN.md §7).

A stock move, a sale, a cancellation or a return writes a row to the
change log naming its product, in its own transaction and without touching
any level, so concurrent imports never wait on each other here. Whoever
asks for levels next (the agent's stock poll, or the cron) recomputes the
levels of the logged products, bumps the version of those that changed and
deletes the rows it consumed."""
import datetime as dt
import logging
from collections import defaultdict

from sql import Literal, Null, Select
from sql.conditionals import Case
from sql.functions import CurrentTimestamp

from trytond import backend
from trytond.model import ModelSQL, ModelView, Unique, fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from oms_contract.models import StockRefusal

logger = logging.getLogger(__name__)

# The advisory lock id of the refresh: one at a time does the work.
REFRESH_LOCK = 0x6f6d73_5354  # 'omsST'
# The channel statuses of orders a channel deducting its sales on order
# has taken off the quantity it shows (it gives cancelled ones back)
DEDUCTED = {'pending_payment', 'awaiting_shipment', 'partially_shipped',
    'shipped', 'completed', 'refunded'}


# Why a channel refused a quantity, as the agent says it, in words staff
# act on; what the channel answered is kept as the details.
PUSH_ERRORS = [
    (None, ""),
    (StockRefusal.stale.value,
        "The channel's quantity changed since the last push (a sale not "
        "imported yet?): it is set again after the next import."),
    (StockRefusal.unknown_sku.value,
        "The channel has no product with this SKU: check the listing's "
        "SKU."),
    (StockRefusal.no_location.value,
        "The channel has no location for this warehouse: map one in the "
        "sync agent's mapping file."),
    (StockRefusal.duplicate.value,
        "Another listing or warehouse sets the same product on the "
        "channel: check the agent's mapping file."),
    (StockRefusal.refused.value,
        "The channel refused the quantity: see the details."),
    ]


class ListingLevel(ModelSQL, ModelView):
    __name__ = 'oms.listing.level'
    __string__ = "Listing Stock Level"

    listing = fields.Many2One(
        'oms.listing', "Listing", required=True, ondelete='CASCADE')
    channel = fields.Many2One(
        'oms.channel', "Channel", required=True, ondelete='CASCADE')
    warehouse = fields.Many2One(
        'stock.location', "Warehouse", ondelete='CASCADE',
        domain=[('type', '=', 'warehouse')],
        help="The warehouse this level counts; empty: all the channel's "
        "warehouses together.")
    quantity = fields.Integer(
        "Available", required=True, readonly=True,
        help="What the channel may sell.")
    version = fields.Integer(
        "Version", required=True, readonly=True,
        help="Grows each time the available quantity changes.")
    changed_at = fields.Timestamp("Changed At", readonly=True)
    channel_quantity = fields.Integer(
        "Channel Shows", readonly=True,
        help="What the channel shows: the quantity it last accepted, "
        "less its own sales since. Empty: never pushed.")
    pushed_version = fields.Integer("Pushed Version", readonly=True)
    pushed_at = fields.Timestamp("Pushed At", readonly=True)
    push_error = fields.Selection(PUSH_ERRORS, "Push Error", readonly=True,
        help="Why the channel refused the last quantity pushed; the sync "
        "agent pushes it again.")
    push_error_string = push_error.translated('push_error')
    push_error_details = fields.Text(
        "Push Error Details", readonly=True,
        help="What the channel answered, in its own words and codes.")
    pending = fields.Function(fields.Boolean(
            "Push Pending",
            help="The channel shows another quantity than is available."),
        'get_pending', searcher='search_pending')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('listing_warehouse_unique',
                Unique(t, t.listing, t.warehouse),
                'oms_connector.msg_level_unique'),
            ]
        cls._order = [
            ('listing', 'ASC'), ('warehouse', 'ASC'), ('id', 'ASC')]

    @classmethod
    def __register__(cls, module):
        table_h = cls.__table_handler__(module)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        # Migration from 8.0.0: the push error held what the channel
        # answered; it says why now, and the answer is the details
        answers = (table_h.column_exist('push_error')
            and not table_h.column_exist('push_error_details'))
        if answers:
            table_h.column_rename('push_error', 'push_error_details')

        super().__register__(module)

        if answers:
            cursor.execute(*table.update([table.push_error], [Case(
                            (table.push_error_details.like(
                                    'CHANGE_FROM_QUANTITY_STALE%'),
                                StockRefusal.stale.value),
                            else_=StockRefusal.refused.value)],
                    where=table.push_error_details != Null))

    def get_rec_name(self, name):
        name = self.listing.rec_name
        if self.warehouse:
            name += f' @ {self.warehouse.rec_name}'
        return name

    def get_pending(self, name):
        return self.listing.active and self.quantity != self.channel_quantity

    @classmethod
    def pending_query(cls, channel=None):
        "The ids of the levels to push (of the channel), as SQL"
        Listing = Pool().get('oms.listing')
        level = cls.__table__()
        listing = Listing.__table__()
        where = (listing.active
            & ((level.channel_quantity == Null)
                | (level.channel_quantity != level.quantity)))
        if channel is not None:
            where &= level.channel == channel.id
        return level.join(listing,
            condition=level.listing == listing.id).select(
                level.id, where=where)

    @classmethod
    def search_pending(cls, name, clause):
        _, operator, value = clause[:3]
        wanted = (operator == '=') == bool(value)
        return [('id', 'in' if wanted else 'not in', cls.pending_query())]

    @classmethod
    @without_check_access
    def update_levels(cls, listings):
        """Recompute the levels of the listings, bumping the version of
        those whose quantity changed, and check their products against
        their safety stock. Levels of warehouses no longer sold go."""
        pool = Pool()
        Listing = pool.get('oms.listing')
        listings = [li for li in Listing.browse(listings) if li.active]
        if not listings:
            return
        stock = Listing.sellable_stock(listings)
        existing = {(lv.listing.id, lv.warehouse and lv.warehouse.id): lv
            for lv in cls.search([
                    ('listing', 'in', [li.id for li in listings]),
                    ])}
        now = dt.datetime.now()
        to_create, to_write, keep = [], [], set()
        readings = defaultdict(dict)  # by company
        for listing in listings:
            if listing.fulfilled_by_channel:
                continue  # the channel counts its stock: no level
            for warehouse, quantity in listing.available_to_sell(
                    stock[listing.id]).items():
                key = (listing.id, warehouse)
                keep.add(key)
                level = existing.get(key)
                if level is None:
                    to_create.append({
                            'listing': listing.id,
                            'channel': listing.channel.id,
                            'warehouse': warehouse,
                            'quantity': quantity,
                            'version': 1,
                            'changed_at': now,
                            })
                elif level.quantity != quantity:
                    to_write.extend(([level], {
                                'quantity': quantity,
                                'version': level.version + 1,
                                'changed_at': now,
                                }))
            add_reading(readings[listing.channel.company.id], listing,
                stock[listing.id])
        to_delete = [lv for k, lv in existing.items() if k not in keep]
        if to_delete:
            cls.delete(to_delete)
        if to_create:
            cls.create(to_create)
        if to_write:
            cls.write(*to_write)
        Alert = pool.get('oms.stock.alert')
        for company, company_readings in readings.items():
            if company_readings:
                with Transaction().set_context(company=company):
                    Alert.check_low_stock(company_readings)

    @classmethod
    @without_check_access
    def refresh(cls):
        """Bring the levels of the products in the change log up to date.
        When another transaction is at it, leave it the work: its levels
        show as soon as it commits."""
        pool = Pool()
        Change = pool.get('oms.stock.change')
        Listing = pool.get('oms.listing')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        change = Change.__table__()
        cursor.execute(*change.select(Literal(1), limit=1))
        if not cursor.fetchone():
            return
        cursor.execute(*Select([transaction.database.lock_id(
                        REFRESH_LOCK)]))
        if not cursor.fetchone()[0]:
            return
        cursor.execute(*change.select(
                change.id, change.product, change.level, change.sold))
        rows = cursor.fetchall()
        products = {product for _, product, _, _ in rows if product}
        sold = defaultdict(int)
        for _, _, level, quantity in rows:
            if level:
                sold[level] += quantity
        if sold:
            cls.deduct(sold)
        if products:
            products |= kits_of(products)
            for sub_products in slices(list(products)):
                cls.update_levels(Listing.search([
                            ('product', 'in', list(sub_products)),
                            ]))
        for sub_ids in slices([r[0] for r in rows]):
            cursor.execute(*change.delete(
                    where=fields.SQL_OPERATORS['in'](change.id, sub_ids)))

    @classmethod
    def deduct(cls, sold):
        """Lower what the channels show by what they sold ({level id:
        units}); below zero too, as a channel selling past its stock
        shows it"""
        levels = cls.browse(list(sold))
        args = []
        for level in levels:
            if level.channel_quantity is not None:
                args.extend(([level], {
                            'channel_quantity': (
                                level.channel_quantity - sold[level.id]),
                            }))
        if args:
            cls.write(*args)

    @classmethod
    def to_push(cls, channel, all=False):
        """The channel's levels to push (every level when all), sorted by
        SKU, after bringing them up to date"""
        cls.refresh()
        domain = [
            ('channel', '=', channel.id),
            ('listing.active', '=', True),
            ]
        if not all:
            domain.append(('pending', '=', True))
        return cls.search(domain, order=[
                ('listing.sku', 'ASC'), ('warehouse', 'ASC'), ('id', 'ASC')])

    @classmethod
    def pending_count(cls, channel):
        return cls.search_count([
                ('channel', '=', channel.id),
                ('pending', '=', True),
                ])

    @classmethod
    def note_channel_sales(cls, sales):
        """Log the units each channel took off (or gave back to) the
        quantity it shows for these orders, by the channel's Deducts Its
        Sales rule, so that its levels know without a push."""
        pool = Pool()
        Sale = pool.get('sale.sale')
        Change = pool.get('oms.stock.change')
        flips = {True: [], False: []}
        wanted = defaultdict(list)
        for sale in sales:
            channel = sale.oms_channel
            if (not channel or not channel.deducts_sales
                    or sale.oms_channel_fulfils):
                continue
            deducted = sale.oms_channel_status in DEDUCTED
            if deducted != bool(sale.oms_channel_deducted):
                flips[deducted].append(sale)
                wanted[channel].append((sale, 1 if deducted else -1))
        sold = defaultdict(int)
        for channel, signed in wanted.items():
            products = {line.product.id for sale, _ in signed
                for line in sale.lines if line.product}
            levels = {(lv.listing.product.id, lv.warehouse
                    and lv.warehouse.id): lv.id
                for lv in cls.search([
                        ('channel', '=', channel.id),
                        ('listing.product', 'in', list(products)),
                        ])}
            for sale, sign in signed:
                warehouse = (sale.warehouse.id
                    if channel.stock_by_location and sale.warehouse
                    else None)
                for line in sale.lines:
                    level = levels.get((
                            line.product and line.product.id, warehouse))
                    if level:
                        sold[level] += sign * int(line.quantity)
        args = []
        for deducted, flipped in flips.items():
            if flipped:
                args.extend((flipped, {'oms_channel_deducted': deducted}))
        if args:
            Sale.write(*args)
        Change.record(sold=sold)

    @classmethod
    def record_push(cls, pushed, refused):
        """Record the quantities the channel accepted ({level: (quantity,
        version, previous)}), clearing their errors, and why it refused
        others ({level: (reason, what the channel answered)}): those keep
        what the channel shows, so they stay pending.

        `previous` is what the push expected the channel to show. The
        channel's own sales deducted since (imported while the push was
        under way) happened after it accepted, so they come off."""
        now = dt.datetime.now()
        # Read afresh: a drift recorded just before changed them.
        current = {lv.id: lv.channel_quantity
            for lv in cls.browse([lv.id for lv in pushed])}
        shows = {}
        for level, (quantity, version, previous) in pushed.items():
            shown = current[level.id]
            if previous is not None and shown is not None:
                quantity -= previous - shown
            shows[level] = (quantity, version)
        # One write per distinct value: a full push is thousands of levels
        # sharing a few quantities.
        args = []
        for (quantity, version), levels in by_value(shows).items():
            args.extend((levels, {
                        'channel_quantity': quantity,
                        'pushed_version': version,
                        'pushed_at': now,
                        'push_error': None,
                        'push_error_details': None,
                        }))
        for (reason, details), levels in by_value(refused).items():
            args.extend((levels, {
                        'push_error': reason,
                        'push_error_details': details,
                        }))
        if args:
            cls.write(*args)

    @classmethod
    def record_drift(cls, drifts):
        """Record what a reconciliation found the channel showing instead
        of what the ERP expected ({level: (expected, found)}), and raise a
        drift alert for each."""
        if not drifts:
            return
        pool = Pool()
        args = []
        for (_, found), levels in by_value(drifts).items():
            if found is not None:
                args.extend((levels, {'channel_quantity': found}))
        if args:
            cls.write(*args)
        by_company = defaultdict(list)
        for level, (expected, found) in drifts.items():
            logger.warning(
                "channel %s shows %s of %s, expected %s",
                level.channel.code, found, level.rec_name, expected)
            by_company[level.channel.company.id].append({
                    'listing': level.listing,
                    'warehouse': level.warehouse,
                    'expected': expected,
                    'found': found,
                    })
        # One call per company: its new alerts go out in one mail.
        Alert = pool.get('oms.stock.alert')
        for company, company_drifts in by_company.items():
            with Transaction().set_context(company=company):
                Alert.report_drift(company_drifts)


class StockChange(ModelSQL):
    """The log of what may have changed a listing's available quantity:
    a product whose moves changed, or units a channel sold itself
    (level, sold)."""
    __name__ = 'oms.stock.change'
    __string__ = "Stock Change"

    product = fields.Many2One('product.product', "Product")
    level = fields.Many2One('oms.listing.level', "Level")
    sold = fields.Integer("Sold")

    @classmethod
    def record(cls, products=(), sold=None):
        """Log products whose stock changed and units channels sold
        ({level id: units}) in one insert, skipping Tryton's per-record
        machinery: it runs inside every stock move write."""
        rows = [[p, Null, 0] for p in set(products)]
        rows += [[Null, level, units] for level, units in (sold or {}).items()
            if units]
        if not rows:
            return
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        for sub_rows in slices(rows, per_item=5):
            cursor.execute(*table.insert(
                    [table.product, table.level, table.sold,
                        table.create_uid, table.create_date],
                    [r + [transaction.user, CurrentTimestamp()]
                        for r in sub_rows]))


class Move(metaclass=PoolMeta):
    __name__ = 'stock.move'

    # The fields whose change may change what is available to sell
    _oms_stock_fields = {
        'product', 'quantity', 'unit', 'state', 'from_location',
        'to_location', 'effective_date', 'planned_date', 'company'}

    @classmethod
    def on_modification(cls, mode, moves, field_names=None):
        super().on_modification(mode, moves, field_names=field_names)
        if mode == 'write' and not (
                set(field_names or ()) & cls._oms_stock_fields):
            return
        Pool().get('oms.stock.change').record(m.product.id for m in moves)


class ProductComponent(metaclass=PoolMeta):
    __name__ = 'product.component'

    @classmethod
    def on_modification(cls, mode, components, field_names=None):
        super().on_modification(mode, components, field_names=field_names)
        # A kit's make-up changed: its listings count anew.
        Pool().get('oms.stock.change').record(
            c.product.id for c in components)



def sum_or_none(values):
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def kits_of(products):
    "The ids of the kits made with these products"
    Component = Pool().get('product.component')
    kits = set()
    for sub_products in slices(list(products)):
        for component in Component.search([
                    ('product', 'in', list(sub_products)),
                    ]):
            if component.parent_product:
                kits.add(component.parent_product.id)
            else:
                kits.update(p.id for p in component.parent_template.products)
    return kits


def add_reading(readings, listing, stock):
    """Note the listing's product stock against its safety stock for the
    low-stock check: one reading per product (one alert, whichever channel
    or warehouse runs short), the tightest of its listings'. A channel
    keeping stock by location counts its tightest warehouse."""
    safety_stock = listing.stock_settings[0]
    if not safety_stock:
        return
    if listing.channel.stock_by_location:
        quantity = min(stock.values(), default=0)
    else:
        quantity = sum(stock.values())
    key = (listing.product.id, None)
    old = readings.get(key)
    if old is None or quantity - safety_stock < old[0] - old[1]:
        readings[key] = (quantity, safety_stock)


def slices(items, per_item=1):
    "The items in slices that fit one query's parameters"
    return grouped_slice(items, backend.MAX_QUERY_PARAMS // per_item)


def refusals(levels, name):
    """What the refused levels say (by warehouse where there are several),
    one line each; None when none was refused"""
    refused = [lv for lv in levels if lv.push_error]
    lines = [(f'{lv.warehouse.rec_name}: ' if lv.warehouse and len(levels) > 1
            else '') + (getattr(lv, name) or '')
        for lv in refused]
    return '\n'.join(lines) or None


def by_value(mapping):
    "The keys of mapping grouped by their value"
    groups = defaultdict(list)
    for key, value in mapping.items():
        groups[value].append(key)
    return groups


class Listing(metaclass=PoolMeta):
    "A listing's stock levels, and what they sum up to"
    __name__ = 'oms.listing'

    levels = fields.One2Many(
        'oms.listing.level', 'listing', "Stock Levels", readonly=True,
        help="What the channel may sell, per warehouse where it keeps "
        "stock by location.")
    available_quantity = fields.Function(fields.Integer(
            "Available",
            help="Available to sell on the channel: stock on hand in its "
            "warehouses less reservations and safety stock, times the "
            "allocation, capped by the max listed."),
        'get_levels_summary')
    pushed_quantity = fields.Function(fields.Integer(
            "Channel Shows",
            help="What the channel shows: the quantity it last accepted, "
            "less its own sales since."),
        'get_levels_summary')
    pushed_at = fields.Function(fields.Timestamp(
            "Pushed At",
            help="When the channel last accepted a quantity."),
        'get_levels_summary')
    push_error = fields.Function(fields.Text(
            "Push Error",
            help="Why the channel refused the last quantity pushed."),
        'get_levels_summary', searcher='search_levels')
    push_error_details = fields.Function(fields.Text(
            "Push Error Details",
            help="What the channel answered, in its own words and codes."),
        'get_levels_summary')
    push_pending = fields.Function(fields.Boolean(
            "Push Pending",
            help="The channel shows another quantity than is available: "
            "the sync agent pushes it next."),
        'get_levels_summary', searcher='search_levels')

    @classmethod
    def copy(cls, listings, default=None):
        default = default.copy() if default is not None else {}
        # A copy is a new listing that the channel has not been told about.
        default.setdefault('levels', None)
        return super().copy(listings, default=default)

    @classmethod
    def get_levels_summary(cls, listings, names):
        result = {name: {} for name in names}
        for listing in listings:
            levels = listing.levels
            values = {
                'available_quantity': sum_or_none(
                    lv.quantity for lv in levels),
                'pushed_quantity': sum_or_none(
                    lv.channel_quantity for lv in levels),
                'pushed_at': max(
                    (lv.pushed_at for lv in levels if lv.pushed_at),
                    default=None),
                'push_error': refusals(levels, 'push_error_string'),
                'push_error_details': refusals(
                    levels, 'push_error_details'),
                'push_pending': listing.active and any(
                    lv.pending for lv in levels),
                }
            for name in names:
                result[name][listing.id] = values[name]
        return result

    @classmethod
    def search_levels(cls, name, clause):
        _, operator, value = clause[:3]
        if name == 'push_error':
            # A level refused: a listing without levels (fulfilled by its
            # channel) has no error, which `levels.push_error != None`
            # would find
            return [('levels', 'where', [('push_error', operator, value)])]
        return [('levels.pending', operator, value)]

    @classmethod
    def on_modification(cls, mode, listings, field_names=None):
        super().on_modification(mode, listings, field_names=field_names)
        if mode == 'create' or (mode == 'write' and field_names & {
                    'product', 'active', 'channel', 'safety_stock',
                    'allocation', 'max_listed'}):
            Pool().get('oms.listing.level').update_levels(listings)


class Channel(metaclass=PoolMeta):
    __name__ = 'oms.channel'

    @classmethod
    def on_modification(cls, mode, channels, field_names=None):
        super().on_modification(mode, channels, field_names=field_names)
        if mode == 'write' and set(field_names or ()) & {
                'warehouse', 'warehouses', 'stock_by_location',
                'safety_stock', 'allocation', 'max_listed'}:
            # Their listings sell from other stock or by another formula.
            Pool().get('oms.listing.level').update_levels(
                [li for c in channels for li in c.listings])


class OrderImporter(metaclass=PoolMeta):
    __name__ = 'oms.order.importer'

    @classmethod
    def orders_imported(cls, channel, sales):
        super().orders_imported(channel, sales)
        Pool().get('oms.listing.level').note_channel_sales(sales)
