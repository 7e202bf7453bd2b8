"""The agent's loop: per channel, pull orders, push stock, push
fulfilments (shipments with tracking) and sync returns (the ERP's refunds
out, the channel's refunds and returns in) at their own intervals
(`schedule`), plus a periodic stock reconciliation (read what each channel
shows, report drift, repair it), in two threads: one pulls every channel's
orders and returns, one pushes every channel's stock and fulfilments. A
job that fails is logged and recorded; the other jobs and channels go on.
An import that changed orders wakes the stock thread, which pushes every
channel at once, so a sale on one channel lowers the others within
seconds: no push waits behind an import.

Imports stay in one thread on purpose: the ERP serialises imports that
reserve from the same warehouses (Sale.oms_lock_stock), so parallel
imports would only queue there, and measured slower (bench.stock).

With several agents on the same channels, each job first takes its
channel's lease in the ERP (leases.py): a job another agent runs is
skipped, not failed, and taken over when that agent's lease lapses. A
channel's stock job runs only where its orders job does (_with_orders)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import schedule

from .agent import Agent
from .channels.transport import ChannelError
from .erp import ErpError
from .flows import ChannelSync
from .leases import Leases

logger = logging.getLogger(__name__)

JOBS: dict[str, Callable[[ChannelSync], dict[str, Any]]] = {
    'orders': lambda sync: sync.pull_orders(),
    'stock': lambda sync: sync.push_stock(),
    'reconcile': lambda sync: reconcile(sync),
    'fulfilments': lambda sync: sync.push_fulfilments(),
    'returns': lambda sync: sync.sync_returns(),
    }
# What `run` starts with, before each job goes on at its interval.
FIRST_JOBS = ['orders', 'stock', 'fulfilments', 'returns']


def reconcile(sync: ChannelSync, pull: bool = True) -> dict[str, Any]:
    """Pull the channel's orders, then reconcile its stock: a sale the
    channel made and the ERP has not imported yet would read as drift.
    pull False: another agent holds the orders job (and pulls)."""
    try:
        if pull:
            sync.pull_orders()
    except Exception as error:  # noqa: BLE001 - the reconciliation goes on
        logger.warning("%s: orders before the reconciliation failed: %s",
            sync.code, error, extra={'channel': sync.code})
    return sync.reconcile()


class Scheduler:
    def __init__(self, agent: Agent, wake_stock: bool = True):
        self.agent = agent
        # None: no leases (an agent built without them, as in unit tests)
        self.leases: Leases | None = getattr(agent, 'leases', None)
        self.wakes_stock = wake_stock
        self.stopping = threading.Event()
        for sync in agent.channels.values():
            sync.progress = sync.progress or _log_progress(sync.code)
        syncs = list(agent.channels.values())
        # Returns pull like orders: the same thread, so that a refund's
        # order is imported before the refund reaches the ERP.
        self.orders_loop = JobLoop(self, syncs, ['orders', 'returns'])
        self.stock_loop = JobLoop(
            self, syncs, ['stock', 'reconcile', 'fulfilments'])
        self.loops = [self.orders_loop, self.stock_loop]

    def run_job(self, sync: ChannelSync, job: str) -> dict[str, Any] | None:
        """Run one job under its lease; never raises, so no failure stops
        the loop. A job another agent holds is skipped: {"waiting_for"}."""
        started = time.monotonic()
        try:
            other = self.waiting_for(sync.code, job)
            if other is None and job == 'stock' and self.leases is not None:
                other = self._with_orders(sync.code)
            if other is not None:
                self.agent.state.waiting(sync.code, job, other)
                return {'waiting_for': other}
            if job == 'reconcile' and self.leases is not None:
                # Its pull is the orders job's: only under that lease.
                summary = reconcile(sync,
                    pull=self.waiting_for(sync.code, 'orders') is None)
            else:
                summary = JOBS[job](sync)
        except Exception as error:  # noqa: BLE001 - recorded, loop goes on
            logger.error(
                "%s: %s failed: %s", sync.code, job, error,
                exc_info=not _expected(error),
                extra={'channel': sync.code, 'job': job})
            self.agent.state.failed(sync.code, job, str(error))
            return None
        summary['seconds'] = round(time.monotonic() - started, 3)
        self.agent.state.succeeded(sync.code, job, summary)
        logger.info("%s: %s done: %s", sync.code, job, _counts(summary),
            extra={'channel': sync.code, 'job': job, 'summary': summary})
        if self.wakes_stock and job == 'orders' and (summary.get('created')
                or summary.get('updated')):
            self.wake_stock()
        return summary

    def waiting_for(self, code: str, job: str) -> str | None:
        """Take (or renew) the job's lease: None when this agent runs it,
        else the agent holding it"""
        if self.leases is None:
            return None
        return self.leases.acquire(code, job)

    def _with_orders(self, code: str) -> str | None:
        """The stock job runs where the channel's orders are pulled: a
        push reads the levels never pushed (and repairs stale ones) only
        after a complete orders pull of this process (StockFlow.
        _after_pull), so an agent holding the stock lease but not the
        orders one would leave them waiting for ever. Such an agent lets
        its stock lease go to the orders holder: None when this agent
        holds both, else the agent it waits for."""
        other = self.waiting_for(code, 'orders')
        if other is not None:
            self.leases.release(code, 'stock')
        return other

    def release_leases(self) -> None:
        if self.leases is not None:
            self.leases.release_all()

    def wake_stock(self) -> None:
        """Push stock on every channel now (orders changed reservations):
        in the stock thread when it runs, else here"""
        if self.stock_loop.is_alive():
            self.stock_loop.stock_wanted.set()
            return
        for sync in self.agent.channels.values():
            self.run_job(sync, 'stock')

    def run_once(self, jobs: list[str], codes: list[str] | None = None
            ) -> bool:
        "Each job once for the channels given; True when all succeeded"
        ok = True
        for sync in self.agent.channels.values():
            if codes and sync.code not in codes:
                continue
            for job in jobs:
                ok &= self.run_job(sync, job) is not None
        return ok

    def run(self) -> None:
        """Run every job now, then each channel's on their schedules in
        their threads, until stop() is called"""
        try:
            self.run_once(FIRST_JOBS)
            for loop in self.loops:
                loop.start()
            self.stopping.wait()
            for loop in self.loops:
                loop.join()
        finally:
            # A restarted agent is another holder: it would wait them out.
            self.release_leases()

    def stop(self) -> None:
        self.stopping.set()
        for loop in self.loops:
            loop.stock_wanted.set()  # no wait for the interval's end


class JobLoop(threading.Thread):
    """Some jobs of the channels on their intervals; a loop running the
    stock job also runs it for every channel whenever an import asks
    (stock_wanted)"""

    def __init__(self, scheduler: Scheduler, syncs: list[ChannelSync],
            jobs: list[str]):
        super().__init__(name=f"oms-sync {'+'.join(jobs)}", daemon=True)
        self.scheduler, self.syncs = scheduler, syncs
        self.stock_wanted = threading.Event()
        self.schedule = schedule.Scheduler()
        for sync in syncs:
            intervals = sync.config.intervals
            for job in jobs:
                self.schedule.every(getattr(intervals, job)).seconds.do(
                    scheduler.run_job, sync, job)

    def run(self) -> None:
        stopping = self.scheduler.stopping
        while not stopping.is_set():
            if self.stock_wanted.is_set():
                self.stock_wanted.clear()
                for sync in self.syncs:
                    self.scheduler.run_job(sync, 'stock')
            self.schedule.run_pending()
            idle = self.schedule.idle_seconds
            self.stock_wanted.wait(min(1.0, max(0.05, idle or 1.0)))


def _counts(summary: dict[str, Any]) -> str:
    return ', '.join(f'{k} {v}' for k, v in summary.items())


def _log_progress(code: str) -> Callable[[int, int | None], None]:
    def progress(read: int, total: int | None) -> None:
        logger.info("%s: %d%s orders read", code, read,
            f"/{total}" if total else '',
            extra={'channel': code, 'read': read, 'total': total})
    return progress


def _expected(error: Exception) -> bool:
    "Failures the log explains by their message: no traceback needed"
    return isinstance(error, (ChannelError, ErpError,
            requests.ConnectionError))
