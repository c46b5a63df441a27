"""A Kapso broadcast run from one task: find or create the draft, add the recipients in batches, send, wait.

:class:`~kapso_provider.operators.kapso.KapsoBroadcastOperator` is the Airflow face of this module. Kapso
takes no idempotency key for any of these writes, so each one whose answer was lost is checked against
what Kapso holds before it is made again, and a task retry continues the broadcast an earlier try made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.api.current.broadcasts import FINAL_BROADCAST_STATUSES, check_recipient
from kapso_provider.api.v1.broadcasts import MAX_RECIPIENTS_PER_REQUEST
from kapso_provider.arguments import as_bool, as_number, as_tolerance, check_every, tolerated_count
from kapso_provider.exceptions import KapsoRunError, KapsoServerError, KapsoValidationError
from kapso_provider.validation import check_text, raise_problems

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.transport.policy import WarningLog

__all__ = ["BroadcastRun", "BroadcastSettings", "check_recipients"]

#: Refused recipients listed in the log and in the failure's text.
ERRORS_LISTED = 100


def _digits(phone_number: object) -> str:
    # Kapso stores broadcast numbers "normalized to E.164 format without + prefix": compare digits only.
    return "".join(char for char in str(phone_number or "") if char.isdigit())


@dataclass(frozen=True)
class BroadcastSettings:
    """How a broadcast runs: send or leave a draft, wait or not, batch size, refusals tolerated."""

    send: bool = True
    wait: bool = False
    poll_interval: float = 30.0
    timeout: float | None = None
    batch_size: int = MAX_RECIPIENTS_PER_REQUEST
    tolerate: int | float = 0

    @classmethod
    def checked(
        cls,
        *,
        send: object,
        wait_for_completion: object,
        poll_interval: object,
        timeout: object,
        batch_size: object,
        tolerate_recipient_errors: object,
    ) -> BroadcastSettings:
        """The settings from rendered operator arguments (``"true"``, ``"15"`` ... included).

        :raises KapsoArgumentError: naming every argument at fault.
        """
        problems: list[str] = []
        send_it = as_bool("send", send, problems)
        wait = as_bool("wait_for_completion", wait_for_completion, problems)
        interval = as_number("poll_interval", poll_interval, problems)
        limit = None if timeout in (None, "", "None") else as_number("timeout", timeout, problems)
        size = as_number("batch_size", batch_size, problems, integer=True)
        tolerate = as_tolerance("tolerate_recipient_errors", tolerate_recipient_errors, problems)
        if wait and not send_it:
            problems.append("wait_for_completion: needs send=True; a draft never completes")
        if not interval > 0:
            problems.append(f"poll_interval: must be a positive number of seconds, got {poll_interval!r}")
        if limit is not None and not limit > 0:
            problems.append(f"timeout: must be a positive number of seconds or None, got {timeout!r}")
        if not 1 <= size <= MAX_RECIPIENTS_PER_REQUEST:
            problems.append(
                f"batch_size: {batch_size!r} is outside 1..{MAX_RECIPIENTS_PER_REQUEST} "
                "(Kapso's limit of recipients per request)"
            )
        raise_problems(problems)
        return cls(send_it, wait, float(interval), limit, int(size), tolerate)


def check_recipients(items: Iterable[tuple[str, Any]]) -> int:
    """Check every recipient before the first request (a file is read once for this); return the count.

    :param items: ``(where, value)`` pairs, e.g. from :func:`kapso_provider.services.bulk_input.recipient_items`.
    :raises KapsoArgumentError: naming the recipients at fault, or when there is none.
    """
    count = check_every(items, lambda where, value: check_recipient(value, where))
    raise_problems([] if count else ["recipients: none given; a broadcast needs at least one recipient"])
    return count


@dataclass
class _Added:
    """What adding the recipients came to: Kapso's counts and the refusals it gave."""

    added: int = 0
    duplicates: int = 0
    already_added: int = 0
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    batches: int = 0

    @property
    def handled(self) -> int:
        return self.added + self.duplicates + self.already_added + self.refused


def check_broadcast_names(
    name: object, whatsapp_template_id: object, whatsapp_config_id: object, phone_number_id: object
) -> None:
    """Check what names a broadcast, whatever the connection's API: its name and template, and the sending
    number as the API names it (``whatsapp_config_id`` on API v1, ``phone_number_id`` on the current API, where
    the connection's is the default). Which of the two the connection needs is checked when the task runs.

    :raises KapsoArgumentError: naming every field at fault.
    """
    problems: list[str] = []
    check_text(problems, "name", name, required=True)
    check_text(problems, "whatsapp_template_id", whatsapp_template_id, required=True)
    check_text(problems, "whatsapp_config_id", whatsapp_config_id)
    check_text(problems, "phone_number_id", phone_number_id)
    if whatsapp_config_id is not None and phone_number_id is not None:
        problems.append("whatsapp_config_id, phone_number_id: give the one your connection's API takes, not both")
    raise_problems(problems)


class BroadcastRun:
    """One broadcast: its name, sending number and template, how it runs, and the hook it runs through.

    :param hook: the hook to talk through.
    :param name: the broadcast's name in Kapso.
    :param whatsapp_template_id: the approved template to send.
    :param whatsapp_config_id: API v1: the WhatsApp config to send from.
    :param phone_number_id: current API: the WhatsApp number to send from (the connection's by default).
    :param settings: how it runs.
    :param log: where progress and decisions are told.
    :raises KapsoArgumentError: for an empty name, number or template.
    """

    def __init__(
        self,
        hook: KapsoHook,
        *,
        name: str,
        whatsapp_template_id: str,
        settings: BroadcastSettings,
        log: WarningLog,
        whatsapp_config_id: str | None = None,
        phone_number_id: str | None = None,
    ) -> None:
        check_broadcast_names(name, whatsapp_template_id, whatsapp_config_id, phone_number_id)
        self.hook = hook
        names = {
            "name": name,
            "whatsapp_template_id": whatsapp_template_id,
            "whatsapp_config_id": whatsapp_config_id,
            "phone_number_id": phone_number_id,
        }
        # Only the given ones: each generation's definitions refuse the other's id.
        self.names = {key: value for key, value in names.items() if value is not None}
        self.settings = settings
        self.log = log

    def run(
        self,
        recipients: Callable[[], Iterable[tuple[str, Any]]],
        *,
        total: int,
        earlier_try_since: datetime | None = None,
    ) -> dict[str, Any]:
        """Run the broadcast and return its record: sent (and waited for) or left a draft, as the settings say.

        :param recipients: gives the ``(where, value)`` recipient pairs, checked already, on each call.
        :param total: how many there are.
        :param earlier_try_since: on a task retry, when its DAG run started: the broadcast an earlier try
            made since then is continued instead of a new one.
        :raises KapsoRunError: final when the broadcast failed in Kapso or Kapso refused more recipients
            than tolerated (it stays a draft); not final when it did not complete within the timeout.
        """
        broadcast = self._earlier(earlier_try_since) or self._create()
        broadcast_id = str(broadcast["id"])
        status = broadcast.get("status")
        if status == "failed":
            raise KapsoRunError(
                f"Broadcast {broadcast_id} from an earlier try failed in Kapso; not sending it again "
                "(give the broadcast another name to send a new one)",
                final=True,
            )
        if status == "draft":
            # A new draft has no recipients; an earlier try's may hold some: add only the others.
            skip = self._numbers_in(broadcast_id) if broadcast.get("total_recipients") else set()
            self._check_refusals(broadcast_id, self._add(broadcast_id, recipients(), total=total, skip=skip), total)
            if self.settings.send:
                self._send(broadcast_id)
        else:
            self.log.info("Broadcast %s is %s already: not adding recipients nor sending again", broadcast_id, status)
        if not self.settings.wait:
            record = self.hook.get_broadcast(broadcast_id)
            self._log_progress(record)
            return record
        record = self._wait(broadcast_id)
        if record.get("status") == "failed":
            raise KapsoRunError(
                f"Broadcast {broadcast_id} failed in Kapso: {record.get('failed_count')} of "
                f"{record.get('total_recipients')} recipients failed, {record.get('sent_count')} sent",
                final=True,
            )
        return record

    # -- the draft --

    def _find(self, since: datetime) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.hook.find_broadcast(**self.names, since=since)
        return found

    def _earlier(self, since: datetime | None) -> dict[str, Any] | None:
        if since is None:
            return None
        earlier = self._find(since)
        if earlier is not None:
            self.log.info("Using broadcast %s (%s) an earlier try created", earlier.get("id"), earlier.get("status"))
        return earlier

    def _create(self) -> dict[str, Any]:
        """A new draft; after a lost answer, the draft Kapso made of it if it made one."""
        started = datetime.now(UTC)
        try:
            created: dict[str, Any] = self.hook.create_broadcast(**self.names)
        except KapsoServerError as exc:
            if not exc.may_have_been_processed:
                raise
            self.log.warning("%s; looking for the broadcast in Kapso", exc)
            found = self._find(started)
            if found is None:
                # Not created (or not listed yet): the task's retry looks again before creating one.
                raise
            self.log.info("Kapso had created broadcast %s; not creating it again", found.get("id"))
            return found
        self.log.info("Created draft broadcast %s named %r", created.get("id"), self.names["name"])
        return created

    # -- the recipients --

    def _numbers_in(self, broadcast_id: str) -> set[str]:
        return {_digits(r.get("phone_number")) for r in self.hook.list_broadcast_recipients(broadcast_id)}

    def _add_batch(self, broadcast_id: str, batch: list[dict[str, Any]]) -> Mapping[str, Any]:
        """Add one batch; after an answer that got lost, add only the part Kapso does not have yet."""
        try:
            answer: Mapping[str, Any] = self.hook.add_broadcast_recipients(broadcast_id, batch)
            return answer
        except KapsoServerError as exc:
            if not exc.may_have_been_processed:
                raise
            self.log.warning("%s; reading the broadcast's recipients before adding the batch again", exc)
        present = self._numbers_in(broadcast_id)
        missing = [r for r in batch if _digits(r.get("phone_number")) not in present]
        if not missing:
            return {"added": len(batch), "duplicates": 0, "errors": []}
        # Recipients given by contact id cannot be told apart in the list (it shows numbers only); Kapso
        # counts those it already holds as duplicates.
        answer = self.hook.add_broadcast_recipients(broadcast_id, missing)
        return {**answer, "added": int(answer.get("added") or 0) + len(batch) - len(missing)}

    def _flush(
        self, broadcast_id: str, batch: list[dict[str, Any]], wheres: list[str], added: _Added, total: int
    ) -> None:
        added.batches += 1
        answer = self._add_batch(broadcast_id, batch)
        refused = [str(error) for error in answer.get("errors") or []]
        counts = {"added": int(answer.get("added") or 0), "duplicates": int(answer.get("duplicates") or 0)}
        added.added += counts["added"]
        added.duplicates += counts["duplicates"]
        added.refused += len(refused)
        # Kapso numbers a refused recipient within its request: name the batch's span too.
        span = f"batch {added.batches} ({wheres[0]} to {wheres[-1]})"
        added.errors.extend(f"{span}: {error}" for error in refused[: max(0, ERRORS_LISTED - len(added.errors))])
        self.log.info(
            "Recipients: %d of %d handled (batch %d: %d added, %d duplicates, %d refused)",
            added.handled,
            total,
            added.batches,
            counts["added"],
            counts["duplicates"],
            len(refused),
        )

    def _add(self, broadcast_id: str, recipients: Iterable[tuple[str, Any]], *, total: int, skip: set[str]) -> _Added:
        """Add every recipient not in ``skip`` in batches of the settings' size."""
        added = _Added()
        batch: list[dict[str, Any]] = []
        wheres: list[str] = []
        for where, value in recipients:
            recipient = check_recipient(value, where)
            if recipient.get("phone_number") is not None and _digits(recipient["phone_number"]) in skip:
                added.already_added += 1
                continue
            batch.append(recipient)
            wheres.append(where)
            if len(batch) >= self.settings.batch_size:
                self._flush(broadcast_id, batch, wheres, added, total)
                batch, wheres = [], []
        if batch:
            self._flush(broadcast_id, batch, wheres, added, total)
        if added.already_added:
            self.log.info("%d recipients were already in the broadcast from an earlier try", added.already_added)
        return added

    def _check_refusals(self, broadcast_id: str, added: _Added, total: int) -> None:
        tolerated = tolerated_count(self.settings.tolerate, total)
        if added.errors:
            self.log.warning("Kapso refused %d recipients: %s", added.refused, "; ".join(added.errors))
        if added.refused > tolerated:
            # The same recipients would be refused again: a retry cannot help.
            raise KapsoRunError(
                f"Kapso refused {added.refused} of {total} recipients (tolerated: {tolerated}); "
                f"broadcast {broadcast_id} stays a draft, not sent (fix those recipients, or raise "
                "tolerate_recipient_errors, and send the draft from Kapso). First refusals: "
                + "; ".join(added.errors[:10]),
                final=True,
            )

    # -- sending and waiting --

    def _send(self, broadcast_id: str) -> None:
        """Start the send; after a lost answer or a refusal, read the broadcast to see whether it started."""
        try:
            answer = self.hook.send_broadcast(broadcast_id)
        except (KapsoServerError, KapsoValidationError) as exc:
            if isinstance(exc, KapsoServerError) and not exc.may_have_been_processed:
                raise
            status = self.hook.get_broadcast(broadcast_id).get("status")
            if status in ("sending", "completed"):
                self.log.info("Broadcast %s is %s already (%s)", broadcast_id, status, exc)
                return
            raise
        self.log.info("Broadcast %s is sending since %s", broadcast_id, answer.get("started_at"))

    def _log_progress(self, record: Mapping[str, Any]) -> None:
        total = int(record.get("total_recipients") or 0)
        pending = int(record.get("pending_count") or 0)
        self.log.info(
            "Broadcast %s is %s: %d of %d recipients have an outcome (%d sent, %d delivered, %d read, "
            "%d failed, %d pending)",
            record.get("id"),
            record.get("status"),
            total - pending,
            total,
            int(record.get("sent_count") or 0),
            int(record.get("delivered_count") or 0),
            int(record.get("read_count") or 0),
            int(record.get("failed_count") or 0),
            pending,
        )

    def _wait(self, broadcast_id: str) -> dict[str, Any]:
        """Poll until the broadcast is final; a timeout is not final: a retry finds it and waits again."""
        settings = self.settings
        deadline = None if settings.timeout is None else time.monotonic() + settings.timeout
        while True:
            record: dict[str, Any] = self.hook.get_broadcast(broadcast_id)
            self._log_progress(record)
            if record.get("status") in FINAL_BROADCAST_STATUSES:
                return record
            if deadline is not None and time.monotonic() + settings.poll_interval > deadline:
                raise KapsoRunError(
                    f"Broadcast {broadcast_id} is still {record.get('status')} after {settings.timeout:g} s "
                    f"({record.get('pending_count')} recipients pending); a retry waits for it again without "
                    "sending it again, or raise timeout",
                    final=False,
                )
            time.sleep(settings.poll_interval)
