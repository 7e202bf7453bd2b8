"""Mapping files as IT admins write them: the examples check clean, every
problem of a broken file is reported with its file and line, and a
mapping changes orders as documented. Then the orders job that applies
it: raw channel orders translated (or rejected with a reason) and posted
to the ERP once each, with the cursor."""
import datetime as dt
from pathlib import Path

import pytest

from oms_contract.models import OrderStatus
from sync_agent.channels import shopify, woocommerce
from sync_agent.channels.base import OrderPage
from sync_agent.cli import main
from sync_agent.config import ChannelConfig
from sync_agent.flows import ChannelSync
from sync_agent.flows import orders as order_flow
from sync_agent.mapping import Mapping, MappingError, check, load

MAPPINGS = Path(__file__).resolve().parents[1] / 'mappings'

BROKEN_YAML = '''\
channel: SHOP
kind: shopify
statuses:
  AUTHORISED: awaiting_shipment
  REFUNDED: teleported
  PAID: awaiting_shipment
  PAID: shipped
skus:
  MUG-RED-2019: MUG-RED
  MUG-RED-OLD: MUG-RED
  TEE-1: TEE-A
sku_file: skus.csv
colour: blue
'''
BROKEN_CSV = '''\
channel_sku,erp_sku
TEE-1,TEE-B
CAP-1,
MUG-1,MUG-X
MUG-1,MUG-Y
BAG-1,BAG

BAG-2,BAG
TEE-1-OLD,TEE-A
'''


def write(folder, name, text):
    path = folder / name
    path.write_text(text, encoding='utf-8')
    return path


def problems_of(path, **kwargs):
    mapping, problems = check(path, **kwargs)
    return mapping, [(Path(p.file).name, p.line, p.message)
        for p in problems]


# -- Checking files -----------------------------------------------------

@pytest.mark.parametrize('name', ['shopify-example.yaml',
        'woocommerce-example.yaml', 'amazon-example.yaml',
        'taobao-example.yaml'])
def test_example_mappings_check_clean(name):
    mapping, problems = check(MAPPINGS / name)

    assert problems == []
    assert mapping.statuses and mapping.skus and mapping.carriers


def test_example_shopify_mapping_reads_its_sku_file():
    mapping = load(MAPPINGS / 'shopify-example.yaml', 'SHOP', 'shopify')

    assert mapping.skus == {'MUG-RED-2019': 'MUG-RED',
        'TEE-BLK-S-OLD': 'TEE-BLK-S', 'TEE-BLK-M-OLD': 'TEE-BLK-M'}
    assert mapping.location('WH') == 'Main warehouse'
    assert mapping.location('OTHER') is None


def test_every_problem_is_reported_with_its_file_and_line(tmp_path):
    yaml_path = write(tmp_path, 'shop.yaml', BROKEN_YAML)
    write(tmp_path, 'skus.csv', BROKEN_CSV)

    mapping, problems = problems_of(yaml_path)

    assert mapping is None
    where = sorted((file, line) for file, line, _ in problems)
    assert where == [
        ('shop.yaml', 4), ('shop.yaml', 5), ('shop.yaml', 7),
        ('shop.yaml', 10), ('shop.yaml', 13),
        ('skus.csv', 2), ('skus.csv', 3), ('skus.csv', 5), ('skus.csv', 8),
        ('skus.csv', 9)]
    said = {(file, line): message for file, line, message in problems}
    assert "'AUTHORISED' is not a shopify status" in said['shop.yaml', 4]
    assert 'AUTHORIZED' in said['shop.yaml', 4]  # the known words listed
    assert said['shop.yaml', 5].startswith('statuses.REFUNDED: ')
    assert "'awaiting_shipment'" in said['shop.yaml', 5]
    assert said['shop.yaml', 7] == (
        "'PAID' is given twice (first on line 6); only one may stay")
    assert said['shop.yaml', 10] == (
        "ERP SKU 'MUG-RED' is mapped from both 'MUG-RED-2019' and "
        "'MUG-RED-OLD'")
    assert said['shop.yaml', 13] == (
        "colour: is not a setting this file knows")
    assert said['skus.csv', 2] == (
        "'TEE-1' maps to 'TEE-B' here but to 'TEE-A' in shop.yaml (skus:)")
    assert said['skus.csv', 3].startswith(
        "each row needs a channel SKU and an ERP SKU")
    assert said['skus.csv', 5] == "'MUG-1' is mapped again (first on line 4)"
    # Two channel SKUs for one ERP SKU, found in the CSV: told there.
    assert said['skus.csv', 8] == (
        "ERP SKU 'BAG' is mapped from both 'BAG-1' and 'BAG-2'")
    assert said['skus.csv', 9] == (
        "ERP SKU 'TEE-A' is mapped from both 'TEE-1' and 'TEE-1-OLD'")


def test_a_sku_file_without_its_header_is_refused(tmp_path):
    yaml_path = write(tmp_path, 'woo.yaml', 'kind: woocommerce\n'
        'sku_file: skus.csv\n')
    write(tmp_path, 'skus.csv', 'MUG-1,MUG\nCAP-1,CAP\n')

    _, problems = problems_of(yaml_path)

    assert problems == [('skus.csv', 1,
            "the first row must be channel_sku,erp_sku, not 'MUG-1,MUG'")]


def test_a_missing_sku_file_is_reported(tmp_path):
    yaml_path = write(tmp_path, 'woo.yaml', 'sku_file: nowhere.csv\n')

    _, problems = problems_of(yaml_path)

    assert [(file, line) for file, line, _ in problems] == [
        ('nowhere.csv', None)]
    assert 'cannot read the SKU file' in problems[0][2]


def test_a_file_for_another_channel_is_refused(tmp_path):
    yaml_path = write(tmp_path, 'shop.yaml', '# for the shop\n'
        'channel: SHOP\nkind: shopify\n')

    with pytest.raises(MappingError) as refused:
        load(yaml_path, 'WOO', 'woocommerce')

    assert str(refused.value).splitlines() == [
        f"{yaml_path}:2: channel: the file is for 'SHOP', not 'WOO'",
        f"{yaml_path}:3: kind: the file is for 'shopify', not "
        "'woocommerce'"]


def test_invalid_yaml_is_reported_with_its_line(tmp_path):
    yaml_path = write(tmp_path, 'shop.yaml',
        'kind: shopify\nstatuses:\n  PAID: [shipped\n')

    mapping, problems = problems_of(yaml_path)

    assert mapping is None
    [(file, line, message)] = problems
    assert file == 'shop.yaml' and line == 4
    assert message.startswith('not valid YAML')


# -- Applying a mapping -------------------------------------------------

def shopify_order(financial='AUTHORIZED', fulfillment='UNFULFILLED',
        skus=('MUG-RED-2019', 'TEE-BLK-S-OLD', 'PLAIN')):
    return {'id': 'gid://shopify/Order/1042', 'name': '#1042',
        'createdAt': '2026-01-15T09:58:11Z',
        'updatedAt': '2026-01-15T10:03:40Z',
        'displayFinancialStatus': financial,
        'displayFulfillmentStatus': fulfillment, 'currencyCode': 'EUR',
        'customer': {'firstName': 'Jane', 'lastName': 'Doe'},
        'totalPriceSet': {'shopMoney': {'amount': '47.90'}},
        'lineItems': {'nodes': [{'id': f'gid://shopify/LineItem/{n}',
                    'sku': sku, 'name': sku, 'quantity': 1,
                    'originalUnitPriceSet': {'shopMoney': {
                            'amount': '10.00'}}}
                for n, sku in enumerate(skus)]}}


@pytest.fixture
def shop_mapping():
    return load(MAPPINGS / 'shopify-example.yaml', 'SHOP', 'shopify')


def test_mapping_overrides_the_status_and_translates_skus(shop_mapping):
    raw = shopify_order()
    order = shopify.normalize_order(raw, 'SHOP')
    assert order.status == OrderStatus.pending_payment
    assert shopify.channel_status(raw) == 'AUTHORIZED/UNFULFILLED'

    mapped = shop_mapping.apply(order, shopify.channel_status(raw))

    # "AUTHORIZED" matches "AUTHORIZED/UNFULFILLED": ship it.
    assert mapped.status == OrderStatus.awaiting_shipment
    assert [ln.sku for ln in mapped.lines] == [
        'MUG-RED', 'TEE-BLK-S', 'PLAIN']
    assert [ln.sku for ln in order.lines] == [
        'MUG-RED-2019', 'TEE-BLK-S-OLD', 'PLAIN']  # the original kept


def test_mapping_leaves_other_orders_alone(shop_mapping):
    raw = shopify_order('PAID', 'FULFILLED', skus=('PLAIN',))
    order = shopify.normalize_order(raw, 'SHOP')

    assert shop_mapping.apply(order, shopify.channel_status(raw)) is order
    assert order.status == OrderStatus.shipped


def test_full_status_text_wins_over_its_first_part():
    mapping = Mapping(statuses={
            'PAID': OrderStatus.awaiting_shipment,
            'PAID/ON_HOLD': OrderStatus.pending_payment})

    assert mapping.status_for('PAID/ON_HOLD') == OrderStatus.pending_payment
    assert mapping.status_for('PAID/UNFULFILLED') == (
        OrderStatus.awaiting_shipment)
    assert mapping.status_for('REFUNDED/FULFILLED') is None
    assert mapping.status_for(None) is None


def test_stock_goes_out_under_the_channel_sku(shop_mapping):
    assert shop_mapping.channel_sku('MUG-RED') == 'MUG-RED-2019'
    assert shop_mapping.channel_sku('TEE-BLK-M') == 'TEE-BLK-M-OLD'
    assert shop_mapping.channel_sku('PLAIN') == 'PLAIN'


def test_an_unmapped_carrier_is_named(shop_mapping):
    assert shop_mapping.carrier('DHL') == 'DHL Express'
    with pytest.raises(MappingError, match="carrier 'FEDEX'") as refused:
        shop_mapping.carrier('FEDEX')
    assert 'shopify-example.yaml' in str(refused.value)


# -- oms-sync check-mappings --------------------------------------------

def test_check_mappings_command_on_the_examples(capsys):
    assert main(['check-mappings', str(MAPPINGS)]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out == [f'{MAPPINGS / "amazon-example.yaml"}: OK',
        f'{MAPPINGS / "shopify-example.yaml"}: OK',
        f'{MAPPINGS / "taobao-example.yaml"}: OK',
        f'{MAPPINGS / "woocommerce-example.yaml"}: OK']


def test_check_mappings_command_reports_problems(tmp_path, capsys):
    good = write(tmp_path, 'good.yaml', 'statuses:\n  on-hold: shipped\n')
    bad = write(tmp_path, 'bad.yaml', 'statuses:\n  onhold: shipped\n')

    assert main(['check-mappings', '--kind', 'woocommerce',
            str(good)]) == 0
    assert main(['check-mappings', '--kind', 'woocommerce', str(bad),
            str(good)]) == 1

    out = capsys.readouterr().out.splitlines()
    assert out[0] == f'{good}: OK'
    assert out[1].startswith(
        f"{bad}:2: statuses: 'onhold' is not a woocommerce status")
    assert out[2] == f'{good}: OK'


def test_check_mappings_command_on_a_missing_file(tmp_path, capsys):
    assert main(['check-mappings', str(tmp_path / 'nope.yaml')]) == 1
    assert 'cannot read it' in capsys.readouterr().out


# -- ChannelSync: translating and posting orders ------------------------

def woo_order(id_, modified='2026-01-15T10:02:08', **changes):
    raw = {'id': id_, 'number': str(id_), 'status': 'processing',
        'currency': 'USD', 'date_created_gmt': '2026-01-15T09:58:02',
        'date_modified_gmt': modified, 'total': '6.00',
        'billing': {'first_name': 'John', 'last_name': 'Doe'},
        'line_items': [{'id': id_ * 10, 'sku': 'CAP-GRN', 'quantity': 2,
                'price': 3, 'name': 'Cap'}]}
    raw.update(changes)
    return raw


class FakeErp:
    "The ERP as the orders job sees it: a cursor and post_orders"

    def __init__(self, cursor=None):
        self.stored = cursor
        self.posts = []

    def cursor(self, channel):
        return self.stored

    def post_orders(self, channel, orders, cursor, rejected=None):
        self.posts.append({'channel': channel, 'orders': orders,
                'cursor': cursor, 'rejected': rejected or []})
        if cursor is not None:
            self.stored = cursor
        return {'results': [{'result': 'created'} for _ in orders]
            + [{'result': 'exception'} for _ in rejected or []]}


class FakeAdapter:
    def __init__(self, pages, sorted_by_update=False):
        self.pages = pages
        self.sorted_by_update = sorted_by_update
        self.since = []

    def fetch_orders(self, since):
        self.since.append(since)
        for orders in self.pages:
            yield OrderPage(list(orders), total=sum(map(len, self.pages)))

    def next_orders_call(self):
        return None


def woo_sync(adapter=None, erp=None, mapping=None):
    config = ChannelConfig(code='WOO', kind='woocommerce',
        base_url='https://shop.example', overlap=120)
    return ChannelSync(config, woocommerce, adapter or FakeAdapter([]),
        mapping or load(MAPPINGS / 'woocommerce-example.yaml'),
        erp or FakeErp())


def shop_sync():
    config = ChannelConfig(code='SHOP', kind='shopify',
        base_url='https://shop.example')
    return ChannelSync(config, shopify, FakeAdapter([]), Mapping(),
        FakeErp())


def test_translate_maps_a_readable_order():
    translation = woo_sync().translate(woo_order(727, status='on-hold'))

    assert translation.rejected is None
    order = translation.order
    assert (order.channel, order.external_id) == ('WOO', '727')
    assert order.status == OrderStatus.pending_payment
    assert [ln.sku for ln in order.lines] == ['CAP-GREEN']


def test_an_order_without_currency_is_rejected_with_the_field():
    raw = woo_order(727)
    del raw['currency']

    translation = woo_sync().translate(raw)

    assert translation.order is None
    rejected = translation.rejected
    assert rejected.external_id == '727'
    assert rejected.number == '727'
    assert rejected.reason.startswith(
        "The channel's order cannot be read: currency")
    assert rejected.raw == raw


def test_an_order_with_a_bad_date_is_rejected_with_the_field():
    raw = shopify_order()
    raw['createdAt'] = 'yesterday'

    rejected = shop_sync().translate(raw).rejected

    assert rejected.external_id == '1042'
    assert rejected.number == '#1042'
    assert "createdAt is not a date-time: 'yesterday'" in rejected.reason
    assert rejected.raw == raw


def test_an_order_without_any_id_gets_a_stable_one():
    raw = {'status': 'processing', 'total': 'lots'}

    first = woo_sync().translate(raw).rejected
    again = woo_sync().translate(dict(raw)).rejected

    assert first.external_id.startswith('unidentified-')
    assert first.external_id == again.external_id
    assert first.reason


def test_pull_orders_posts_each_order_once_with_the_newest_cursor():
    erp = FakeErp(cursor='2026-01-15T09:00:00+00:00')
    broken = woo_order(9, total=None)
    adapter = FakeAdapter([
            [woo_order(1, '2026-01-15T10:00:00'),
                woo_order(2, '2026-01-15T10:30:00')],
            # Rows shifted while paging: order 2 comes again.
            [woo_order(2, '2026-01-15T10:30:00'),
                woo_order(3, '2026-01-15T10:10:00'), broken],
            ])
    sync = woo_sync(adapter, erp)
    progress = []
    sync.progress = lambda read, total: progress.append((read, total))

    summary = sync.pull_orders()

    # The scan started at the cursor less the overlap (120 s).
    assert adapter.since == [dt.datetime(2026, 1, 15, 8, 58, tzinfo=dt.UTC)]
    [post] = erp.posts
    assert [o.external_id for o in post['orders']] == ['1', '2', '3']
    assert [r.external_id for r in post['rejected']] == ['9']
    assert 'total is missing' in post['rejected'][0].reason
    assert post['cursor'] == '2026-01-15T10:30:00+00:00'
    assert summary == {'read': 5, 'created': 3, 'exception': 1,
        'cursor': '2026-01-15T10:30:00+00:00'}
    assert progress == [(2, 5), (5, 5)]


def test_pull_orders_with_nothing_new_posts_nothing():
    erp = FakeErp(cursor='2026-01-15T09:00:00Z')

    summary = woo_sync(FakeAdapter([[]]), erp).pull_orders()

    assert erp.posts == []
    assert summary['cursor'] == '2026-01-15T09:00:00+00:00'


def test_a_first_pull_reads_from_the_start():
    adapter = FakeAdapter([[woo_order(1)]])
    erp = FakeErp()

    woo_sync(adapter, erp).pull_orders()

    assert adapter.since == [None]
    assert erp.posts[0]['cursor'] == '2026-01-15T10:02:08+00:00'


def minutes(n):
    return (dt.datetime(2026, 1, 15, 10, 0) + dt.timedelta(minutes=n)
        ).isoformat()


def many_pages(count=150, per_page=60):
    orders = [woo_order(n + 1, minutes(n)) for n in range(count)]
    return [orders[i:i + per_page] for i in range(0, count, per_page)]


@pytest.fixture
def batch_of_100(monkeypatch):
    "ERP posts of 100 orders, whatever the agent's default"
    monkeypatch.setattr(order_flow, 'ERP_BATCH', 100)


def test_unsorted_channel_moves_the_cursor_only_on_the_final_post(
        batch_of_100):
    "Sorted by id, an interrupted scan must start over from the old cursor"
    erp = FakeErp()

    woo_sync(FakeAdapter(many_pages()), erp).pull_orders()

    assert [len(p['orders']) for p in erp.posts] == [120, 30]
    assert len(erp.posts[0]['orders']) >= order_flow.ERP_BATCH
    assert [p['cursor'] for p in erp.posts] == [
        None, '2026-01-15T12:29:00+00:00']


def test_sorted_channel_moves_the_cursor_with_each_post(batch_of_100):
    erp = FakeErp()

    woo_sync(FakeAdapter(many_pages(), sorted_by_update=True),
        erp).pull_orders()

    assert [p['cursor'] for p in erp.posts] == [
        '2026-01-15T11:59:00+00:00', '2026-01-15T12:29:00+00:00']


def test_check_mappings_points_at_the_line_to_fix(tmp_path, capsys):
    "A key without ':', an unclosed CSV quote: each on its own line, in order"
    no_colon = write(tmp_path, 'a.yaml',
        'statuses:\n  on-hold shipped\n  processing: awaiting_shipment\n')
    write(tmp_path, 'skus.csv',
        'channel_sku,erp_sku\nA,ERP-A\n"B,ERP-B\nC,ERP-C\n')
    unclosed = write(tmp_path, 'b.yaml',
        'sku_file: skus.csv\nstatuses:\n  onhold: shipped\n')

    assert main(['check-mappings', '--kind', 'woocommerce', str(no_colon),
            str(unclosed)]) == 1

    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"{no_colon}:2: not valid YAML: 'on-hold shipped' "
        "needs a ':' after its key")
    assert out[1].startswith(
        f"{unclosed}:3: statuses: 'onhold' is not a woocommerce status")
    assert out[2] == (f"{tmp_path / 'skus.csv'}:3: a quote opened on this "
        "row is not closed")
    assert len(out) == 3


def test_a_product_sold_both_ways_maps_from_two_amazon_skus(tmp_path):
    "The SKU Amazon fulfils shares its ERP SKU; stock goes to the other"
    path = tmp_path / 'amazon.yaml'
    path.write_text("kind: amazon\nskus:\n  MUG-FBA: MUG\n  MUG-MFN: MUG\n")
    _, problems = check(path)
    assert ["mapped from both" in p.message for p in problems] == [True]

    path.write_text(path.read_text() + "fulfilled_by_channel: [MUG-FBA]\n")
    mapping = load(path)
    assert mapping.channel_sku('MUG') == 'MUG-MFN'
    assert mapping.fulfilled_by_channel == {'MUG-FBA'}
