"""The protocol of the ERP's outboxes, written once: the agent fetches
what the ERP has pending (fulfilments, refunds), pushes each to the
channel, and acknowledges each to the ERP, pushed with the channel's id or
failed with its reason (the ERP lists a failed one again after a
back-off). One item's failure stops no other; a channel out of reach
(retries exhausted, credentials refused) ends the run once what was done
is acknowledged."""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from oms_contract.models import TEXT_LENGTH, storable

from ..channels.transport import AuthError, ChannelError, GaveUp
from ..mapping import MappingError
from .flow import Flow

logger = logging.getLogger(__name__)


class Result(Protocol):
    "What the channel said about one item (FulfilmentResult, RefundResult)"
    external_id: str | None
    error: str | None
    already: bool

    @property
    def ok(self) -> bool: ...


Item = TypeVar('Item', bound=BaseModel)
R = TypeVar('R', bound=Result)


@dataclasses.dataclass(frozen=True)
class Outbox(Generic[Item, R]):
    "One of the ERP's outboxes, as the agent drains it"
    what: str  # how logs and messages name an item: 'fulfilment'
    item: type[Item]  # the ERP's item (its wire schema)
    result: Callable[..., R]  # the result of a failure: result(error=…)
    pushed: Callable[[Item, R], Any]  # the acknowledgement of a push
    failed: Callable[[int, str, R | None], Any]  # … of a failure
    name: Callable[[Item], Any]  # the item, as logs name it


@dataclasses.dataclass
class Drained:
    "What one run of an outbox did, for the ERP and the summary"
    pushed: list[Any] = dataclasses.field(default_factory=list)
    failed: list[Any] = dataclasses.field(default_factory=list)
    already: int = 0  # found on the channel already: nothing written


class OutboxFlow(Flow):

    def drain(self, outbox: Outbox[Item, R], listed: list[Any],
            push: Callable[[Item], R],
            acknowledge: Callable[[str, list, list], dict[str, Any]]
            ) -> tuple[Drained, dict[str, Any] | None]:
        """Push each item listed to the channel, then acknowledge them all
        to the ERP (None: nothing to acknowledge). A channel out of reach
        is raised once what was done is acknowledged."""
        drained = Drained()
        out_of_reach: ChannelError | None = None
        for raw in listed:
            try:
                item = outbox.item.model_validate(raw)
            except ValidationError as error:
                item_id, reason = self._unreadable(outbox.what, raw, error)
                if item_id is not None:
                    drained.failed.append(outbox.failed(item_id, reason, None))
                continue
            name = f'{outbox.what} {outbox.name(item)}'
            result, out_of_reach = self._to_channel(
                name, lambda error: outbox.result(error=error), push, item)
            if result.ok:
                drained.pushed.append(outbox.pushed(item, result))
                drained.already += result.already
            else:
                drained.failed.append(outbox.failed(
                        item.id, storable(result.error, TEXT_LENGTH), result))
                logger.warning(
                    "%s: %s of order %s refused: %s", self.code, name,
                    item.order.number or item.order.external_id,
                    result.error, extra={'channel': self.code})
            if out_of_reach is not None:
                break
        if not drained.pushed and not drained.failed:
            return drained, None
        ack = acknowledge(self.code, drained.pushed, drained.failed)
        if out_of_reach is not None:
            raise out_of_reach
        return drained, ack

    def _to_channel(self, what: str, failure: Callable[[str], R],
            write: Callable[..., R], *args: Any
            ) -> tuple[R, ChannelError | None]:
        """One write to the channel, whatever goes wrong made a failed
        result (one item's failure stops no other). A channel out of reach
        (retries exhausted, credentials refused) is returned as well: the
        run acknowledges what was done, then ends."""
        try:
            return write(*args), None
        except (GaveUp, AuthError) as error:
            return failure(str(error)), error
        except (MappingError, ChannelError) as error:
            return failure(str(error)), None
        except Exception as error:  # noqa: BLE001 - the others go on
            logger.exception("%s: %s: unexpected error", self.code, what,
                extra={'channel': self.code})
            return failure(f"unexpected error in the agent: {error!r}"), None
