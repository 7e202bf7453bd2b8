"""The agent's side of the leases (sync_agent/leases.py) against an ERP in
memory: a job runs only under its lease, one held elsewhere is skipped
(logged once, recorded as waiting), held leases are renewed in the
background and released on a clean stop; an ERP without leases is served
without them."""
import logging
import threading
import types

import pytest

from oms_contract.models import LEASE_JOBS
from sync_agent.config import AgentConfig
from sync_agent.erp import ErpError
from sync_agent.leases import Leases, holder_id
from sync_agent.scheduler import JOBS, Scheduler


class FakeErp:
    "The ERP's lease routes in memory: (channel, job) → holder"

    def __init__(self, routes=True):
        self.routes = routes
        self.holders: dict[tuple[str, str], str] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.renewed = threading.Event()

    def acquire_lease(self, channel, job, holder, ttl):
        self.calls.append(('acquire', channel, job))
        if not self.routes:
            raise ErpError(404, 'http_error', '<html>Not Found</html>')
        if channel == 'gone':
            raise ErpError(404, 'unknown_channel', "No active channel")
        other = self.holders.setdefault((channel, job), holder)
        if other != holder:
            raise ErpError(409, 'lease_held', "held", {
                    'holder': other, 'expires_at': '2030-01-01T00:00:00Z'})
        if len([c for c in self.calls if c[1:] == (channel, job)]) > 1:
            self.renewed.set()
        return {'granted': True, 'holder': holder, 'ttl': ttl}

    def release_lease(self, channel, job, holder):
        self.calls.append(('release', channel, job))
        released = self.holders.get((channel, job)) == holder
        if released:
            del self.holders[(channel, job)]
        return {'released': released}


def test_the_agents_jobs_are_the_ones_the_erp_leases():
    assert set(JOBS) == set(LEASE_JOBS)


def test_a_holder_id_names_host_process_and_a_random_part():
    first, second = holder_id('eu agent'), holder_id('eu agent')
    assert first.startswith('eu-agent:') and first != second
    assert len(first.split(':')) == 3


def test_lease_settings_default_and_bounds():
    base = {'erp': {'url': 'http://erp', 'database': 'oms'}, 'channels': []}
    assert AgentConfig.model_validate(base).leases.ttl == 60
    for ttl in (1, 601):
        with pytest.raises(ValueError):
            AgentConfig.model_validate({**base, 'leases': {'ttl': ttl}})


def test_a_lease_held_elsewhere_is_waited_for_and_logged_once(caplog):
    erp = FakeErp()
    erp.holders[('shop', 'stock')] = 'other:1:ab'
    leases = Leases(erp, 'me:2:cd', 60)
    caplog.set_level(logging.INFO, 'sync_agent.leases')

    assert leases.acquire('shop', 'orders') is None
    assert [leases.acquire('shop', 'stock') for _ in range(3)] == [
        'other:1:ab'] * 3
    assert caplog.text.count('is run by other:1:ab') == 1

    del erp.holders[('shop', 'stock')]  # its holder died: the lease lapsed
    assert leases.acquire('shop', 'stock') is None
    assert 'stock lease taken over from other:1:ab' in caplog.text
    leases.release_all()
    assert erp.holders == {}


def test_held_leases_are_renewed_until_released():
    erp = FakeErp()
    leases = Leases(erp, 'me:2:cd', 0.15)  # renewed every 0.05 s
    leases.acquire('shop', 'returns')
    assert erp.renewed.wait(5)

    leases.release_all()

    assert not leases.renewer.is_alive()
    assert erp.calls[-1] == ('release', 'shop', 'returns')
    assert erp.holders == {}


def test_an_erp_without_leases_runs_every_job_warning_once(caplog):
    erp = FakeErp(routes=False)
    leases = Leases(erp, 'me:2:cd', 60)

    assert leases.acquire('shop', 'stock') is None
    assert leases.acquire('shop', 'orders') is None

    assert len(erp.calls) == 1  # asked once
    assert caplog.text.count('no lease routes') == 1
    with pytest.raises(ErpError):
        Leases(FakeErp(), 'me', 60).acquire('gone', 'stock')


def scheduler_of(erp, waiting):
    """A scheduler of an agent holding leases as 'me:2:cd', noting the
    jobs it waits for in `waiting`"""
    state = types.SimpleNamespace(
        succeeded=lambda *args: None, failed=lambda *args: None,
        waiting=lambda *args: waiting.append(args))
    agent = types.SimpleNamespace(channels={}, state=state,
        leases=Leases(erp, 'me:2:cd', 60))
    return Scheduler(agent)


def test_the_scheduler_skips_a_job_another_agent_runs():
    ran, waiting = [], []
    erp = FakeErp()
    erp.holders[('shop', 'stock')] = 'other:1:ab'
    sync = types.SimpleNamespace(code='shop', progress=None,
        push_stock=lambda: ran.append('stock') or {'pushed': 0},
        push_fulfilments=lambda: ran.append('fulfilments') or {})
    scheduler = scheduler_of(erp, waiting)

    assert scheduler.run_job(sync, 'stock') == {'waiting_for': 'other:1:ab'}
    assert scheduler.run_job(sync, 'fulfilments') is not None
    assert ran == ['fulfilments']
    assert waiting == [('shop', 'stock', 'other:1:ab')]
    scheduler.release_leases()
    assert erp.holders == {('shop', 'stock'): 'other:1:ab'}


def test_a_lease_renewed_lately_is_not_asked_for_again():
    "A stock poll every few seconds costs no lease call each time"
    erp = FakeErp()
    leases = Leases(erp, 'me:2:cd', 60)
    assert [leases.acquire('shop', 'stock') for _ in range(5)] == [None] * 5
    assert erp.calls == [('acquire', 'shop', 'stock')]
    leases.renewed[('shop', 'stock')] -= 20  # a third of the TTL ago
    assert leases.acquire('shop', 'stock') is None
    assert len(erp.calls) == 2
    leases.release_all()


def test_stock_goes_with_the_channels_orders_lease():
    """A push reads the levels never pushed only after an orders pull of
    its own process: an agent holding the stock lease but not the orders
    one lets it go to the orders holder (seen with two agents racing at
    start, bench.cluster), and takes both once the orders lease lapses"""
    ran, waiting = [], []
    erp = FakeErp()
    erp.holders[('shop', 'orders')] = 'other:1:ab'
    sync = types.SimpleNamespace(code='shop', progress=None,
        push_stock=lambda: ran.append('stock') or {'pushed': 0})
    scheduler = scheduler_of(erp, waiting)

    assert scheduler.run_job(sync, 'stock') == {'waiting_for': 'other:1:ab'}
    assert ran == []
    assert erp.holders == {('shop', 'orders'): 'other:1:ab'}
    del erp.holders[('shop', 'orders')]  # its holder died: it lapsed
    assert scheduler.run_job(sync, 'stock') is not None
    assert ran == ['stock']
    assert erp.holders == {('shop', 'orders'): 'me:2:cd',
        ('shop', 'stock'): 'me:2:cd'}
    scheduler.release_leases()
