"""Stock status: what each warehouse holds of each product, what orders
have set aside, how long it lasts at the recent sales, how fast it turns,
and what each channel is offered of it (issue 7, report 3).

Stock is counted the way the channels' available-to-sell counts it
(`oms.listing.stock_by_warehouse`): done moves into and out of the
warehouse's storage zone up to today, less the assigned moves out of it
(the orders' reservations); but for all the products and warehouses at
once, in one grouped query over the moves."""
from dataclasses import replace

from sql import Literal, Null, Union, Values
from sql.aggregate import Max, Sum
from sql.conditionals import Case, Coalesce

from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval

from ..domains import any_field_matches
from .cache import ReportCacheMixin
from .reporting import Filters, day_number, row_id, sale_lines, today

# Stock that lasts longer than this at the period's sales moves slowly.
SLOW_MOVER_DAYS = 90


def warehouse_locations():
    """Each location inside a warehouse: location, warehouse and whether it
    is in the warehouse's storage zone (what is for sale)"""
    Location = Pool().get('stock.location')
    location = Location.__table__()
    warehouse = Location.__table__()
    storage = Location.__table__()
    in_storage = ((location.left >= storage.left)
        & (location.right <= storage.right))
    return (location
        .join(warehouse,
            condition=(location.left >= warehouse.left)
            & (location.right <= warehouse.right))
        .join(storage, condition=warehouse.storage_location == storage.id)
        .select(
            location.id.as_('location'),
            warehouse.id.as_('warehouse'),
            Case((in_storage, Literal(True)),
                else_=Literal(False)).as_('storage'),
            where=warehouse.type == 'warehouse'))


def stock_movements(filters: Filters):
    """The stock figures by product and warehouse, one query: on_hand
    (storage today), reserved (assigned out of storage), average_stock
    (in storage over the filters' days, a day's end stock averaged) and
    shipped (done to customers over the filters' days).

    The moves are summed first by product and locations, in one pass:
    their figures only depend on the locations, which are few; then the
    sums are put in and out of the warehouses."""
    pool = Pool()
    Move = pool.get('stock.move')
    Location = pool.get('stock.location')
    move = Move.__table__()
    to_location = Location.__table__()
    now = today()
    date = Coalesce(move.effective_date, move.planned_date)
    done = move.state == 'done'
    # The days of the period a move's quantity stays in (or out of) stock.
    days_held = Case(
        (date < filters.from_date, filters.days),
        else_=day_number(Literal(filters.to_date)) - day_number(date) + 1)
    quantity = move.internal_quantity

    def total(where, value=quantity):
        return Sum(Case((where, value), else_=0))
    moves = move.select(
        move.product.as_('product'),
        move.from_location.as_('from_location'),
        move.to_location.as_('to_location'),
        total(done & (date <= now)).as_('on_hand'),
        total(done & (date <= filters.to_date),
            quantity * days_held).as_('stock_days'),
        total(move.state == 'assigned').as_('assigned'),
        total(done & (date >= filters.from_date)
            & (date <= filters.to_date)).as_('in_period'),
        where=(move.company == filters.company)
        & move.state.in_(['done', 'assigned']),
        group_by=[move.product, move.from_location, move.to_location])

    # Each sum goes out of the warehouse of its from location and into the
    # one of its to location: the sums are taken twice, a side each, and
    # joined to the warehouses on that side's location (an equality the
    # database hashes; the sums are not computed twice).
    side = Values([[0], [1]])
    into = side.column1 == 1
    inside = warehouse_locations()
    into_storage = into & inside.storage
    out_of_storage = ~into & inside.storage
    where = None
    if filters.warehouse:
        where = inside.warehouse == filters.warehouse
    sides = (moves
        .join(side, type_='CROSS')
        .join(inside, condition=inside.location == Case(
                (into, moves.to_location), else_=moves.from_location))
        .join(to_location, condition=moves.to_location == to_location.id))

    def in_less_out(column):
        return Sum(Case(
                (into_storage, column),
                (out_of_storage, -column),
                else_=0))
    return sides.select(
        moves.product.as_('product'),
        inside.warehouse.as_('warehouse'),
        in_less_out(moves.on_hand).as_('on_hand'),
        Sum(Case((out_of_storage, moves.assigned), else_=0)
            ).as_('reserved'),
        (in_less_out(moves.stock_days) / filters.days).as_('average_stock'),
        Sum(Case((~into & (to_location.type == 'customer'),
                    moves.in_period), else_=0)).as_('shipped'),
        where=where,
        group_by=[moves.product, inside.warehouse])


def sold_by_warehouse(filters: Filters):
    """The units sold in the period by product and warehouse, all channels
    together: stock is shared, one channel's sales would overstate how long
    it lasts."""
    lines = sale_lines(replace(filters, channel=None),
        filters.from_date, filters.to_date)
    return lines.select(
        lines.product.as_('product'),
        lines.warehouse.as_('warehouse'),
        Sum(lines.quantity).as_('quantity'),
        group_by=[lines.product, lines.warehouse])


def channel_warehouses():
    """The warehouses each channel sells from: its list, else its own
    (oms.channel.sellable_warehouses): channel, warehouse"""
    pool = Pool()
    Channel = pool.get('oms.channel')
    ChannelWarehouse = pool.get('oms.channel-stock.location')
    channel = Channel.__table__()
    listed = ChannelWarehouse.__table__()
    other = ChannelWarehouse.__table__()
    return Union(
        listed.select(listed.channel, listed.warehouse),
        channel.select(channel.id.as_('channel'),
            channel.warehouse.as_('warehouse'),
            where=~channel.id.in_(other.select(other.channel))
            & (channel.warehouse != Null)),
        all_=True)


class StockReporting(ReportCacheMixin, ModelSQL, ModelView):
    __name__ = 'oms.reporting.stock'
    __string__ = "Stock Status"

    company = fields.Many2One('company.company', "Company")
    product = fields.Many2One(
        'product.product', "Product",
        context={'company': Eval('company', -1)}, depends={'company'})
    warehouse = fields.Many2One('stock.location', "Warehouse")
    unit = fields.Many2One('product.uom', "Unit")
    on_hand = fields.Float(
        "On Hand", digits='unit',
        help="The stock in the warehouse's storage today.")
    reserved = fields.Float(
        "Reserved", digits='unit',
        help="The stock set aside for orders: the assigned moves out of "
        "the storage.")
    available = fields.Float(
        "Available", digits='unit',
        help="On hand less reserved: what the channels' available-to-sell "
        "starts from, before safety stock and allocation.")
    sold = fields.Float(
        "Sold", digits='unit',
        help="The units ordered over the period from the warehouse, every "
        "channel together (stock is shared), cancelled orders and "
        "returns left out.")
    velocity = fields.Float(
        "Daily Sales", digits=(16, 2),
        help="The units sold a day over the period.")
    days_of_cover = fields.Float(
        "Days of Cover", digits=(16, 1),
        help="How many days the available stock lasts at the daily sales.\n"
        "Empty when nothing sold.")
    shipped = fields.Float(
        "Shipped", digits='unit',
        help="The units that left the warehouse to customers over the "
        "period.")
    average_stock = fields.Float(
        "Average Stock", digits='unit',
        help="The stock in storage at each day's end of the period, "
        "averaged.")
    turnover = fields.Float(
        "Turnover", digits=(16, 2),
        help="Shipped over the average stock: how many times the stock "
        "was sold through over the period.\n"
        "Empty without stock over the period.")
    order_point_min = fields.Float(
        "Order Point Minimum", digits='unit',
        help="The minimal quantity of the warehouse's order point.")
    safety_stock = fields.Float(
        "Safety Stock", digits='unit',
        help="The most units a channel selling from the warehouse keeps "
        "back from its listing of the product.")
    slow_mover = fields.Boolean(
        "Slow Mover",
        help="Stock on hand that sold nothing over the period, or that "
        f"lasts more than {SLOW_MOVER_DAYS} days at its sales.")
    below_safety_stock = fields.Boolean(
        "Below Safety Stock",
        help="The available stock is below the order point's minimum, or "
        "without order point, below the channels' safety stock.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('product', 'ASC'),
            ('warehouse', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def report_query(cls):
        "A row per active goods product and warehouse"
        pool = Pool()
        Product = pool.get('product.product')
        Template = pool.get('product.template')
        Location = pool.get('stock.location')
        OrderPoint = pool.get('stock.order_point')
        Listing = pool.get('oms.listing')
        Channel = pool.get('oms.channel')
        filters = pool.get('oms.reporting.context').filters()

        product = Product.__table__()
        template = Template.__table__()
        warehouse = Location.__table__()
        order_point = OrderPoint.__table__()
        stock = stock_movements(filters)
        sold = sold_by_warehouse(filters)
        safety = cls._safety_stock_query(filters)

        where = ((template.type == 'goods')
            & ~Coalesce(template.consumable, False)
            & product.active
            & (warehouse.type == 'warehouse')
            & warehouse.active)
        if filters.warehouse:
            where &= warehouse.id == filters.warehouse
        if filters.channel:
            listing = Listing.__table__()
            channel = Channel.__table__()
            where &= product.id.in_(listing
                .join(channel, condition=listing.channel == channel.id)
                .select(listing.product,
                    where=(listing.channel == filters.channel)
                    & listing.active
                    & (channel.company == filters.company)))

        def figure(column):
            return cls.on_hand.sql_cast(Coalesce(column, 0))
        rows = (product
            .join(template, condition=product.template == template.id)
            .join(warehouse, type_='CROSS')
            .join(stock, type_='LEFT',
                condition=(stock.product == product.id)
                & (stock.warehouse == warehouse.id))
            .join(sold, type_='LEFT',
                condition=(sold.product == product.id)
                & (sold.warehouse == warehouse.id))
            .join(order_point, type_='LEFT',
                condition=(order_point.product == product.id)
                & (order_point.location == warehouse.id)
                & (order_point.company == filters.company))
            .join(safety, type_='LEFT',
                condition=(safety.product == product.id)
                & (safety.warehouse == warehouse.id))
            .select(
                row_id(product.id, warehouse.id).as_('id'),
                product.id.as_('product'),
                warehouse.id.as_('warehouse'),
                template.default_uom.as_('unit'),
                figure(stock.on_hand).as_('on_hand'),
                figure(stock.reserved).as_('reserved'),
                figure(sold.quantity).as_('sold'),
                figure(stock.shipped).as_('shipped'),
                figure(stock.average_stock).as_('average_stock'),
                order_point.min_quantity.as_('order_point_min'),
                safety.quantity.as_('safety_stock'),
                where=where))

        # The figures derived from the ones above, as columns so that the
        # tabs and the client search them.
        available = rows.on_hand - rows.reserved
        velocity = rows.sold / filters.days
        days_of_cover = Case(
            (rows.sold > 0,
                Case((available > 0, available), else_=0) / velocity),
            else_=Null)
        threshold = Coalesce(rows.order_point_min, rows.safety_stock)
        return rows.select(
            rows.id,
            Literal(filters.company).as_('company'),
            rows.product, rows.warehouse, rows.unit,
            rows.on_hand, rows.reserved,
            available.as_('available'),
            rows.sold,
            velocity.as_('velocity'),
            days_of_cover.as_('days_of_cover'),
            rows.shipped,
            rows.average_stock,
            Case((rows.average_stock > 0,
                    rows.shipped / rows.average_stock),
                else_=Null).as_('turnover'),
            rows.order_point_min,
            rows.safety_stock,
            Case(((rows.on_hand > 0)
                    & ((rows.sold <= 0)
                        | (days_of_cover > SLOW_MOVER_DAYS)),
                    Literal(True)),
                else_=Literal(False)).as_('slow_mover'),
            Case(((threshold != Null) & (available < threshold),
                    Literal(True)),
                else_=Literal(False)).as_('below_safety_stock'))

    @classmethod
    def _safety_stock_query(cls, filters: Filters):
        """The largest safety stock of the active listings of each product
        on the channels selling from each warehouse"""
        pool = Pool()
        Listing = pool.get('oms.listing')
        Channel = pool.get('oms.channel')
        listing = Listing.__table__()
        channel = Channel.__table__()
        selling = channel_warehouses()
        where = (listing.active & channel.active
            & (channel.company == filters.company))
        if filters.channel:
            where &= channel.id == filters.channel
        return (listing
            .join(channel, condition=listing.channel == channel.id)
            .join(selling, condition=selling.channel == channel.id)
            .select(
                listing.product.as_('product'),
                selling.warehouse.as_('warehouse'),
                Max(Coalesce(listing.safety_stock, channel.safety_stock)
                    ).as_('quantity'),
                where=where,
                group_by=[listing.product, selling.warehouse]))

    def get_rec_name(self, name):
        return f'{self.product.rec_name} @ {self.warehouse.rec_name}'

    @classmethod
    def search_rec_name(cls, name, clause):
        return any_field_matches(
            clause, ['product.rec_name', 'warehouse.rec_name'])


class StockChannelReporting(ModelSQL, ModelView):
    __name__ = 'oms.reporting.stock.channel'
    __string__ = "Stock by Channel"

    company = fields.Many2One('company.company', "Company")
    channel = fields.Many2One('oms.channel', "Channel")
    listing = fields.Many2One('oms.listing', "Listing")
    product = fields.Many2One(
        'product.product', "Product",
        context={'company': Eval('company', -1)}, depends={'company'})
    warehouse = fields.Many2One(
        'stock.location', "Warehouse",
        help="Empty: the channel sells all its warehouses' stock as one.")
    available = fields.Integer(
        "Available to Sell",
        help="What the channel may sell: the available stock less its "
        "safety stock, times its allocation, capped by its max listed.")
    channel_quantity = fields.Integer(
        "Channel Shows",
        help="The quantity the channel last accepted, less its own sales "
        "since. Empty: never pushed.")
    pushed_at = fields.Timestamp("Pushed At")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('product', 'ASC'),
            ('channel', 'ASC'),
            ('warehouse', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        "A row per active listing and warehouse it keeps a level for"
        pool = Pool()
        Level = pool.get('oms.listing.level')
        Listing = pool.get('oms.listing')
        Channel = pool.get('oms.channel')
        filters = pool.get('oms.reporting.context').filters()
        level = Level.__table__()
        listing = Listing.__table__()
        channel = Channel.__table__()
        where = (listing.active & (channel.company == filters.company))
        if filters.channel:
            where &= channel.id == filters.channel
        if filters.warehouse:
            # A level of all the channel's warehouses sells this one's
            # stock too.
            selling = channel_warehouses()
            where &= ((level.warehouse == filters.warehouse)
                | ((level.warehouse == Null)
                    & channel.id.in_(selling.select(selling.channel,
                            where=selling.warehouse == filters.warehouse))))
        return (level
            .join(listing, condition=level.listing == listing.id)
            .join(channel, condition=level.channel == channel.id)
            .select(
                level.id.as_('id'),
                channel.company.as_('company'),
                level.channel.as_('channel'),
                level.listing.as_('listing'),
                listing.product.as_('product'),
                level.warehouse.as_('warehouse'),
                level.quantity.as_('available'),
                level.channel_quantity.as_('channel_quantity'),
                level.pushed_at.as_('pushed_at'),
                where=where))

    def get_rec_name(self, name):
        return self.listing.rec_name
