"""The broadcast operator: a template campaign run by Kapso."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from kapso_provider.arguments import (
    as_bool,
    as_number,
    is_static,
    parse_time,
)
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators._base import KapsoHookMixin

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context, XComArg


__all__ = ["KapsoBroadcastOperator"]


#: Refused recipients listed in the task log and in the failure message.
_ERRORS_LISTED = 100


def _digits(phone_number: str) -> str:
    # Kapso stores broadcast numbers "normalized to E.164 format without + prefix": compare digits only.
    return "".join(char for char in phone_number if char.isdigit())


class KapsoBroadcastOperator(KapsoHookMixin, BaseOperator):
    """Run a Kapso WhatsApp broadcast: create it, add its recipients in batches, send it, optionally wait.

    A broadcast sends one approved template from one WhatsApp config to many recipients; Kapso does the
    sending itself, at WhatsApp's pace. The operator creates a draft broadcast named ``name``, adds the
    recipients in batches of ``batch_size`` (Kapso takes at most 1,000 per request), starts the send and,
    with ``wait_for_completion``, polls until the broadcast is ``completed`` (every recipient ``sent`` or
    ``failed``). It returns (and pushes to XCom) the broadcast record with its counts: ``status``,
    ``total_recipients``, ``sent_count``, ``delivered_count``, ``read_count``, ``failed_count``,
    ``pending_count`` and the rest of Kapso's ``WhatsappBroadcast``.

    Recipients come from ``recipients`` (a list, e.g. an upstream task's XCom, or a JSON array string) or
    from ``recipients_file`` (JSON lines, read lazily). Each is a phone number in international format or a
    dict with ``phone_number`` (or ``whatsapp_contact_id``) and optionally ``template_parameters``: a list
    of strings for a template with positional parameters, or an object of named values (``header_url`` /
    ``header_filename`` for a media header). Every recipient is checked before the first request.

    Kapso checks each recipient when it is added and may refuse some (an invalid number, parameters that
    do not fit the template) while adding the rest. Up to ``tolerate_recipient_errors`` refusals are logged
    and the broadcast is sent to the others; more fail the task before the send, leaving the draft in Kapso.

    A task retry does not create a second broadcast: it looks for a broadcast with the same name, config
    and template created since the DAG run started, adds only the recipients that broadcast lacks, sends
    it if it is still a draft and waits for it if asked to. Give each run's broadcast its own name (e.g.
    with ``{{ ds }}``) when two runs of a DAG can overlap.

    :param name: the broadcast's name in Kapso. (templated)
    :param whatsapp_config_id: the WhatsApp config (a production business number) to send from. (templated)
    :param whatsapp_template_id: the Kapso id of an approved template linked to that config. (templated)
    :param recipients: the recipients as a list or a JSON array string; excludes ``recipients_file``.
        (templated)
    :param recipients_file: path of a JSON-lines file with one recipient per line. (templated)
    :param send: start sending once the recipients are in; ``False`` leaves a draft to send from Kapso's
        UI. (templated)
    :param wait_for_completion: after the send, poll until every recipient has an outcome. (templated)
    :param poll_interval: seconds between two polls while waiting. (templated)
    :param timeout: seconds to wait for completion before failing the task (a retry waits again, without
        sending again); ``None`` waits as long as the task may run. (templated)
    :param batch_size: recipients per request, 1 to 1,000. (templated)
    :param tolerate_recipient_errors: recipients Kapso may refuse with the broadcast still sent: a count
        (``int``) or a fraction of the recipients (``float`` from 0 to 1). (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "name",
        "whatsapp_config_id",
        "whatsapp_template_id",
        "recipients",
        "recipients_file",
        "send",
        "wait_for_completion",
        "poll_interval",
        "timeout",
        "batch_size",
        "tolerate_recipient_errors",
    )
    # Values are data, never file names: a recipients file is read by the operator, not by Jinja.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        name: str,
        whatsapp_config_id: str,
        whatsapp_template_id: str,
        recipients: Sequence[str | Mapping[str, Any]] | str | XComArg | None = None,
        recipients_file: str | XComArg | None = None,
        send: bool | str = True,
        wait_for_completion: bool | str = False,
        poll_interval: float | str = 30.0,
        timeout: float | str | None = None,
        batch_size: int | str = 1000,
        tolerate_recipient_errors: int | float | str = 0,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.whatsapp_config_id = whatsapp_config_id
        self.whatsapp_template_id = whatsapp_template_id
        self.recipients = recipients
        self.recipients_file = recipients_file
        self.send = send
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.batch_size = batch_size
        self.tolerate_recipient_errors = tolerate_recipient_errors
        self.kapso_conn_id = kapso_conn_id
        if (recipients is None) == (recipients_file is None):
            from kapso_provider.exceptions import KapsoInvalidMessageError

            raise KapsoInvalidMessageError(["recipients: give exactly one of recipients or recipients_file"])
        if all(is_static(getattr(self, field)) for field in _SETTINGS):
            # Nothing left for a template to change: fail when the DAG file is parsed.
            self._settings()

    def _settings(self) -> dict[str, Any]:
        """The rendered flags and numbers, converted and checked.

        :raises KapsoInvalidMessageError: naming every argument at fault.
        """
        from kapso_provider.api.v1.broadcasts import MAX_RECIPIENTS_PER_REQUEST
        from kapso_provider.exceptions import KapsoInvalidMessageError

        problems: list[str] = []
        send = as_bool("send", self.send, problems)
        wait = as_bool("wait_for_completion", self.wait_for_completion, problems)
        poll_interval = as_number("poll_interval", self.poll_interval, problems)
        timeout = None
        if self.timeout not in (None, "", "None"):
            timeout = as_number("timeout", self.timeout, problems)
        batch_size = as_number("batch_size", self.batch_size, problems, integer=True)
        tolerate = self.tolerate_recipient_errors
        if isinstance(tolerate, str):
            tolerate = as_number("tolerate_recipient_errors", tolerate, problems, integer="." not in tolerate)
        if wait and not send:
            problems.append("wait_for_completion: needs send=True; a draft never completes")
        if not poll_interval > 0:
            problems.append(f"poll_interval: must be a positive number of seconds, got {self.poll_interval!r}")
        if timeout is not None and not timeout > 0:
            problems.append(f"timeout: must be a positive number of seconds or None, got {self.timeout!r}")
        if not 1 <= batch_size <= MAX_RECIPIENTS_PER_REQUEST:
            problems.append(
                f"batch_size: {self.batch_size!r} is outside 1..{MAX_RECIPIENTS_PER_REQUEST} "
                "(Kapso's limit of recipients per request)"
            )
        if isinstance(tolerate, bool) or not isinstance(tolerate, int | float) or not tolerate >= 0:
            problems.append(
                "tolerate_recipient_errors: must be a count >= 0 or a fraction 0..1, "
                f"got {self.tolerate_recipient_errors!r}"
            )
        elif isinstance(tolerate, float) and tolerate > 1:
            problems.append(f"tolerate_recipient_errors: a float is a fraction of the recipients, 0..1; got {tolerate}")
        if problems:
            raise KapsoInvalidMessageError(problems)
        return {
            "send": send,
            "wait": wait,
            "poll_interval": float(poll_interval),
            "timeout": timeout,
            "batch_size": int(batch_size),
            "tolerate": tolerate,
        }

    # -- recipients --

    def _items(self) -> Iterator[tuple[str, Any]]:
        from kapso_provider.bulk import recipient_items

        return recipient_items(self.recipients, self.recipients_file)

    def _checked_recipients(self) -> Iterator[tuple[str, dict[str, Any]]]:
        from kapso_provider.api.v1.broadcasts import check_broadcast_recipient

        for where, value in self._items():
            yield where, check_broadcast_recipient(value, where)

    def _check_all(self) -> int:
        """Check every recipient before the first request (a file is read once for this); return the count."""
        from kapso_provider.api.v1.broadcasts import check_broadcast_recipient
        from kapso_provider.bulk import MAX_PROBLEMS_LISTED
        from kapso_provider.exceptions import KapsoInvalidMessageError

        problems: list[str] = []
        count = 0
        for where, value in self._items():
            count += 1
            try:
                check_broadcast_recipient(value, where)
            except KapsoArgumentError as exc:
                problems.extend(exc.problems)
                if len(problems) >= MAX_PROBLEMS_LISTED:
                    problems.append("... (checking stopped here)")
                    break
        if not problems and count == 0:
            problems.append("recipients: none given; a broadcast needs at least one recipient")
        if problems:
            raise KapsoInvalidMessageError(problems)
        return count

    # -- finding an earlier try's broadcast --

    def _find_broadcast(self, since: datetime) -> dict[str, Any] | None:
        """The newest broadcast of this name, config and template created at or after ``since``, if any.

        Kapso takes no idempotency key and a broadcast has no field of ours to tag it with, so name, config,
        template and creation time are what tells an earlier try's broadcast from the others.
        """

        threshold = since - timedelta(seconds=self.hook.retry_policy.clock_skew)
        found: dict[str, Any] | None = None
        found_at: datetime | None = None
        # The list is documented as most recent first, but that order is not relied on: every page of this
        # config's and template's broadcasts is read (campaigns are few).
        for record in self.hook.list_broadcasts(
            whatsapp_config_id=self.whatsapp_config_id, whatsapp_template_id=self.whatsapp_template_id
        ):
            created_at = parse_time(record.get("created_at"))
            if record.get("name") != self.name or created_at is None or created_at < threshold:
                continue
            if found_at is None or created_at > found_at:
                found, found_at = record, created_at
        return found

    def _create(self, context: Context) -> dict[str, Any]:
        """The earlier try's broadcast on a retry, else a new draft (looked up after a lost answer)."""
        from datetime import UTC, datetime

        from kapso_provider.exceptions import KapsoServerError

        ti = context["ti"]
        if ti.try_number > 1:
            since = context["dag_run"].start_date or ti.start_date
            if since is not None:
                self.log.info("Try %d: looking for the broadcast an earlier try created", ti.try_number)
                earlier = self._find_broadcast(since)
                if earlier is not None:
                    self.log.info(
                        "Using broadcast %s (%s) that an earlier try created", earlier.get("id"), earlier.get("status")
                    )
                    return earlier
        started = datetime.now(UTC)
        try:
            created = self.hook.create_broadcast(
                name=self.name,
                whatsapp_config_id=self.whatsapp_config_id,
                whatsapp_template_id=self.whatsapp_template_id,
            )
        except KapsoServerError as exc:
            if not exc.may_have_been_processed:
                raise
            self.log.warning("%s; looking for the broadcast in Kapso", exc)
            found = self._find_broadcast(started)
            if found is None:
                # Not created (or not listed yet): the task's retry looks again before creating one.
                raise
            self.log.info("Kapso had created broadcast %s; not creating it again", found.get("id"))
            return found
        self.log.info("Created draft broadcast %s named %r", created.get("id"), self.name)
        return created

    # -- adding recipients --

    def _numbers_in(self, broadcast_id: str) -> set[str]:
        return {_digits(str(r.get("phone_number") or "")) for r in self.hook.list_broadcast_recipients(broadcast_id)}

    def _add_batch(self, broadcast_id: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Add one batch; after an answer that got lost, add only the part Kapso does not have yet."""
        from kapso_provider.exceptions import KapsoServerError

        try:
            return self.hook.add_broadcast_recipients(broadcast_id, batch)
        except KapsoServerError as exc:
            if not exc.may_have_been_processed:
                raise
            self.log.warning("%s; reading the broadcast's recipients before adding the batch again", exc)
        present = self._numbers_in(broadcast_id)
        missing = [r for r in batch if _digits(str(r.get("phone_number") or "")) not in present]
        if not missing:
            return {"added": len(batch), "duplicates": 0, "errors": []}
        # Recipients given by contact id cannot be told apart in the list (it shows numbers only); Kapso
        # counts those it already holds as duplicates.
        answer = self.hook.add_broadcast_recipients(broadcast_id, missing)
        return {**answer, "added": int(answer.get("added") or 0) + len(batch) - len(missing)}

    def _add_recipients(self, broadcast_id: str, *, total: int, batch_size: int, skip: set[str]) -> dict[str, Any]:
        """Add every recipient not in ``skip`` in batches; return counts and the refused recipients."""
        counts = {"added": 0, "duplicates": 0, "already_added": 0, "refused": 0}
        errors: list[str] = []
        batch: list[dict[str, Any]] = []
        wheres: list[str] = []
        batches = 0

        def flush() -> None:
            nonlocal batches
            batches += 1
            answer = self._add_batch(broadcast_id, batch)
            refused = [str(error) for error in answer.get("errors") or []]
            counts["added"] += int(answer.get("added") or 0)
            counts["duplicates"] += int(answer.get("duplicates") or 0)
            counts["refused"] += len(refused)
            for error in refused:
                if len(errors) < _ERRORS_LISTED:
                    # Kapso numbers a refused recipient within its request: name the batch's span too.
                    errors.append(f"batch {batches} ({wheres[0]} to {wheres[-1]}): {error}")
            self.log.info(
                "Recipients: %d of %d handled (batch %d: %d added, %d duplicates, %d refused)",
                sum(counts.values()),
                total,
                batches,
                int(answer.get("added") or 0),
                int(answer.get("duplicates") or 0),
                len(refused),
            )
            batch.clear()
            wheres.clear()

        for where, recipient in self._checked_recipients():
            phone = recipient.get("phone_number")
            if phone is not None and _digits(phone) in skip:
                counts["already_added"] += 1
                continue
            batch.append(recipient)
            wheres.append(where)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
        if counts["already_added"]:
            self.log.info("%d recipients were already in the broadcast from an earlier try", counts["already_added"])
        return {**counts, "errors": errors}

    # -- sending and waiting --

    def _send(self, broadcast_id: str) -> None:
        """Start the send; after a lost answer or a refusal, read the broadcast to see whether it started."""
        from kapso_provider.exceptions import KapsoServerError, KapsoValidationError

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

    def _wait(self, broadcast_id: str, *, poll_interval: float, timeout: float | None) -> dict[str, Any]:

        from kapso_provider.api.v1.broadcasts import FINAL_BROADCAST_STATUSES

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.hook.get_broadcast(broadcast_id)
            self._log_progress(record)
            if record.get("status") in FINAL_BROADCAST_STATUSES:
                return record
            if deadline is not None and time.monotonic() + poll_interval > deadline:
                # A retry finds this broadcast and waits again; it never sends it twice.
                raise AirflowException(
                    f"Broadcast {broadcast_id} is still {record.get('status')} after {timeout:g} s "
                    f"({record.get('pending_count')} recipients pending)"
                )
            time.sleep(poll_interval)

    # -- the task --

    def execute(self, context: Context) -> dict[str, Any]:

        from kapso_provider.exceptions import KapsoArgumentError, KapsoInvalidMessageError

        try:
            settings = self._settings()
            for field in ("name", "whatsapp_config_id", "whatsapp_template_id"):
                value = getattr(self, field)
                if not isinstance(value, str) or not value.strip():
                    raise KapsoInvalidMessageError([f"{field}: must be a non-empty string, got {value!r}"])
            # Every recipient is checked before the first request: a bad line 90,000 must not leave a
            # half-filled draft behind.
            total = self._check_all()
        except KapsoArgumentError as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        self.log.info("Broadcast %r to %d recipients, %d per request", self.name, total, settings["batch_size"])

        try:
            broadcast = self._create(context)
            broadcast_id = str(broadcast["id"])
            status = broadcast.get("status")
            if status == "failed":
                raise AirflowFailException(
                    f"Broadcast {broadcast_id} from an earlier try failed in Kapso; not sending it again"
                )
            if status == "draft":
                # A new draft has no recipients; an earlier try's may hold some: add only the others.
                skip = self._numbers_in(broadcast_id) if broadcast.get("total_recipients") else set()
                added = self._add_recipients(broadcast_id, total=total, batch_size=settings["batch_size"], skip=skip)
                tolerate = settings["tolerate"]
                tolerated = int(tolerate * total) if isinstance(tolerate, float) else tolerate
                if added["errors"]:
                    self.log.warning("Kapso refused %d recipients: %s", added["refused"], "; ".join(added["errors"]))
                if added["refused"] > tolerated:
                    # The same recipients would be refused again: a retry cannot help.
                    raise AirflowFailException(
                        f"Kapso refused {added['refused']} of {total} recipients (tolerated: {tolerated}); "
                        f"broadcast {broadcast_id} stays a draft, not sent. First refusals: "
                        + "; ".join(added["errors"][:10])
                    )
                if settings["send"]:
                    self._send(broadcast_id)
            else:
                self.log.info(
                    "Broadcast %s is %s already: not adding recipients nor sending again", broadcast_id, status
                )
            if settings["wait"]:
                record = self._wait(broadcast_id, poll_interval=settings["poll_interval"], timeout=settings["timeout"])
                if record.get("status") == "failed":
                    raise AirflowFailException(
                        f"Broadcast {broadcast_id} failed in Kapso: {record.get('failed_count')} of "
                        f"{record.get('total_recipients')} recipients failed, {record.get('sent_count')} sent"
                    )
            else:
                record = self.hook.get_broadcast(broadcast_id)
                self._log_progress(record)
        finally:
            self.hook.close()
        # A round trip through JSON guarantees XCom gets plain JSON whatever Kapso sent.
        result: dict[str, Any] = json.loads(json.dumps(record))
        return result


# Arguments whose rendered value is converted and checked by ``_settings``.
_SETTINGS = ("send", "wait_for_completion", "poll_interval", "timeout", "batch_size", "tolerate_recipient_errors")
