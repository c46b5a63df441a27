"""Sending one message design to many recipients: concurrency, exactly once per person, and the summary.

:class:`~kapso_provider.operators.kapso.KapsoBulkSendMessageOperator` is the Airflow face of this module; it
calls :func:`send_bulk` when a task runs. The input side (recipients, placeholders, checks, merging one person
listed twice) is :mod:`kapso_provider.services.bulk_input`. At most a few times ``max_concurrency`` sends are
in flight, and the summary keeps counts, the first failures and merges and, for small runs, each message id.

Every thread sends through the task's one :class:`~kapso_provider.hooks.kapso.KapsoHook`: it is thread-safe
(one HTTP session per thread) and holds the one pacer, the one clock and the one ledger of message ids this
task accounted for, so an id a lookup returned is never returned for a second recipient.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoAPIError, KapsoArgumentError, KapsoAuthenticationError
from kapso_provider.services.bulk_checkpoint import Checkpointer, CheckpointStore, Plan, SendAbortedError, fingerprint
from kapso_provider.services.bulk_input import (
    MAX_PROBLEMS_LISTED,
    PLACEHOLDER,
    RECIPIENT_KEYS,
    MessageDesign,
    Recipient,
    RecipientKeySet,
    check_all,
    fill,
    iter_recipients_file,
    listed_items,
    load_recipients,
    placeholders,
    recipient_items,
    recipient_key,
    recipients_from,
    to_recipient,
)
from kapso_provider.services.bulk_input import Merged as Merged
from kapso_provider.services.bulk_input import survey as survey

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from datetime import datetime

    from kapso_provider.hooks.kapso import KapsoHook

__all__ = [
    "MAX_PROBLEMS_LISTED",
    "PLACEHOLDER",
    "RECIPIENT_KEYS",
    "BulkResult",
    "BulkSender",
    "BulkSummary",
    "MessageDesign",
    "Recipient",
    "bulk_hook",
    "check_all",
    "fill",
    "iter_recipients_file",
    "listed_items",
    "load_recipients",
    "placeholders",
    "recipient_items",
    "recipients_from",
    "send_bulk",
    "to_recipient",
]


def bulk_hook(
    kapso_conn_id: str, *, max_requests_per_minute: float | None = None, retry_policy: Any = None
) -> KapsoHook:
    """A hook for a bulk send: its pacer spaces requests evenly at the rate limit (and under the caller's
    ``max_requests_per_minute``) instead of only slowing down at the end of each window."""
    from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
    from kapso_provider.pacing import RequestPacer

    policy = retry_policy or RetryPolicy()
    pacer = RequestPacer(window=policy.rate_limit_window, max_requests_per_minute=max_requests_per_minute, steady=True)
    return KapsoHook(kapso_conn_id, retry_policy=policy, pacer=pacer)


@dataclass
class BulkResult:
    """The outcome of one recipient's send."""

    recipient: Recipient
    message_id: str | None = None
    already_sent: bool = False
    error: str | None = None


@dataclass
class BulkSummary:
    """What a bulk send did: counts, speed, the first failures and merges and, for small runs, every id.

    :param total: entries in the input.
    :param ids_limit: runs with at most this many entries keep each entry's message id.
    :param failures_limit: failures kept with their error text.
    """

    total: int
    ids_limit: int = 1000
    failures_limit: int = 100
    sent: int = 0
    already_sent: int = 0
    failed: int = 0
    elapsed_seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    message_ids: list[str | None] | None = None
    merged: Merged = field(default_factory=Merged)

    def __post_init__(self) -> None:
        if self.total <= self.ids_limit:
            self.message_ids = [None] * self.total

    @property
    def done(self) -> int:
        """Entries with an outcome: sent, sent by an earlier try, failed."""
        return self.sent + self.already_sent + self.failed

    @property
    def not_attempted(self) -> int:
        return self.total - self.done - self.merged.count

    def add(self, result: BulkResult) -> None:
        if result.error is not None:
            self.failed += 1
            if len(self.failures) < self.failures_limit:
                self.failures.append(
                    {"index": result.recipient.index, "recipient": result.recipient.key, "error": result.error}
                )
            return
        if result.already_sent:
            self.already_sent += 1
        else:
            self.sent += 1
        if self.message_ids is not None and result.recipient.index < len(self.message_ids):
            self.message_ids[result.recipient.index] = result.message_id

    def per_minute(self) -> float:
        return 60.0 * self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The summary as plain JSON, small whatever the number of recipients."""
        return {
            "total": self.total,
            "sent": self.sent,
            "already_sent": self.already_sent,
            "failed": self.failed,
            "merged": self.merged.count,
            "not_attempted": self.not_attempted,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "messages_per_minute": round(self.per_minute(), 1),
            "failures": self.failures,
            "failures_listed": len(self.failures),
            "merged_entries": self.merged.listed,
            "message_ids": self.message_ids,
        }


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


class BulkSender:
    """Sends one message design to many recipients over a pool of threads sharing the task's hook.

    Entries that name a person listed before (the same normalized phone number, or the same conversation)
    are merged: the first entry is sent, the others are counted and listed in the summary.

    :param hook: the task's hook, shared by every thread; its pacer spaces the requests (see
        :func:`bulk_hook`).
    :param design: the message.
    :param max_concurrency: sends in flight at once.
    :param earlier_try_since: on a task retry, when the DAG run started: each recipient is first looked
        up in Kapso and skipped when an earlier try already sent it the message.
    :param progress_interval: seconds between progress lines in the log.
    :param max_consecutive_failures: stop sending once this many sends in a row failed (a wrong template
        fails every send alike); ``None`` never stops.
    :param results_file: a JSON-lines file that gets one line per recipient: index, recipient, message id
        or error.
    :param log: where progress goes.
    :param checkpoint: keeps the durable record a retry resumes from (see
        :mod:`~kapso_provider.services.bulk_checkpoint`); ``None`` for none: a retry then looks every
        recipient up.
    """

    def __init__(
        self,
        *,
        hook: KapsoHook,
        design: MessageDesign,
        max_concurrency: int,
        earlier_try_since: datetime | None = None,
        progress_interval: float = 30.0,
        max_consecutive_failures: int | None = 100,
        results_file: str | None = None,
        log: logging.Logger | Any = None,
        checkpoint: Checkpointer | None = None,
    ) -> None:
        self.hook = hook
        self.design = design
        self.max_concurrency = max_concurrency
        self.earlier_try_since = earlier_try_since
        self.progress_interval = progress_interval
        self.max_consecutive_failures = max_consecutive_failures
        self.results_file = results_file
        self.log = log or logging.getLogger(__name__)
        self.checkpoint = checkpoint

    # -- one recipient, in a worker thread --

    def send_one(
        self, recipient: Recipient, *, look_up: bool | None = None, checkpoint: Checkpointer | None = None
    ) -> BulkResult:
        """Send to one recipient (unless an earlier try did); API failures become the result's error.

        :param look_up: whether to look for an earlier try's send first; by default, on a retry.
        :param checkpoint: holds the request until the checkpoint shows the recipient in flight.
        """
        if look_up is None:
            look_up = self.earlier_try_since is not None
        try:
            message = self.design.for_recipient(recipient)
            if checkpoint is not None:
                checkpoint.admit(recipient.index)
            if look_up and self.earlier_try_since is not None:
                found = self.hook.find_sent_message(message, since=self.earlier_try_since, **recipient.target)
                if found is not None:
                    return BulkResult(recipient, message_id=found.get("id"), already_sent=True)
            record = self.hook.send_message(message, **recipient.target)
        except KapsoAuthenticationError:
            raise  # every other send would fail the same way: the run stops
        except (KapsoAPIError, KapsoArgumentError, SendAbortedError) as exc:
            return BulkResult(recipient, error=str(exc))
        return BulkResult(recipient, message_id=record.get("id"))

    # -- the whole run, in the calling thread --

    def run(self, recipients: Iterable[Recipient], *, total: int, merged: Merged | None = None) -> BulkSummary:
        """Send to every recipient and return the summary; progress is logged every ``progress_interval``.

        :param recipients: the checked recipients, in input order (an iterator is read lazily).
        :param total: how many there are, for progress and the summary.
        :param merged: the merged entries :func:`~kapso_provider.services.bulk_input.survey` found, whose
            first entries this run names; ``None`` to count them here.
        :raises KapsoAuthenticationError: Kapso refused the API key; nothing more is sent.
        """
        summary = BulkSummary(total=total, merged=merged or Merged())
        checkpoint = self.checkpoint or Checkpointer(
            store=None,
            fingerprint="",
            total=total,
            max_concurrency=self.max_concurrency,
            retry=self.earlier_try_since is not None,
            log=self.log,
        )
        checkpoint.start()
        results_handle = open(self.results_file, "w", encoding="utf-8") if self.results_file else None  # noqa: SIM115
        started = time.monotonic()
        next_progress = started + self.progress_interval
        consecutive_failures = 0
        stopped_because: str | None = None
        # Enough queued work to keep every thread busy, never the whole input.
        window = 2 * self.max_concurrency
        in_flight: set[Future[BulkResult]] = set()

        def collect(done: Iterable[Future[BulkResult]]) -> None:
            nonlocal consecutive_failures, stopped_because
            for future in done:
                result = future.result()  # re-raises KapsoAuthenticationError
                add(result)
                consecutive_failures = consecutive_failures + 1 if result.error is not None else 0
                if (
                    self.max_consecutive_failures is not None
                    and consecutive_failures >= self.max_consecutive_failures
                    and stopped_because is None
                ):
                    stopped_because = f"{consecutive_failures} sends in a row failed, the last with: {result.error}"

        def add(result: BulkResult) -> None:
            summary.add(result)
            checkpoint.record(result.recipient.index, confirmed=result.error is None)
            if results_handle is not None:
                results_handle.write(json.dumps(self._result_line(result)) + "\n")

        def maybe_log_progress(force: bool = False) -> None:
            nonlocal next_progress
            now = time.monotonic()
            if force or now >= next_progress:
                summary.elapsed_seconds = now - started
                self._log_progress(summary)
                next_progress = now + self.progress_interval

        def wait_some() -> None:
            nonlocal in_flight
            done, in_flight = self._wait(in_flight, max(0.0, next_progress - time.monotonic()))
            collect(done)
            checkpoint.check()  # a failed write stops the send: no request past its horizon may leave
            maybe_log_progress()

        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="kapso-bulk")
        try:
            for recipient, first in _first_entries(recipients, summary.merged, register=merged is None):
                if not first:
                    checkpoint.record(recipient.index, confirmed=True)
                    continue
                plan = checkpoint.plan(recipient.index)
                if plan is Plan.SKIP:
                    add(BulkResult(recipient, already_sent=True))
                    continue
                while len(in_flight) >= window:
                    wait_some()
                if stopped_because is not None:
                    break
                in_flight.add(
                    pool.submit(self.send_one, recipient, look_up=plan is Plan.LOOK_UP, checkpoint=checkpoint)
                )
            while in_flight:
                wait_some()
        except BaseException:
            checkpoint.abort()
            for future in in_flight:
                future.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if results_handle is not None:
                results_handle.close()
        checkpoint.finish()
        summary.elapsed_seconds = time.monotonic() - started
        if stopped_because is not None:
            self.log.error(
                "Bulk send stopped early: %s. %d recipients were not attempted; a retry sends to them "
                "(and skips those already sent).",
                stopped_because,
                summary.not_attempted,
            )
        if summary.merged.count:
            self.log.info(
                "%d entries named a person listed before (the same phone number in another notation, or the "
                "same conversation) and were merged into the first; see merged_entries in the summary",
                summary.merged.count,
            )
        maybe_log_progress(force=True)
        return summary

    @staticmethod
    def _wait(
        in_flight: set[Future[BulkResult]], timeout: float
    ) -> tuple[set[Future[BulkResult]], set[Future[BulkResult]]]:
        done, pending = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        return set(done), set(pending)

    @staticmethod
    def _result_line(result: BulkResult) -> dict[str, Any]:
        line: dict[str, Any] = {"index": result.recipient.index, "recipient": result.recipient.key}
        if result.error is not None:
            line["error"] = result.error
        else:
            line["message_id"] = result.message_id
            line["already_sent"] = result.already_sent
        return line

    def _log_progress(self, summary: BulkSummary) -> None:
        rate = summary.per_minute()
        left = summary.not_attempted
        eta = _duration(60.0 * left / rate) if rate > 0 and left else ("0s" if not left else "unknown")
        self.log.info(
            "Bulk send: %d of %d done (%d sent, %d already sent by an earlier try, %d failed); "
            "%.0f messages/min; about %s left",
            summary.done + summary.merged.count,
            summary.total,
            summary.sent,
            summary.already_sent,
            summary.failed,
            rate,
            eta,
        )


def _first_entries(
    recipients: Iterable[Recipient], merged: Merged, *, register: bool
) -> Iterator[tuple[Recipient, bool]]:
    """``(recipient, first)`` for each entry; ``first`` is ``False`` for one naming a person already seen."""
    people = RecipientKeySet()
    for recipient in recipients:
        key = recipient_key(recipient)
        if people.add(key):
            merged.first_seen(recipient, key)
            yield recipient, True
        else:
            if register:
                merged.add(recipient, key)
            yield recipient, False


def send_bulk(
    *,
    hook: KapsoHook,
    entries: Callable[[], Iterator[tuple[str, Any]]],
    design: MessageDesign,
    recipient_field: str,
    defaults: Mapping[str, str | None],
    max_concurrency: int,
    earlier_try_since: datetime | None = None,
    progress_interval: float = 30.0,
    max_consecutive_failures: int | None = 100,
    results_file: str | None = None,
    log: logging.Logger | Any = None,
    checkpoint_store: CheckpointStore | None = None,
) -> BulkSummary:
    """Check every entry, then send to each person once; the bulk operator's one call.

    :param entries: reads the input afresh on each call, as ``(where, value)`` pairs (see
        :func:`~kapso_provider.services.bulk_input.recipient_entries`); it is read twice.
    :param checkpoint_store: where the progress a retry resumes from is kept (see
        :func:`~kapso_provider.services.bulk_checkpoint.store_for`); ``None`` for nowhere.
    :raises KapsoInvalidMessageError: an entry (or its filled message) breaks a rule; nothing was sent.
    """
    log = log or logging.getLogger(__name__)
    checked = survey(entries(), design=design, recipient_field=recipient_field, defaults=defaults)
    log.info(
        "Bulk send to %d recipients (%d entries, %d merged as repeats), %d at a time",
        checked.total - checked.merged.count,
        checked.total,
        checked.merged.count,
        max_concurrency,
    )
    sender = BulkSender(
        hook=hook,
        design=design,
        max_concurrency=max_concurrency,
        earlier_try_since=earlier_try_since,
        progress_interval=progress_interval,
        max_consecutive_failures=max_consecutive_failures,
        results_file=results_file,
        log=log,
        checkpoint=Checkpointer(
            store=checkpoint_store,
            fingerprint=fingerprint(design.message_object, recipient_field, dict(defaults), checked.digest),
            total=checked.total,
            max_concurrency=max_concurrency,
            retry=earlier_try_since is not None,
            log=log,
        ),
    )
    recipients = recipients_from(entries(), recipient_field=recipient_field, defaults=defaults)
    return sender.run(recipients, total=checked.total, merged=checked.merged)
