"""Sending a message exactly once: the send, and the search for it in Kapso when its answer was lost.

Kapso takes no idempotency key. A send whose answer never came (5xx, timeout, dropped connection) may have
been stored, so before it is repeated the sender's outbound messages are read back, and a stored message
that is provably this send's is returned instead. *Provably* means all of:

- it is outbound, of the same kind and with the same content (the generation's :attr:`SendPlan.matches`);
- Kapso stored it at or after the moment this send began, placed on Kapso's clock with the offset learned
  from the ``Date`` header of Kapso's answers (:class:`~kapso_provider.transport.clock.KapsoClock`), less the
  policy's ``clock_skew`` of a few seconds;
- no other send of this task accounted for it already (the :class:`~kapso_provider.transport.flows.SendLedger`).

An identical message to the same recipient stored within ``clock_skew`` seconds before this send began can
still be taken for it; ``docs/reliability.md`` states that window.

Paths, bodies and the listing that finds candidates are the API generation's; this module decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoAPIError
from kapso_provider.transport.flows import FlowContext, Pager, Sleep, Steps, request, scan

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kapso_provider.transport.wire import Request

# Without any Date header from Kapso (a proxy that strips it), the offset is unknown: fall back to the margin
# the provider used before it measured the offset, and say so.
UNMEASURED_CLOCK_MARGIN = 120.0


@dataclass(frozen=True)
class SendPlan:
    """One checked send, as an API generation describes it.

    :param request: the request that sends the message.
    :param read: turns the decoded answer into the message record returned to the caller.
    :param matches: whether a listed record is an outbound message of this kind and content.
    :param candidates: the recipient's messages, where a lost send would be stored.
    :param created_at: Kapso's time of a listed record.
    :param record_id: the id a listed or returned record is accounted for under.
    :param describe: what is sent to whom, for log lines (never the text itself).
    :param busy: whether a refusal says another send to this recipient is still under way and this one may
        go shortly (the current API's in-flight 409): waited out and tried again, never a definite failure.
    """

    request: Request
    read: Callable[[Any, Request], dict[str, Any]]
    matches: Callable[[Mapping[str, Any]], bool]
    candidates: Callable[[], Pager[dict[str, Any]]]
    created_at: Callable[[Mapping[str, Any]], datetime | None]
    record_id: Callable[[Mapping[str, Any]], str | None]
    describe: str
    busy: Callable[[KapsoAPIError], bool] | None = None


def window_start(context: FlowContext, since: datetime) -> datetime:
    """The earliest Kapso time a message sent at or after this machine's ``since`` can carry."""
    margin = timedelta(seconds=context.policy.clock_skew)
    on_kapso = context.clock.earliest_kapso_time(since)
    if on_kapso is None:
        context.log.warning(
            "Kapso's answers carry no Date header, so its clock is unknown: looking %.0f s further back",
            UNMEASURED_CLOCK_MARGIN,
        )
        return since.astimezone(UTC) - timedelta(seconds=UNMEASURED_CLOCK_MARGIN) - margin
    return on_kapso - margin


def find_sent(context: FlowContext, plan: SendPlan, *, since: datetime) -> Steps[dict[str, Any] | None]:
    """The stored record of ``plan``'s message sent at or after ``since``, claimed for this task, or ``None``.

    Reads at most the policy's ``reconcile_max_messages`` candidates, in whatever order Kapso lists them.
    """
    if since.tzinfo is None:
        raise ValueError("since: must be timezone-aware")
    # The window is placed once the first page arrived: its Date header tells Kapso's clock.
    start: list[datetime] = []

    def is_this_send(record: dict[str, Any]) -> bool:
        if not start:
            start.append(window_start(context, since))
        created_at = plan.created_at(record)
        return (
            plan.matches(record)
            and created_at is not None
            and created_at >= start[0]
            and context.ledger.claim(plan.record_id(record))
        )

    return (yield from scan(context, plan.candidates(), is_this_send, limit=context.policy.reconcile_max_messages))


def send(context: FlowContext, plan: SendPlan) -> Steps[dict[str, Any]]:
    """Send ``plan``'s message once: repeat it only after reading Kapso back and not finding it there."""
    policy = context.policy
    started_at = datetime.now(UTC)
    ambiguous = False
    for attempt in range(1, policy.max_attempts + 1):
        try:
            # request() itself retries rate limits and failures that never reached Kapso; a failure after
            # which Kapso may have stored the message comes back here instead.
            body = yield from request(context, plan.request)
        except KapsoAPIError as exc:
            busy = plan.busy is not None and plan.busy(exc) and attempt < policy.max_attempts
            if busy:
                wait = policy.backoff(attempt)
                context.log.warning(
                    "%s; sending again in %.1f s (attempt %d of %d)", exc, wait, attempt + 1, policy.max_attempts
                )
                yield Sleep(wait)
                if not ambiguous:
                    continue  # every earlier attempt was refused, so nothing of this send can be stored
                # The send still in flight may be an earlier attempt of this one whose answer was lost.
                context.log.warning("Reading %s back before sending again", plan.describe)
            elif not policy.must_reconcile(exc, attempt=attempt):
                raise
            else:
                ambiguous = True
                context.log.warning("%s; reading %s back before deciding to send again", exc, plan.describe)
        else:
            record = plan.read(body, plan.request)
            context.ledger.claim(plan.record_id(record))
            return record
        found = yield from find_sent(context, plan, since=started_at)
        if found is not None:
            context.log.info("Kapso had stored the message as %s; not sending it again", plan.record_id(found))
            return found
        if busy:
            continue  # waited already
        wait = policy.backoff(attempt)
        context.log.warning(
            "The message is not in Kapso: sending again in %.1f s (attempt %d of %d)",
            wait,
            attempt + 1,
            policy.max_attempts,
        )
        yield Sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
