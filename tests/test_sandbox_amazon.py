"""The sandbox's Amazon seller account, driven over HTTP with plain
requests as an SP-API adapter would drive it (marketplace-apis.md §3)."""
import datetime as dt
import gzip
import json
import time
from decimal import Decimal

import pytest
import requests
from e2e_harness import FIXTURES

from sandbox.__main__ import build, describe
from sandbox.shop import MALFORMED

MARKETPLACE = 'ATVPDKIKX0DER'
SELLER = 'A3SANDBOXSELLER'
LONG_AGO = '2020-01-01T00:00:00Z'
AMAZON = FIXTURES / 'amazon'


@pytest.fixture
def shop(sandbox):
    shop = sandbox.add_amazon('amz', feed_processing_s=0.05)
    shop.add_product('MUG-RED', 'Mug – red', '12.50', stock=40)
    shop.add_product('MUG-BLUE', 'Mug – blue', '10.00', stock=40)
    shop.add_product('TEE', 'Tee', '20.00', stock=40)
    shop.add_product('FBA-1', 'Kept by Amazon', '5.00', stock=100,
        fulfilled_by='AMAZON')
    return shop


def grant(shop, **changes):
    return requests.post(shop.settings['lwa_url'], data={
            'grant_type': 'refresh_token', **shop.credentials, **changes})


@pytest.fixture
def api(shop):
    "A session sending a fresh access token"
    session = requests.Session()
    session.headers['x-amz-access-token'] = grant(shop).json()[
        'access_token']
    return session


def url(shop, path):
    return f'{shop.base_url}{path}'


def search(api, shop, **params):
    return api.get(url(shop, '/orders/2026-01-01/orders'), params={
            'marketplaceIds': MARKETPLACE, **params})


def rdt(api, shop, path, elements=('buyerInfo', 'shippingAddress')):
    answer = api.post(url(shop, '/tokens/2021-03-01/restrictedDataToken'),
        json={'restrictedResources': [{'method': 'GET', 'path': path,
                    'dataElements': list(elements)}]})
    assert answer.status_code == 200
    assert answer.json()['expiresIn'] == 3600
    return answer.json()['restrictedDataToken']


# -- auth -----------------------------------------------------------------

def test_login_with_amazon_grants_and_refuses(shop):
    answer = grant(shop)
    assert answer.status_code == 200
    body = answer.json()
    assert body['access_token'].startswith('Atza|')
    assert (body['token_type'], body['expires_in']) == ('bearer', 3600)
    assert body['refresh_token'] == shop.credentials['refresh_token']
    wrong_client = grant(shop, client_secret='nope')
    assert wrong_client.status_code == 401
    assert wrong_client.json()['error'] == 'invalid_client'
    wrong_grant = grant(shop, refresh_token='Atzr|nope')
    assert wrong_grant.status_code == 400
    assert wrong_grant.json() == {'error': 'invalid_grant',
        'error_description': 'The request has an invalid grant parameter '
        ': refresh_token'}
    assert shop.calls['token'] == 3
    assert shop.settings == {'seller_id': SELLER,
        'marketplace_ids': [MARKETPLACE],
        'lwa_url': f'{shop.base_url}/auth/o2/token', 'settle_seconds': 0.0,
        # a feed is polled once it is processed
        'feed_poll_seconds': round(shop.feed_processing_s * 1.2 + 0.1, 3)}
    assert shop.describe()['credentials'] == shop.credentials


def test_sp_api_calls_need_a_live_access_token(shop, api):
    path = url(shop, '/orders/2026-01-01/orders')
    params = {'marketplaceIds': MARKETPLACE, 'lastUpdatedAfter': LONG_AGO}
    for headers in ({}, {'x-amz-access-token': 'Atza|forged'}):
        denied = requests.get(path, params=params, headers=headers)
        assert denied.status_code == 403
        assert denied.json() == {'errors': [{'code': 'Unauthorized',
                    'message': 'Access to requested resource is denied.',
                    'details': ''}]}
    assert api.get(path, params=params).status_code == 200
    shop.expire_tokens()
    expired = api.get(path, params=params)
    assert expired.status_code == 403
    assert expired.json()['errors'][0]['details'] == \
        'The access token you provided has expired.'
    # A token granted afterwards lives
    fresh = grant(shop).json()['access_token']
    assert requests.get(path, params=params, headers={
            'x-amz-access-token': fresh}).status_code == 200


def test_a_restricted_data_token_opens_pii_where_it_names(shop, api):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 2)])
    pending = shop.create_order(status='pending', lines=['TEE'])
    order_id = shop.order_id(order)
    params = {'MarketplaceIds': MARKETPLACE, 'LastUpdatedAfter': LONG_AGO}
    plain = api.get(url(shop, '/orders/v0/orders'), params=params).json()
    served = {o['AmazonOrderId']: o for o in plain['payload']['Orders']}
    assert served[order_id]['ShippingAddress'] == {
        k: v for k, v in served[order_id]['ShippingAddress'].items()
        if k in ('City', 'StateOrRegion', 'PostalCode', 'CountryCode')}
    assert set(served[order_id]['BuyerInfo']) == {'BuyerEmail'}
    assert 'ShippingAddress' not in served[shop.order_id(pending)]

    token = rdt(api, shop, '/orders/v0/orders')
    with_pii = requests.get(url(shop, '/orders/v0/orders'), params=params,
        headers={'x-amz-access-token': token}).json()
    full = {o['AmazonOrderId']: o for o in with_pii['payload']['Orders']}[
        order_id]
    address = order['recipient']['deliveryAddress']
    assert full['ShippingAddress']['Name'] == address['name']
    assert full['ShippingAddress']['AddressLine1'] == address['addressLine1']
    assert full['BuyerInfo']['BuyerName'] == order['buyer']['buyerName']
    # Only where it names
    elsewhere = requests.get(url(shop, f'/orders/v0/orders/{order_id}'),
        headers={'x-amz-access-token': token})
    assert elsewhere.status_code == 403
    assert requests.get(url(shop, '/orders/2026-01-01/orders'),
        params={'marketplaceIds': MARKETPLACE, 'lastUpdatedAfter': LONG_AGO},
        headers={'x-amz-access-token': token}).status_code == 403
    one = rdt(api, shop, '/orders/v0/orders/{orderId}', ['shippingAddress'])
    single = requests.get(url(shop, f'/orders/v0/orders/{order_id}'),
        headers={'x-amz-access-token': one}).json()['payload']
    assert single['ShippingAddress']['Name'] == address['name']
    assert 'BuyerName' not in single['BuyerInfo']
    # Orders 2026-01-01: no RDT, buyer and recipient always
    new = api.get(url(shop, f'/orders/2026-01-01/orders/{order_id}')).json()
    assert new['order']['recipient'] == order['recipient']
    assert api.post(url(shop, '/tokens/2021-03-01/restrictedDataToken'),
        json={'restrictedResources': [{'method': 'GET',
                    'path': '/orders/v0/orders'}]}).status_code == 400


# -- orders ---------------------------------------------------------------

def test_search_orders_pages_with_a_next_token(shop, api):
    made = shop.generate_orders(7, seed=1, status='paid')
    ids, pages, token = [], 0, None
    while True:
        params = {'paginationToken': token} if token else {
            'lastUpdatedAfter': LONG_AGO, 'maxResultsPerPage': 3}
        answer = search(api, shop, **params)
        assert answer.status_code == 200
        body = answer.json()
        pages += 1
        ids += [o['orderId'] for o in body['orders']]
        assert 'lastUpdatedBefore' in body
        if 'pagination' not in body:
            break
        token = body['pagination']['nextToken']
    assert pages == 3 and sorted(ids) == sorted(o['orderId'] for o in made)
    times = [shop.order(i)['lastUpdatedTime'] for i in ids]
    assert times == sorted(times)
    assert search(api, shop, paginationToken='forged').status_code == 400
    # Filters: fulfilledBy, statuses
    fba = shop.create_fba_order(lines=[('FBA-1', 1)])
    assert fba['fulfillment']['fulfillmentStatus'] == 'SHIPPED'
    only = search(api, shop, lastUpdatedAfter=LONG_AGO,
        fulfilledBy='AMAZON').json()['orders']
    assert [o['orderId'] for o in only] == [fba['orderId']]
    assert search(api, shop, lastUpdatedAfter=LONG_AGO,
        fulfillmentStatuses='SHIPPED').json()['orders'] == only


@pytest.fixture
def settled(sandbox):
    shop = sandbox.add_amazon('settled', settle_s=120)
    shop.add_product('MUG-RED', 'Mug – red', '12.50', stock=5)
    return shop


def test_before_must_settle_two_minutes(settled):
    api = requests.Session()
    api.headers['x-amz-access-token'] = grant(settled).json()[
        'access_token']
    now = dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
    early = search(api, settled, lastUpdatedAfter=LONG_AGO,
        lastUpdatedBefore=now)
    assert early.status_code == 400
    assert early.json() == {'errors': [{'code': 'InvalidInput',
                'message': 'lastUpdatedBefore must be at least 2 minutes '
                'before the request time', 'details': ''}]}
    default = search(api, settled, lastUpdatedAfter=LONG_AGO).json()
    bound = dt.datetime.fromisoformat(default['lastUpdatedBefore'])
    lag = dt.datetime.now(dt.UTC) - bound
    assert dt.timedelta(seconds=119) <= lag <= dt.timedelta(seconds=125)
    for params in ({}, {'lastUpdatedAfter': LONG_AGO,
                'createdAfter': LONG_AGO},
            {'createdAfter': LONG_AGO, 'lastUpdatedBefore': LONG_AGO}):
        assert search(api, settled, **params).status_code == 400
    assert api.get(url(settled, '/orders/v0/orders'), params={
            'MarketplaceIds': MARKETPLACE, 'CreatedAfter': LONG_AGO,
            'CreatedBefore': now}).status_code == 400
    assert settled.settings['settle_seconds'] == 120


def keys(payload):
    return set(payload)


OPTIONAL_V0 = {'DefaultShipFromLocationAddress', 'FulfillmentInstruction',
    'EasyShipShipmentStatus', 'PaymentExecutionDetail'}
OPTIONAL_V0_ITEM = {'IossNumber', 'DeemedResellerCategory',
    'StoreChainStoreId'}


@pytest.mark.skipif(not AMAZON.exists(), reason="no marketplace fixtures")
def test_both_versions_have_the_published_shape(shop, api):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 3), 'TEE'])
    order_id = shop.order_id(order)
    shop.request_cancellation(order_id, reason='Found cheaper')
    v0 = json.loads((AMAZON / 'v0_getOrders_TEST_CASE_200.json'
            ).read_text())['payload']['Orders'][0]
    ours = api.get(url(shop, '/orders/v0/orders'), params={
            'MarketplaceIds': MARKETPLACE, 'LastUpdatedAfter': LONG_AGO}
        ).json()['payload']['Orders'][0]
    assert keys(v0) - OPTIONAL_V0 <= keys(ours)
    assert keys(v0['OrderTotal']) == keys(ours['OrderTotal'])
    items = json.loads((AMAZON / 'v0_getOrderItems_TEST_CASE_200.json'
            ).read_text())['payload']['OrderItems'][0]
    served = api.get(url(shop, f'/orders/v0/orders/{order_id}/orderItems')
        ).json()['payload']
    assert served['AmazonOrderId'] == order_id and served['NextToken'] is None
    mug = served['OrderItems'][0]
    assert keys(items) - OPTIONAL_V0_ITEM <= keys(mug)
    assert mug['ItemPrice'] == {'CurrencyCode': 'USD', 'Amount': '37.50'}
    assert mug['BuyerRequestedCancel'] == {'IsBuyerRequestedCancel': 'true',
        'BuyerCancelReason': 'Found cheaper'}
    published = json.loads((AMAZON / 'v2026_getOrder_sandbox_114-9876543-'
            '1234567.json').read_text())['order']
    new = api.get(url(shop, f'/orders/2026-01-01/orders/{order_id}')).json()
    assert keys(new) == {'order'}
    new = new['order']
    assert keys(published) - {'programs'} <= keys(new)
    assert keys(published['orderItems'][0]) - {
        'associatedOrderItems'} <= keys(new['orderItems'][0])
    assert keys(published['orderItems'][0]['product']) <= keys(
        new['orderItems'][0]['product'])
    assert new['orderItems'][0]['cancellation'] == {'cancellationRequest': {
            'requester': 'BUYER', 'cancelReason': 'Found cheaper'}}
    total = sum(Decimal(b['subtotal']['amount'])
        for b in new['proceeds']['breakdowns'])
    assert Decimal(new['proceeds']['grandTotal']['amount']) == total
    assert Decimal(ours['OrderTotal']['Amount']) == total


def test_orders_take_merchant_stock_not_amazons(shop):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 3)])
    assert shop.inventory('MUG-RED') == 37
    shop.create_order(raw={'fulfillment': {'fulfilledBy': 'AMAZON'}},
        lines=[('FBA-1', 2)])
    assert shop.inventory('FBA-1') is None
    assert shop.listing('FBA-1')['fulfillmentAvailability'] == [
        {'fulfillmentChannelCode': 'AMAZON_NA', 'quantity': 100}]
    cancelled = shop.cancel(shop.order_id(order))
    assert cancelled['fulfillment']['fulfillmentStatus'] == 'CANCELLED'
    assert shop.inventory('MUG-RED') == 40
    assert shop.order(shop.order_id(order)) == shop.order(
        int(order['orderId'].split('-')[1]))
    assert cancelled['lastUpdatedTime'] > order['lastUpdatedTime']


# -- rate limits and faults -------------------------------------------------

def test_each_operation_has_its_bucket(shop, api):
    shop.set_rate_limit(rate_scale=0.001)
    path = url(shop, f'/listings/2021-08-01/items/{SELLER}/MUG-RED')
    params = {'marketplaceIds': MARKETPLACE}
    answers = [api.get(path, params=params) for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [429]
    assert answers[-1].json() == {'errors': [{'code': 'QuotaExceeded',
                'message': 'You exceeded your quota for the requested '
                'resource.', 'details': ''}]}
    assert answers[-1].headers['x-amzn-RateLimit-Limit'] == '0.005'
    assert 'Retry-After' not in answers[-1].headers
    assert answers[0].headers['x-amzn-RequestId']
    # Another operation's bucket is untouched
    assert search(api, shop, lastUpdatedAfter=LONG_AGO).headers[
        'x-amzn-RateLimit-Limit'] == '0.0000056'
    assert shop.rate_limit()['operations']['getListingsItem']['level'] < 1
    shop.set_rate_limit(rate_scale=1000, levels={'getListingsItem': 10})
    assert api.get(path, params=params).status_code == 200
    shop.faults.set(throttle_next=1, retry_after_s=0.5)
    throttled = search(api, shop, lastUpdatedAfter=LONG_AGO)
    assert throttled.status_code == 429
    assert throttled.headers['x-amzn-RateLimit-Limit'] == '2'
    shop.faults.set(error_next=1, error_status=500)
    failed = search(api, shop, lastUpdatedAfter=LONG_AGO)
    assert failed.status_code == 500
    assert failed.json()['errors'][0]['code'] == 'InternalFailure'
    # LWA is another host: the knobs leave it alone
    shop.faults.set(error_next=1)
    assert grant(shop).status_code == 200
    assert shop.faults.error_next == 1


def test_duplicate_pages_repeat_the_last_order(shop, api):
    shop.generate_orders(4, seed=2, status='paid')
    shop.faults.set(duplicate_pages=True)
    first = search(api, shop, lastUpdatedAfter=LONG_AGO,
        maxResultsPerPage=2).json()
    second = search(api, shop, paginationToken=first['pagination'][
            'nextToken']).json()
    assert second['orders'][0] == first['orders'][-1]


# -- stock ------------------------------------------------------------------

def patch(api, shop, sku, quantity, channel='DEFAULT', body=None):
    return api.patch(url(shop, f'/listings/2021-08-01/items/{SELLER}/'
            f'{requests.utils.quote(sku, safe="")}'),
        params={'marketplaceIds': MARKETPLACE}, json=body or {
            'productType': 'PRODUCT', 'patches': [{'op': 'replace',
                    'path': '/attributes/fulfillment_availability',
                    'value': [{'fulfillment_channel_code': channel,
                            'quantity': quantity}]}]})


def test_a_listing_patch_is_accepted_then_applied(shop, api):
    shop.add_product('MUG/2', 'Mug, two', '9.00', stock=1)
    accepted = patch(api, shop, 'MUG/2', 12).json()
    assert accepted['status'] == 'ACCEPTED' and accepted['issues'] == []
    assert accepted['sku'] == 'MUG/2' and accepted['submissionId']
    got = api.get(url(shop, f'/listings/2021-08-01/items/{SELLER}/MUG%2F2'),
        params={'marketplaceIds': MARKETPLACE,
            'includedData': 'summaries,fulfillmentAvailability'}).json()
    assert got['fulfillmentAvailability'] == [
        {'fulfillmentChannelCode': 'DEFAULT', 'quantity': 12}]
    assert got['summaries'][0]['asin'].startswith('B0')
    assert got['summaries'][0]['itemName'] == 'Mug, two'
    unknown = patch(api, shop, 'NOPE', 1).json()
    assert unknown['status'] == 'INVALID'
    assert unknown['issues'][0]['severity'] == 'ERROR'
    fba = patch(api, shop, 'FBA-1', 1).json()
    assert fba['status'] == 'INVALID'
    assert patch(api, shop, 'TEE', -1).json()['status'] == 'INVALID'
    missing = api.get(url(shop, f'/listings/2021-08-01/items/{SELLER}/NOPE'),
        params={'marketplaceIds': MARKETPLACE})
    assert missing.status_code == 404
    assert missing.json()['errors'][0]['code'] == 'NOT_FOUND'
    shop.set_options(apply_delay_s=0.15)
    assert patch(api, shop, 'TEE', 3).json()['status'] == 'ACCEPTED'
    assert shop.inventory('TEE') == 40     # accepted is not applied ...
    time.sleep(0.2)
    assert shop.inventory('TEE') == 3      # ... yet
    assert shop.calls['patchListingsItem'] == 5


def feed_document(shop, messages, seller=SELLER):
    return json.dumps({'header': {'sellerId': seller, 'version': '2.0',
                'issueLocale': 'en_US'},
        'messages': [{'messageId': n, 'sku': sku, 'operationType': 'PATCH',
                'productType': 'PRODUCT', 'patches': [{'op': 'replace',
                        'path': '/attributes/fulfillment_availability',
                        'value': [{'fulfillment_channel_code': 'DEFAULT',
                                'quantity': quantity}]}]}
            for n, (sku, quantity) in enumerate(messages, 1)]})


def submit_feed(api, shop, body):
    document = api.post(url(shop, '/feeds/2021-06-30/documents'),
        json={'contentType': 'application/json; charset=UTF-8'})
    assert document.status_code == 201
    document = document.json()
    assert document['feedDocumentId'].startswith('amzn1.tortuga.4.na.')
    uploaded = requests.put(document['url'], data=body.encode(),
        headers={'Content-Type': 'application/json; charset=UTF-8'})
    assert uploaded.status_code == 200
    created = api.post(url(shop, '/feeds/2021-06-30/feeds'), json={
            'feedType': 'JSON_LISTINGS_FEED', 'marketplaceIds': [MARKETPLACE],
            'inputFeedDocumentId': document['feedDocumentId']})
    assert created.status_code == 202
    return created.json()['feedId']


def wait_for(api, shop, feed_id):
    seen = []
    for _ in range(40):
        feed = api.get(url(shop, f'/feeds/2021-06-30/feeds/{feed_id}')
            ).json()
        seen.append(feed['processingStatus'])
        if feed['processingStatus'] in ('DONE', 'FATAL'):
            return feed, seen
        time.sleep(0.01)
    raise AssertionError(f"feed {feed_id} still {seen[-1]}")


def report(api, shop, feed):
    document = api.get(url(shop, '/feeds/2021-06-30/documents/'
            + feed['resultFeedDocumentId'])).json()
    body = requests.get(document['url']).content
    if document.get('compressionAlgorithm') == 'GZIP':
        body = gzip.decompress(body)
    return json.loads(body)


def test_a_listings_feed_applies_what_it_accepts(shop, api):
    shop.set_options(feed_error_skus=['MUG-BLUE'], gzip_reports=True)
    feed_id = submit_feed(api, shop, feed_document(shop, [
                ('MUG-RED', 7), ('MUG-BLUE', 8), ('NOPE', 9), ('TEE', 0)]))
    feed, seen = wait_for(api, shop, feed_id)
    assert seen[0] in ('IN_QUEUE', 'IN_PROGRESS') and seen[-1] == 'DONE'
    assert feed['feedType'] == 'JSON_LISTINGS_FEED'
    assert feed['processingStartTime'] and feed['processingEndTime']
    result = report(api, shop, feed)
    assert result['header']['feedId'] == feed_id
    assert result['summary'] == {'errors': 2, 'warnings': 0,
        'messagesProcessed': 4, 'messagesAccepted': 2, 'messagesInvalid': 2}
    assert {(i['messageId'], i['sku'], i['severity'])
        for i in result['issues']} == {(2, 'MUG-BLUE', 'ERROR'),
        (3, 'NOPE', 'ERROR')}
    assert [shop.inventory(s) for s in ('MUG-RED', 'MUG-BLUE', 'TEE')] == [
        7, 40, 0]
    fatal = submit_feed(api, shop, feed_document(shop, [('TEE', 5)],
            seller='ASOMEONEELSE'))
    feed, _ = wait_for(api, shop, fatal)
    assert feed['processingStatus'] == 'FATAL'
    assert 'sellerId' in report(api, shop, feed)['issues'][0]['message']
    assert shop.inventory('TEE') == 0
    assert {shop.calls[name] for name in ('createFeedDocument',
            'uploadFeedDocument', 'createFeed')} == {2}


# -- shipments --------------------------------------------------------------

def confirm(api, shop, order, reference, items, ship_date=None,
        tracking='1Z999AA10123456784'):
    return api.post(url(shop, f"/orders/v0/orders/{shop.order_id(order)}"
            "/shipmentConfirmation"), json={'marketplaceId': MARKETPLACE,
            'packageDetail': {'packageReferenceId': reference,
                'carrierCode': 'UPS', 'carrierName': 'UPS',
                'shippingMethod': 'UPS Ground', 'trackingNumber': tracking,
                'shipDate': ship_date or '2026-01-15T18:00:00.000Z',
                'orderItems': [{'orderItemId': i, 'quantity': q}
                    for i, q in items]}})


def test_confirm_shipment_ships_edits_and_refuses(shop, api):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 2), 'TEE'])
    mug, tee = (i['orderItemId'] for i in order['orderItems'])
    first = confirm(api, shop, order, '1', [(mug, 1)])
    assert first.status_code == 204 and first.content == b''
    partly = shop.order(shop.order_id(order))
    assert partly['fulfillment']['fulfillmentStatus'] == 'PARTIALLY_SHIPPED'
    assert partly['orderItems'][0]['fulfillment'] == {
        'quantityFulfilled': 1, 'quantityUnfulfilled': 1}
    assert partly['lastUpdatedTime'] > order['lastUpdatedTime']
    # The same package again: edited, not doubled
    assert confirm(api, shop, order, '1', [(mug, 2)],
        tracking='1Z999AA10123456785').status_code == 204
    [package] = shop.shipments(shop.order_id(order))
    assert package['trackingNumber'] == '1Z999AA10123456785'
    assert package['packageItems'] == [{'orderItemId': mug, 'quantity': 2}]
    too_many = confirm(api, shop, order, '2', [(tee, 2)])
    assert too_many.status_code == 400
    assert too_many.json()['errors'][0]['code'] == 'InvalidInput'
    bad_date = confirm(api, shop, order, '2', [(tee, 1)],
        ship_date='01/15/2026')
    assert bad_date.status_code == 400
    assert bad_date.json() == {'errors': [{'code': 'Invalid Input',
                'message': 'Invalid Input'}]}
    assert confirm(api, shop, order, '2', [(tee, 1)]).status_code == 204
    done = shop.order(shop.order_id(order))
    assert done['fulfillment']['fulfillmentStatus'] == 'SHIPPED'
    assert shop.order_v0(shop.order_id(order))['OrderStatus'] == 'Shipped'
    assert [p['packageReferenceId'] for p in done['packages']] == ['1', '2']
    delivered = shop.deliver(shop.order_id(order))
    assert {p['packageStatus']['status'] for p in delivered['packages']} \
        == {'DELIVERED'}
    fba = shop.create_fba_order(status='paid', lines=[('FBA-1', 1)])
    assert confirm(api, shop, fba, '1', [(fba['orderItems'][0][
                    'orderItemId'], 1)]).status_code == 400
    gone = shop.create_order(status='cancelled', lines=['TEE'])
    assert confirm(api, shop, gone, '1', [(gone['orderItems'][0][
                    'orderItemId'], 1)]).status_code == 400


# -- refunds ----------------------------------------------------------------

def test_refunds_are_listed_by_posting_time(shop, api):
    order = shop.create_order(status='paid', lines=[('MUG-RED', 2), 'TEE'])
    order_id = shop.order_id(order)
    event = shop.refund(order_id, amount=Decimal('4.00'))
    shop.refund(order_id, lines={'TEE': 1})
    with pytest.raises(ValueError):
        shop.refund(order_id, amount='1000.00')
    assert shop.refunds(order_id)[0] == event
    path = url(shop, '/finances/v0/financialEvents')
    first = api.get(path, params={'PostedAfter': event['PostedDate'],
            'MaxResultsPerPage': 1}).json()['payload']
    [listed] = first['FinancialEvents']['RefundEventList']
    assert listed == event and listed['AmazonOrderId'] == order_id
    charge = listed['ShipmentItemAdjustmentList'][0][
        'ItemChargeAdjustmentList'][0]
    assert charge == {'ChargeType': 'Principal', 'ChargeAmount': {
            'CurrencyCode': 'USD', 'CurrencyAmount': -4.0}}
    second = api.get(path, params={'NextToken': first['NextToken']}).json()[
        'payload']
    [tee] = second['FinancialEvents']['RefundEventList']
    assert tee['ShipmentItemAdjustmentList'][0]['SellerSKU'] == 'TEE'
    assert 'NextToken' not in second
    # PostedBefore is exclusive; PostedAfter must not be ahead of now
    assert api.get(path, params={'PostedAfter': LONG_AGO,
            'PostedBefore': event['PostedDate']}).json()['payload'][
        'FinancialEvents']['RefundEventList'] == []
    later = (dt.datetime.fromisoformat(event['PostedDate'])
        + dt.timedelta(minutes=5)).strftime('%Y-%m-%dT%H:%M:%SZ')
    assert api.get(path, params={'PostedAfter': later}).status_code == 400


# -- what the agent must refuse -----------------------------------------

def test_every_malformed_kind_is_served(shop, api):
    for kind in MALFORMED:
        order = shop.create_malformed_order(kind, lines=['MUG-RED'])
        order_id = shop.order_id(order)
        new = api.get(url(shop, f'/orders/2026-01-01/orders/{order_id}'))
        old = api.get(url(shop, f'/orders/v0/orders/{order_id}/orderItems'))
        assert new.status_code == old.status_code == 200, kind
        assert new.json()['order'] == order
    served = {shop.order_id(o): o for o in shop.orders()}
    totals = [o['proceeds']['grandTotal'] for o in served.values()]
    assert sum('amount' not in t for t in totals) == 1
    assert sum('currencyCode' not in t for t in totals) == 1
    titles = [o['orderItems'][0]['product']['title'] for o in served.values()]
    assert any('\x00' in t for t in titles)


# -- control API --------------------------------------------------------

def test_control_routes_for_amazon(sandbox):
    control = f'{sandbox.url}/_sandbox/shops'
    made = requests.post(control, json={'kind': 'amazon', 'name': 'ctl-a',
            'seller_id': 'ACTL', 'settle_s': 120})
    assert made.status_code == 201
    assert made.json()['settings']['seller_id'] == 'ACTL'
    assert made.json()['options']['settle_s'] == 120
    requests.post(f'{control}/ctl-a/products', json=[{'sku': 'A',
                'title': 'A', 'price': '3.00', 'stock': 9}])
    options = requests.put(f'{control}/ctl-a/options',
        json={'feed_error_rate': 0.5, 'feed_error_skus': ['A']})
    assert options.json()['feed_error_skus'] == ['A']
    assert requests.put(f'{control}/ctl-a/options',
        json={'nonsense': 1}).status_code == 400
    assert requests.put(f'{control}/ctl-a/options',
        json={'feed_error_rate': 2}).status_code == 400
    limits = requests.post(f'{control}/ctl-a/rate-limit',
        json={'rate_scale': 10, 'levels': {'searchOrders': 0}}).json()
    assert limits['rate_scale'] == 10
    assert requests.get(f'{control}/ctl-a/rate-limit').json()[
        'operations']['getFeed']['burst'] == 15
    fba = requests.post(f'{control}/ctl-a/orders/fba', json={
            'lines': [['A', 1], ]}).json()
    assert fba['fulfillment']['fulfilledBy'] == 'AMAZON'
    paid = requests.post(f'{control}/ctl-a/orders', json={
            'lines': [['A', 2]], 'status': 'paid'}).json()
    asked = requests.post(f"{control}/ctl-a/orders/{paid['orderId']}"
        "/cancellation-request", json={'reason': 'Too slow'}).json()
    assert asked['orderItems'][0]['cancellation']['cancellationRequest'][
        'cancelReason'] == 'Too slow'
    cancelled = requests.post(
        f"{control}/ctl-a/orders/{paid['orderId']}/cancel").json()
    assert cancelled['fulfillment']['fulfillmentStatus'] == 'CANCELLED'
    got = requests.get(f"{control}/ctl-a/orders/{paid['orderId']}").json()
    assert got['order']['orderId'] == paid['orderId']
    assert requests.post(f'{control}/ctl-a/tokens/expire').status_code == 200
    assert requests.get(f'{control}/ctl-a/inventory').json() == {'A': 9}


def test_a_config_file_builds_an_amazon_shop(sandbox):
    build(sandbox, {'shops': [{'kind': 'amazon', 'name': 'cfg-a',
                'seller_id': 'ACFG', 'settle_s': 120, 'rate_scale': 10,
                'products': {'generate': 5, 'seed': 1},
                'orders': {'count': 3, 'seed': 1}}]})
    shop = sandbox.shop('cfg-a')
    assert (shop.seller_id, shop.settle_s, shop.rate_scale) == (
        'ACFG', 120, 10)
    assert len(shop.orders()) == 3
    assert 'seller ACFG' in describe(sandbox)
