"""Sending one message design to many recipients: input, per-recipient values, concurrency and the summary.

:class:`~kapso_provider.operators.kapso.KapsoBulkSendMessageOperator` is the Airflow face of this module;
it imports it when a task runs. Nothing here holds all recipients at once: a recipients file is read line
by line (twice: once to check every line before the first request, once to send), at most a few times
``max_concurrency`` sends are in flight, and the summary keeps counts, the first failures and, for small
runs, each recipient's message id.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from kapso_provider.arguments import RECIPIENT_FIELDS
from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoArgumentError,
    KapsoAuthenticationError,
    KapsoInvalidMessageError,
)

if TYPE_CHECKING:
    from datetime import datetime

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.models import KapsoMessage

#: ``${name}`` in any text of the message is replaced by the recipient's value ``name``; ``$${name}``
#: stays as the literal text ``${name}``. Jinja leaves both alone, so the DAG's own templates render first.
PLACEHOLDER = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Recipients listed with a problem before giving up on checking the rest.
MAX_PROBLEMS_LISTED = 20
#: Recipient fields a recipient dict may set; every other key is a value for placeholders.
RECIPIENT_KEYS = frozenset(RECIPIENT_FIELDS)


@dataclass(frozen=True)
class Recipient:
    """One recipient of a bulk send.

    :param index: its position in the input, from 0.
    :param where: how to name it in an error: ``recipients[3]`` or ``recipients.jsonl line 4``.
    :param target: the recipient arguments of :meth:`KapsoHook.send_message`.
    :param values: the values its placeholders take.
    """

    index: int
    where: str
    target: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The phone number or conversation id it is sent to."""
        return self.target.get("phone_number") or self.target.get("conversation_id") or ""


def placeholders(value: Any) -> set[str]:
    """Names of the ``${name}`` placeholders anywhere in ``value`` (strings inside lists and dicts included)."""
    if isinstance(value, str):
        return {match.group(2) for match in PLACEHOLDER.finditer(value) if not match.group(1)}
    if isinstance(value, Mapping):
        return set().union(*(placeholders(item) for item in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(placeholders(item) for item in value))
    return set()


def fill(value: Any, values: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder replaced by the text of its value in ``values``."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(1):
                return match.group(0)[1:]
            item = values[match.group(2)]
            return item if isinstance(item, str) else json.dumps(item)

        return PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: fill(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [fill(item, values) for item in value]
    return value


def load_recipients(value: Any) -> list[Any]:
    """The ``recipients`` argument as a list: a list as given, a JSON array in a string, or an error."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise KapsoInvalidMessageError(
                [f"recipients: a string must be a JSON array ({exc.msg} at position {exc.pos})"]
            ) from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise KapsoInvalidMessageError([f"recipients: expected a list, got {type(value).__name__}"])
    return value


def iter_recipients_file(path: str) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line of a JSON-lines file, read lazily.

    :raises KapsoInvalidMessageError: for a line that is not JSON, naming the file and line.
    """
    name = path.rsplit("/", 1)[-1]
    try:
        handle: TextIO = open(path, encoding="utf-8")  # noqa: SIM115 - closed in finally, read lazily
    except OSError as exc:
        raise KapsoInvalidMessageError([f"recipients_file: cannot read {path!r} ({exc.strerror})"]) from None
    try:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{name} line {line_number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise KapsoInvalidMessageError([f"{where}: not JSON ({exc.msg})"]) from None
    finally:
        handle.close()


def recipient_items(recipients: Any, recipients_file: Any) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` pairs from an operator's rendered ``recipients`` or ``recipients_file``.

    :raises KapsoInvalidMessageError: ``recipients_file`` did not render to a path, or ``recipients`` is
        not a list.
    """
    if recipients_file is not None:
        if not isinstance(recipients_file, str):
            raise KapsoInvalidMessageError(
                [f"recipients_file: must render to a path, got {type(recipients_file).__name__}"]
            )
        return iter_recipients_file(recipients_file)
    return listed_items(load_recipients(recipients))


def to_recipient(
    index: int, where: str, value: Any, *, recipient_field: str, defaults: Mapping[str, str | None]
) -> Recipient:
    """Turn one input item (a string or a dict) into a checked :class:`Recipient`.

    :param index: its position in the input.
    :param where: how errors name it.
    :param value: a phone number or conversation id (per ``recipient_field``), or a dict with one of
        ``phone_number``/``conversation_id``, optionally ``whatsapp_config_id``/``customer_id``, and values
        for placeholders.
    :param recipient_field: what a plain string is: ``phone_number`` or ``conversation_id``.
    :param defaults: ``whatsapp_config_id``/``customer_id`` for phone numbers that do not set their own.
    :raises KapsoInvalidMessageError: naming ``where`` and the field at fault.
    """
    from kapso_provider.recipients import check_recipient

    if isinstance(value, str):
        given: dict[str, Any] = {recipient_field: value}
        values: dict[str, Any] = {}
    elif isinstance(value, Mapping):
        given = {key: item for key, item in value.items() if key in RECIPIENT_KEYS and item is not None}
        values = {str(key): item for key, item in value.items() if key not in RECIPIENT_KEYS}
    else:
        raise KapsoInvalidMessageError(
            [f"{where}: expected a phone number, a conversation id or a dict, got {type(value).__name__}"]
        )
    if "phone_number" in given:
        for name, default in defaults.items():
            if default is not None:
                given.setdefault(name, default)
    target = {name: given.get(name) for name in RECIPIENT_FIELDS}
    try:
        check_recipient(**target)
    except KapsoArgumentError as exc:
        raise KapsoInvalidMessageError([f"{where}: {problem}" for problem in exc.problems]) from None
    return Recipient(index=index, where=where, target={k: v for k, v in target.items() if v is not None}, values=values)


class MessageDesign:
    """The message every recipient gets, with its placeholders filled per recipient.

    :param message_object: the v1 message object after the DAG's own templates rendered.
    """

    def __init__(self, message_object: Mapping[str, Any]) -> None:
        from kapso_provider.models import parse_message

        self.message_object = dict(message_object)
        self.names = placeholders(self.message_object)
        # Without placeholders every recipient gets the same message: check and build it once.
        self._shared: KapsoMessage | None = None if self.names else parse_message(self.message_object)

    def for_recipient(self, recipient: Recipient) -> KapsoMessage:
        """The checked message for ``recipient``.

        :raises KapsoInvalidMessageError: a placeholder has no value, or the filled message breaks a rule.
        """
        if self._shared is not None:
            return self._shared
        from kapso_provider.models import parse_message

        missing = sorted(self.names - recipient.values.keys())
        if missing:
            raise KapsoInvalidMessageError(
                [f"{recipient.where}: no value for placeholder(s) {', '.join('${' + n + '}' for n in missing)}"]
            )
        try:
            return parse_message(fill(self.message_object, recipient.values))
        except KapsoArgumentError as exc:
            raise KapsoInvalidMessageError([f"{recipient.where}: {problem}" for problem in exc.problems]) from None


@dataclass
class BulkResult:
    """The outcome of one recipient's send."""

    recipient: Recipient
    message_id: str | None = None
    already_sent: bool = False
    error: str | None = None


@dataclass
class BulkSummary:
    """What a bulk send did: counts, speed, the first failures and, for small runs, every message id.

    :param total: recipients in the input.
    :param ids_limit: runs with at most this many recipients keep each recipient's message id.
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

    def __post_init__(self) -> None:
        if self.total <= self.ids_limit:
            self.message_ids = [None] * self.total

    @property
    def done(self) -> int:
        return self.sent + self.already_sent + self.failed

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
            "not_attempted": self.total - self.done,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "messages_per_minute": round(self.per_minute(), 1),
            "failures": self.failures,
            "failures_listed": len(self.failures),
            "message_ids": self.message_ids,
        }


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


class BulkSender:
    """Sends one message design to many recipients over a pool of threads sharing one rate-limit pacer.

    Each thread has its own :class:`KapsoHook` (a ``requests`` session is not meant to be shared between
    threads) built on the connection settings the calling thread already read, so worker threads never
    talk to Airflow's connection machinery.

    :param hook: the task's hook; its settings and retry policy are reused by every thread's hook.
    :param design: the message.
    :param max_concurrency: sends in flight at once.
    :param max_requests_per_minute: the caller's ceiling on the request rate, or ``None`` for Kapso's limit.
    :param earlier_try_since: on a task retry, when the DAG run started: each recipient is first looked
        up in Kapso and skipped when an earlier try already sent it the message.
    :param progress_interval: seconds between progress lines in the log.
    :param max_consecutive_failures: stop sending once this many sends in a row failed (a wrong template
        fails every send alike); ``None`` never stops.
    :param results_file: a JSON-lines file that gets one line per recipient: index, recipient, message id
        or error.
    :param log: where progress goes.
    """

    def __init__(
        self,
        *,
        hook: KapsoHook,
        design: MessageDesign,
        max_concurrency: int,
        max_requests_per_minute: float | None = None,
        earlier_try_since: datetime | None = None,
        progress_interval: float = 30.0,
        max_consecutive_failures: int | None = 100,
        results_file: str | None = None,
        log: logging.Logger | Any = None,
    ) -> None:
        from kapso_provider.pacing import RequestPacer

        self.hook = hook
        self.design = design
        self.max_concurrency = max_concurrency
        self.pacer = RequestPacer(
            window=hook.retry_policy.rate_limit_window, max_requests_per_minute=max_requests_per_minute, steady=True
        )
        self.earlier_try_since = earlier_try_since
        self.progress_interval = progress_interval
        self.max_consecutive_failures = max_consecutive_failures
        self.results_file = results_file
        self.log = log or logging.getLogger(__name__)
        self._local = threading.local()
        self._hooks: list[KapsoHook] = []
        self._hooks_lock = threading.Lock()

    # -- one recipient, in a worker thread --

    def _thread_hook(self) -> KapsoHook:
        hook: KapsoHook | None = getattr(self._local, "hook", None)
        if hook is None:
            from kapso_provider.hooks.kapso import KapsoHook

            hook = KapsoHook(self.hook.kapso_conn_id, retry_policy=self.hook.retry_policy, pacer=self.pacer)
            # The calling thread read the connection already; worker threads reuse what it parsed.
            hook.__dict__["settings"] = self.hook.settings
            self._local.hook = hook
            with self._hooks_lock:
                self._hooks.append(hook)
        return hook

    def send_one(self, recipient: Recipient) -> BulkResult:
        """Send to one recipient (unless an earlier try did); API failures become the result's error."""
        hook = self._thread_hook()
        try:
            message = self.design.for_recipient(recipient)
            if self.earlier_try_since is not None:
                found = hook.find_sent_message(message, since=self.earlier_try_since, **recipient.target)
                if found is not None:
                    return BulkResult(recipient, message_id=found.get("id"), already_sent=True)
            record = hook.send_message(message, **recipient.target)
        except KapsoAuthenticationError:
            raise  # every other send would fail the same way: the run stops
        except (KapsoAPIError, KapsoArgumentError) as exc:
            return BulkResult(recipient, error=str(exc))
        return BulkResult(recipient, message_id=record.get("id"))

    # -- the whole run, in the calling thread --

    def run(self, recipients: Iterable[Recipient], *, total: int) -> BulkSummary:
        """Send to every recipient and return the summary; progress is logged every ``progress_interval``.

        :param recipients: the checked recipients, in input order (an iterator is read lazily).
        :param total: how many there are, for progress and the summary.
        :raises KapsoAuthenticationError: Kapso refused the API key; nothing more is sent.
        """
        summary = BulkSummary(total=total)
        results_handle = open(self.results_file, "w", encoding="utf-8") if self.results_file else None  # noqa: SIM115
        started = time.monotonic()
        next_progress = started + self.progress_interval
        consecutive_failures = 0
        stopped_because: str | None = None
        # Enough queued work to keep every thread busy, never the whole input.
        window = 2 * self.max_concurrency

        def collect(done: Iterable[Future[BulkResult]]) -> None:
            nonlocal consecutive_failures, stopped_because
            for future in done:
                result = future.result()  # re-raises KapsoAuthenticationError
                summary.add(result)
                if results_handle is not None:
                    results_handle.write(json.dumps(self._result_line(result)) + "\n")
                consecutive_failures = consecutive_failures + 1 if result.error is not None else 0
                if (
                    self.max_consecutive_failures is not None
                    and consecutive_failures >= self.max_consecutive_failures
                    and stopped_because is None
                ):
                    stopped_because = f"{consecutive_failures} sends in a row failed, the last with: {result.error}"

        def maybe_log_progress(force: bool = False) -> None:
            nonlocal next_progress
            now = time.monotonic()
            if force or now >= next_progress:
                summary.elapsed_seconds = now - started
                self._log_progress(summary)
                next_progress = now + self.progress_interval

        pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="kapso-bulk")
        in_flight: set[Future[BulkResult]] = set()
        try:
            for recipient in recipients:
                while len(in_flight) >= window:
                    done, in_flight = self._wait(in_flight, next_progress)
                    collect(done)
                    maybe_log_progress()
                if stopped_because is not None:
                    break
                in_flight.add(pool.submit(self.send_one, recipient))
            while in_flight:
                done, in_flight = self._wait(in_flight, next_progress)
                collect(done)
                maybe_log_progress()
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if results_handle is not None:
                results_handle.close()
            with self._hooks_lock:
                for hook in self._hooks:
                    hook.close()
        summary.elapsed_seconds = time.monotonic() - started
        if stopped_because is not None:
            self.log.error(
                "Bulk send stopped early: %s. %d recipients were not attempted; a retry sends to them "
                "(and skips those already sent).",
                stopped_because,
                summary.total - summary.done,
            )
        maybe_log_progress(force=True)
        return summary

    @staticmethod
    def _wait(
        in_flight: set[Future[BulkResult]], next_progress: float
    ) -> tuple[set[Future[BulkResult]], set[Future[BulkResult]]]:
        timeout = max(0.0, next_progress - time.monotonic())
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
        left = summary.total - summary.done
        eta = _duration(60.0 * left / rate) if rate > 0 and left else ("0s" if not left else "unknown")
        self.log.info(
            "Bulk send: %d of %d done (%d sent, %d already sent by an earlier try, %d failed); "
            "%.0f messages/min; about %s left",
            summary.done,
            summary.total,
            summary.sent,
            summary.already_sent,
            summary.failed,
            rate,
            eta,
        )


def check_all(
    items: Iterable[tuple[str, Any]],
    *,
    design: MessageDesign,
    recipient_field: str,
    defaults: Mapping[str, str | None],
) -> int:
    """Check every recipient (and its filled message) before the first request; return how many there are.

    :param items: ``(where, value)`` pairs in input order.
    :raises KapsoInvalidMessageError: listing up to :data:`MAX_PROBLEMS_LISTED` recipients at fault.
    """
    problems: list[str] = []
    count = 0
    for count, (where, value) in enumerate(items, start=1):
        try:
            design.for_recipient(
                to_recipient(count - 1, where, value, recipient_field=recipient_field, defaults=defaults)
            )
        except KapsoArgumentError as exc:
            problems.extend(exc.problems)
            if len(problems) >= MAX_PROBLEMS_LISTED:
                problems.append("... (checking stopped here)")
                break
    if problems:
        raise KapsoInvalidMessageError(problems)
    return count


def recipients_from(
    items: Iterable[tuple[str, Any]], *, recipient_field: str, defaults: Mapping[str, str | None]
) -> Iterator[Recipient]:
    """:class:`Recipient` objects for ``(where, value)`` pairs, lazily, in input order."""
    for index, (where, value) in enumerate(items):
        yield to_recipient(index, where, value, recipient_field=recipient_field, defaults=defaults)


def listed_items(recipients: list[Any]) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` pairs of a recipients list."""
    for index, value in enumerate(recipients):
        yield f"recipients[{index}]", value
