"""Requests, listings and sends as generators of effects, written once for the sync and the async hook.

An *operation* is what an endpoint definition returns: a :class:`Call` (one request and a reader of its
answer), a :class:`Flow` (several requests with decisions between them) or a :class:`Pager` (a listing read
page by page). Running one yields *effects*, which the hook carries out and answers:

- :class:`Pace`: claim the next slot of the rate-limit pacer and wait for it; answered with ``None``.
- :class:`Exchange`: send the request; answered with an :class:`~kapso_provider.transport.wire.Answer`, or
  with the :class:`~kapso_provider.exceptions.KapsoServerError` that says why none arrived.
- :class:`Sleep`: wait; answered with ``None``.
- :class:`Item` (listings only): one record for the caller; answered with ``None``.

Every decision (retry or raise, what a listing's next page is, whether a stored message is this send's)
happens here, in code that never touches a socket or a clock's sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kapso_provider.exceptions import KapsoAPIError, KapsoRateLimitError, KapsoServerError
from kapso_provider.transport.clock import KapsoClock
from kapso_provider.transport.policy import RetryPolicy, WarningLog, log_retry
from kapso_provider.transport.wire import Answer, Request, decode_answer

T = TypeVar("T")

#: The most records one page of a Kapso list holds (``per_page``/``limit`` maximum in the OpenAPI files).
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Pace:
    """Wait for the pacer's next slot."""


@dataclass(frozen=True)
class Exchange:
    """Send ``request``; the answer (or the failure) comes back."""

    request: Request


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class Item(Generic[T]):
    """One record of a listing, for the caller."""

    value: T


Effect = Pace | Exchange | Sleep
#: What running an operation produces: effects to carry out, ending with the operation's result.
Steps = Generator[Effect, Any, T]
#: What running a listing produces: effects and records.
ListingSteps = Generator[Effect | Item[T], Any, None]


class SendLedger:
    """The message ids this task already accounted for, so that one stored message is never claimed twice.

    A send whose answer was lost is found again by reading Kapso back; an identical message sent earlier in
    the same task (a second recipient of a bulk send with the same conversation, the same alert twice) must
    not be taken for it. Shared by every hook and thread of one task; safe between threads.
    """

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._ids: set[str] = set()

    def claim(self, message_id: str | None) -> bool:
        """Record ``message_id`` as accounted for; ``False`` when it already was (or is ``None``)."""
        if message_id is None:
            return False
        with self._lock:
            if message_id in self._ids:
                return False
            self._ids.add(message_id)
            return True

    def __contains__(self, message_id: object) -> bool:
        with self._lock:
            return message_id in self._ids

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)


@dataclass
class FlowContext:
    """What every operation may use while it runs: one per hook (and shared by a bulk send's threads).

    :param policy: the retry policy.
    :param log: where retries, reconciliation and pacing are told.
    :param clock: the offset between this machine's clock and Kapso's, learned from answers.
    :param ledger: message ids this task already accounted for.
    :param not_found_hint: a sentence added to every 404 (e.g. the base URL lacks ``/api/v1``).
    :param phone_number_id: the connection's default WhatsApp phone number id (current API).
    :param business_account_id: the connection's WhatsApp Business Account id (current API).
    """

    policy: RetryPolicy
    log: WarningLog
    clock: KapsoClock = field(default_factory=KapsoClock)
    ledger: SendLedger = field(default_factory=SendLedger)
    not_found_hint: str = ""
    phone_number_id: str | None = None
    business_account_id: str | None = None


class Operation(Generic[T]):
    """Something an endpoint definition returns and a hook runs to a result of type ``T``."""

    def steps(self, context: FlowContext) -> Steps[T]:
        raise NotImplementedError


@dataclass(frozen=True)
class Call(Operation[T]):
    """One request and the function that turns its decoded JSON into the result.

    :param request: the request.
    :param read: turns the decoded JSON into the result, raising
        :class:`~kapso_provider.exceptions.KapsoServerError` when it is not the documented shape.
    """

    request: Request
    read: Callable[[Any, Request], T]

    def steps(self, context: FlowContext) -> Steps[T]:
        body = yield from request(context, self.request)
        return self.read(body, self.request)


@dataclass(frozen=True)
class Flow(Operation[T]):
    """Several requests with decisions between them, as a generator function of the context."""

    run: Callable[[FlowContext], Steps[T]]

    def steps(self, context: FlowContext) -> Steps[T]:
        return self.run(context)


@dataclass(frozen=True)
class Pager(Generic[T]):
    """A listing, read lazily: the hook hands records to the caller while it fetches the next page."""

    run: Callable[[FlowContext], ListingSteps[T]]

    def steps(self, context: FlowContext) -> ListingSteps[T]:
        return self.run(context)


def request(context: FlowContext, req: Request) -> Steps[Any]:
    """Send ``req``, riding out rate limits and failures the request allows, and return its decoded JSON.

    A 429 waits for ``Retry-After`` (up to the policy's ``max_retry_after``); a failure that never reached
    Kapso is retried after a backoff; one after which Kapso may have acted only when ``req.may_repeat``.

    :raises KapsoAPIError: a subclass matching the status once retries are spent or not allowed.
    """
    policy = context.policy
    attempt = 0
    while True:
        attempt += 1
        yield Pace()
        context.log.debug("Kapso API %s %s", req.method, req.path)
        outcome = yield Exchange(req)
        try:
            if isinstance(outcome, KapsoAPIError):
                raise outcome
            answer: Answer = outcome
            context.clock.observe(answer.headers.get("Date"), sent_at=answer.sent_at, received_at=answer.received_at)
            return decode_answer(answer, req, not_found_hint=context.not_found_hint)
        except (KapsoRateLimitError, KapsoServerError) as exc:
            wait = policy.retry_wait(exc, attempt=attempt, retry_ambiguous=req.may_repeat)
            if wait is None:
                raise
            log_retry(context.log, exc, method=req.method, path=req.path, wait=wait, attempt=attempt, policy=policy)
        yield Sleep(wait)


# -- answer readers ----------------------------------------------------------------------------------------


def data_object(body: Any, req: Request) -> dict[str, Any]:
    """The ``data`` object of a ``{"data": {...}}`` answer."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise KapsoServerError(status=None, method=req.method, path=req.path, error_text="answer has no 'data' object")
    data: dict[str, Any] = body["data"]
    return data


def whole_object(body: Any, req: Request) -> dict[str, Any]:
    """An answer that is a JSON object as a whole (summaries that carry no ``data`` envelope)."""
    if not isinstance(body, dict):
        raise KapsoServerError(status=None, method=req.method, path=req.path, error_text="answer is not an object")
    return body


def data_list(body: Any, req: Request) -> list[dict[str, Any]]:
    """The ``data`` list of a list answer."""
    records = body.get("data") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise KapsoServerError(status=None, method=req.method, path=req.path, error_text="answer has no 'data' list")
    return records


def nothing(body: Any, req: Request) -> None:
    """For answers whose body means nothing (204 No Content)."""
    return


# -- listings ----------------------------------------------------------------------------------------------


def check_page_size(name: str, value: int, maximum: int = MAX_PAGE_SIZE) -> int:
    """``value`` when it is a page size from 1 to ``maximum``, else the argument error naming ``name``."""
    from kapso_provider.exceptions import KapsoArgumentError

    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise KapsoArgumentError(f"{name}: {value!r} is outside 1..{maximum}")
    return value


def numbered_pages(path: str, params: Mapping[str, Any] | None = None, *, per_page: int = MAX_PAGE_SIZE) -> Pager[Any]:
    """Every record of a ``page``/``per_page`` listing, stopping at ``meta.total_pages`` or a short page."""
    check_page_size("per_page", per_page)

    def run(context: FlowContext) -> ListingSteps[Any]:
        page = 1
        while True:
            req = Request("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
            body = yield from request(context, req)
            records = data_list(body, req)
            for record in records:
                yield Item(record)
            total_pages = (body.get("meta") or {}).get("total_pages")
            # Without meta, a short page is the last one.
            last = page >= total_pages if total_pages is not None else len(records) < per_page
            if last or not records:
                return
            page += 1

    return Pager(run)


def scan(
    context: FlowContext, pager: Pager[T], stop_at: Callable[[T], bool], *, limit: int | None = None
) -> Steps[T | None]:
    """Read ``pager`` inside another operation until ``stop_at`` accepts a record, which is returned.

    :param stop_at: called with each record in turn; ``True`` ends the reading.
    :param limit: the most records read; ``None`` for all of them.
    :returns: the record ``stop_at`` accepted, or ``None`` at the listing's end or after ``limit`` records.
    """
    steps = pager.steps(context)
    answer: Any = None
    read = 0
    try:
        while limit is None or read < limit:
            try:
                step = steps.send(answer)
            except StopIteration:
                return None
            if isinstance(step, Item):
                read += 1
                answer = None
                if stop_at(step.value):
                    return step.value
            else:
                answer = yield step
    finally:
        steps.close()
    return None


def take(context: FlowContext, pager: Pager[T], *, limit: int | None = None) -> ListingSteps[T]:
    """The first ``limit`` records of ``pager`` (all with ``None``), as part of another listing."""
    steps = pager.steps(context)
    answer: Any = None
    taken = 0
    try:
        while limit is None or taken < limit:
            try:
                step = steps.send(answer)
            except StopIteration:
                return
            taken += isinstance(step, Item)
            answer = yield step
    finally:
        steps.close()


def collect(context: FlowContext, pager: Pager[T], *, limit: int | None = None) -> Steps[list[T]]:
    """Every record of ``pager`` (at most ``limit``), read inside another operation."""
    records: list[T] = []

    def keep(record: T) -> bool:
        records.append(record)
        return False

    yield from scan(context, pager, keep, limit=limit)
    return records
