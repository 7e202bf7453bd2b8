"""The lease routes (DESIGN §9) on a real trytond: a (channel, job) lease
is granted to one holder at a time, renewed by it, refused to others with
who holds it and until when, released only by its holder, and taken by
exactly one of agents racing for it."""
import datetime as dt
import threading

import pytest
import requests
from e2e_harness import staff
from test_openapi import validate

from proteus import Model

from sync_agent.erp import ErpClient, ErpError

A, B = 'host-a:101:aaaa', 'host-b:202:bbbb'


def utc(text):
    return dt.datetime.fromisoformat(text)


@pytest.fixture
def leases(shop):
    "The shop key's client; every lease it took is released afterwards"
    yield shop
    for lease in shop.leases('shop'):
        if lease['granted']:
            shop.release_lease('shop', lease['job'], lease['holder'])


def refused(call, *args):
    with pytest.raises(ErpError) as error:
        call(*args)
    return error.value


def test_granted_renewed_refused_and_released(erp, leases):
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    taken = leases.acquire_lease('shop', 'stock', A, 30)
    validate(taken, 'Lease')
    assert (taken['granted'], taken['holder'], taken['ttl'],
        taken['renewals']) == (True, A, 30, 0)
    expires = utc(taken['expires_at'])
    assert expires.tzinfo is not None  # UTC, said so
    assert before + dt.timedelta(seconds=29) <= expires <= (
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=31))

    renewed = leases.acquire_lease('shop', 'stock', A, 60)
    assert renewed['renewals'] == 1
    assert renewed['acquired_at'] == taken['acquired_at']
    assert utc(renewed['expires_at']) > expires

    # Another holder waits, told who holds it and until when.
    answer = requests.post(
        f'{erp.url}/{erp.database}/oms/v1/channels/shop/leases/stock',
        json={'holder': B, 'ttl': 30}, timeout=10,
        headers={'Authorization': f"Bearer {erp.world['shop_key']}"})
    assert answer.status_code == 409
    validate(answer.json(), 'Error')
    error = refused(leases.acquire_lease, 'shop', 'stock', B, 30)
    assert (error.status, error.code) == (409, 'lease_held')
    assert error.details['holder'] == A
    assert error.details['expires_at'] == renewed['expires_at']
    # Each job has its own lease.
    assert leases.acquire_lease('shop', 'orders', B, 30)['granted']
    # Only the holder releases it.
    error = refused(leases.release_lease, 'shop', 'stock', B)
    assert (error.status, error.details['holder']) == (409, A)
    released = leases.release_lease('shop', 'stock', A)
    validate(released, 'LeaseReleased')
    assert released['released'] is True
    assert leases.release_lease('shop', 'stock', A)['released'] is False

    # Released, it is the next holder's at once.
    taken = leases.acquire_lease('shop', 'stock', B, 30)
    assert (taken['holder'], taken['renewals']) == (B, 0)
    validate(leases._call('GET', '/channels/shop/leases'), 'LeaseList')
    assert {(lease['job'], lease['holder'], lease['granted'])
        for lease in leases.leases('shop')} == {
        ('stock', B, True), ('orders', B, True)}


def test_bad_requests_are_refused(erp, leases):
    error = refused(leases.acquire_lease, 'shop', 'dance', A, 30)
    assert (error.status, error.code) == (400, 'unknown_job')
    for ttl in (1, 601):
        error = refused(leases.acquire_lease, 'shop', 'stock', A, ttl)
        assert (error.status, error.code) == (400, 'invalid_request')
    error = refused(leases.acquire_lease, 'shop', 'stock', 'a b', 30)
    assert (error.status, error.code) == (400, 'invalid_request')
    # The key's scope: a channel it may not use, no key at all.
    other = ErpClient(erp.url, erp.database, erp.world['other_key'])
    error = refused(other.acquire_lease, 'shop', 'stock', A, 30)
    assert (error.status, error.code) == (403, 'channel_forbidden')
    answer = requests.post(
        f'{erp.url}/{erp.database}/oms/v1/channels/shop/leases/stock',
        json={'holder': A, 'ttl': 30}, timeout=10)
    assert answer.status_code == 401
    assert leases.leases('shop') == [] or not any(
        lease['granted'] for lease in leases.leases('shop'))


def test_one_of_agents_racing_gets_the_lease(leases):
    holders = [f'racer:{i}:{i:04x}' for i in range(8)]
    results, start = {}, threading.Barrier(len(holders))

    def race(holder):
        start.wait()
        try:
            results[holder] = leases.acquire_lease(
                'shop', 'reconcile', holder, 30)['holder']
        except ErpError as error:
            results[holder] = (error.status, error.details.get('holder'))

    threads = [threading.Thread(target=race, args=(h,)) for h in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [h for h, r in results.items() if r == h]
    assert len(winners) == 1, results
    assert all(r == (409, winners[0]) for h, r in results.items()
        if h not in winners), results


def test_staff_read_leases_and_an_admin_deletes_a_stuck_one(erp, leases):
    leases.acquire_lease('shop', 'fulfilments', A, 600)
    tryton = staff(erp)
    Lease = Model.get('oms.channel.lease', config=tryton)
    Channel = Model.get('oms.channel', config=tryton)
    stuck, = Lease.find([('channel.code', '=', 'shop'),
            ('job', '=', 'fulfilments')])
    assert (stuck.holder, stuck.held) == (A, True)
    shop, = Channel.find([('code', '=', 'shop')])
    assert stuck in shop.leases

    Lease.delete([stuck])  # the agent died; nobody waits ten minutes

    assert leases.acquire_lease('shop', 'fulfilments', B, 30)['holder'] == B
