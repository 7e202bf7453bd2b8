"""What the ERP keeps for the agent to push to a channel (a shipment's
fulfilment, a return's refund), and how each push is acknowledged,
written once.

An item is due while it waits, or once it failed and its next attempt has
come; the agent lists the due ones, pushes each, and acknowledges it done
(with the channel's id) or refused (with the channel's reason: tried again
1, 2, 4 … minutes later, at most an hour apart; or left to staff when the
channel cannot take it at all). An acknowledgement only changes an item
still open: one done meanwhile (by hand, or by an earlier push) stays so."""
import dataclasses
import datetime as dt

from .backoff import backoff

RETRY_MAX = dt.timedelta(hours=1)
FAILED = 'failed'


def retry_delay(attempts):
    "The wait after the attempts-th failed push: 1, 2, 4 ... minutes, ≤ 1 h"
    return backoff(attempts, RETRY_MAX)


@dataclasses.dataclass(frozen=True)
class OutboxFields:
    "The fields (and states) of a model playing each part of the protocol"
    state: str
    waiting: str  # the state of an item to push
    done: str  # ... of one the channel took, or staff did by hand
    attempts: str
    next_attempt: str
    error: str
    external_id: str
    manual: str | None = None  # ... of one the channel cannot take


class ChannelOutbox:
    "A model the agent drains, per channel (see the module's text)"
    __slots__ = ()
    _outbox: OutboxFields

    @classmethod
    def outbox_due(cls, channel):
        "The domain of the channel's items to push now"
        f = cls._outbox
        return [
            ('channel', '=', channel.id),
            ['OR',
                (f.state, '=', f.waiting),
                [(f.state, '=', FAILED),
                    (f.next_attempt, '<=', dt.datetime.now())],
                ],
            ]

    @classmethod
    def outbox_pending(cls, channel):
        "How many of the channel's items are to push now"
        return cls.search_count(cls.outbox_due(channel))

    @property
    def outbox_open(self):
        "Whether an acknowledgement still applies to it"
        f = self._outbox
        return getattr(self, f.state) in {f.waiting, FAILED}

    def outbox_pushed(self, external_id):
        "The values of the item once the channel took it"
        f = self._outbox
        return {
            f.state: f.done,
            f.external_id: external_id,
            f.error: None,
            f.next_attempt: None,
            }

    def outbox_refused(self, error, manual=False):
        """The values of the item once the channel refused it: tried again
        later, or (manual) left to staff"""
        f = self._outbox
        attempts = getattr(self, f.attempts) + 1
        return {
            f.state: f.manual if manual else FAILED,
            f.error: error,
            f.attempts: attempts,
            f.next_attempt: (None if manual
                else dt.datetime.now() + retry_delay(attempts)),
            }

    def outbox_refusal_is_news(self, error, manual=False):
        """Whether a refusal is worth logging: once per run of the same
        error, not at every retry"""
        f = self._outbox
        return (manual or getattr(self, f.state) != FAILED
            or getattr(self, f.error) != error)
