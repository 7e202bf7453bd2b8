"""Leases: several agents share the channels (DESIGN §9).

Before a job runs for a channel, the agent takes the (channel, job) lease
in the ERP (or renews it: the same holder takes it again). An agent
finding it held by another skips that job and tries again when the job is
next due; when the holder dies without releasing it, the lease lapses
after its time to live and the next try takes it. A thread renews every
lease held every third of the time to live (and a run renews its job's
when that is due), so a long backfill, or a job waiting behind it in its
thread, keeps its lease. (The price: an agent alive but stuck keeps its
jobs.) A clean stop releases every lease held, so that a restarted agent
(a new holder) does not wait.

An ERP without the lease routes (404) is served without leases, with one
warning: one agent per channel, as before."""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time

import requests

from .erp import ErpClient, ErpError

logger = logging.getLogger(__name__)


def holder_id(name: str | None = None) -> str:
    """This process's id in the ERP's leases: a name (the host's by
    default), the process id and a random part, unique per process"""
    name = name or socket.gethostname() or 'agent'
    name = ''.join(c if '!' <= c <= '~' else '-' for c in name[:100])
    return f'{name}:{os.getpid()}:{secrets.token_hex(4)}'


class Leases:
    def __init__(self, erp: ErpClient, holder: str, ttl: int):
        self.erp, self.holder, self.ttl = erp, holder, ttl
        self.enabled = True
        self.lock = threading.Lock()
        # (channel, job) → what the ERP last answered, for those held
        self.held: dict[tuple[str, str], dict] = {}
        # (channel, job) → the other holder last met (logged once each)
        self.waiting: dict[tuple[str, str], str] = {}
        self.renewed: dict[tuple[str, str], float] = {}  # monotonic
        self.renewer: threading.Thread | None = None
        self.stopping = threading.Event()

    def acquire(self, code: str, job: str, renew: bool = False
            ) -> str | None:
        """Take or renew the lease; None when this agent may run the job
        (held, or no leases in this ERP), else the holder it waits for.
        A lease renewed within a third of its time to live is not asked
        for again unless renew: the stock poll stays one ERP call. Other
        ERP failures raise: the job could not run anyway."""
        if not self.enabled:
            return None
        key = (code, job)
        asked = time.monotonic()
        with self.lock:
            if not renew and key in self.held and (
                    asked - self.renewed[key] < self.ttl / 3):
                return None
        try:
            lease = self.erp.acquire_lease(code, job, self.holder, self.ttl)
        except ErpError as error:
            if error.status == 409:
                return self._wait(key, error.details)
            if error.status == 404 and error.code != 'unknown_channel':
                self._disable(error)
                return None
            raise
        with self.lock:
            # Held at least until `asked` + ttl: the ERP's now came later.
            self.held[key], self.renewed[key] = lease, asked
            before = self.waiting.pop(key, None)
        self._start_renewing()
        if before:
            logger.info("%s: %s lease taken over from %s", code, job,
                before, extra={'channel': code, 'job': job})
        return None

    def _wait(self, key: tuple[str, str], details: dict) -> str:
        code, job = key
        other = str(details.get('holder') or 'another agent')
        with self.lock:
            self.held.pop(key, None)
            new = self.waiting.get(key) != other
            self.waiting[key] = other
        if new:
            logger.info("%s: %s is run by %s (lease until %s); waiting",
                code, job, other, details.get('expires_at'),
                extra={'channel': code, 'job': job, 'holder': other})
        return other

    def _disable(self, error: ErpError) -> None:
        with self.lock:
            if not self.enabled:
                return
            self.enabled = False
        logger.warning(
            "the ERP has no lease routes (%s): running without leases; "
            "run one agent per channel", error)

    def _start_renewing(self) -> None:
        "The renewing thread, from the first lease taken to release_all"
        with self.lock:
            if self.renewer is not None:
                return
            self.renewer = threading.Thread(target=self._renew,
                args=(self.stopping,), name='oms-sync leases', daemon=True)
        self.renewer.start()

    def _renew(self, stopping: threading.Event) -> None:
        """Every third of the time to live, renew every lease held: a live
        agent keeps its jobs between their runs, however long another
        job holds up its thread, and a dead one loses them."""
        while not stopping.wait(self.ttl / 3):
            with self.lock:
                held = list(self.held)
            for code, job in held:
                try:
                    other = self.acquire(code, job, renew=True)
                except (ErpError, requests.RequestException) as error:
                    logger.warning("%s: %s lease not renewed: %s", code,
                        job, error, extra={'channel': code, 'job': job})
                    continue
                if other is not None:
                    # Only when this agent stalled past the lease's time.
                    logger.warning("%s: %s lease lost to %s", code, job,
                        other, extra={'channel': code, 'job': job})

    def release(self, code: str, job: str) -> None:
        "Let one lease this agent holds lapse now, for another to take"
        with self.lock:
            held = self.held.pop((code, job), None)
            self.renewed.pop((code, job), None)
        if held is not None:
            self.erp.release_lease(code, job, self.holder)

    def release_all(self) -> None:
        "Release every lease held, on a clean stop; failures are logged"
        self.stopping.set()
        if self.renewer is not None:
            self.renewer.join()
        with self.lock:
            held, self.held = list(self.held), {}
        for code, job in held:
            try:
                self.erp.release_lease(code, job, self.holder)
            except (ErpError, requests.RequestException) as error:
                logger.warning("%s: %s lease not released: %s", code, job,
                    error, extra={'channel': code, 'job': job})
        if held:
            logger.info("released %d lease(s)", len(held))
