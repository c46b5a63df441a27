"""Operators that send WhatsApp messages through Kapso.

DAG files import this module on every parse, so it imports only Airflow's base operator: the hook (and
with it ``requests``) and the payload models load when a task runs or an operator checks its arguments.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator, conf

from kapso_provider.arguments import (
    MESSAGE_FIELDS,
    RECIPIENT_FIELDS,
    KapsoMessageArguments,
    as_bool,
    as_number,
    is_static,
    is_uuid,
    parse_time,
    plain_json,
)
from kapso_provider.exceptions import KapsoArgumentError, KapsoConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from airflow.providers.common.compat.sdk import Context, XComArg
    from airflow.triggers.base import BaseTrigger

    from kapso_provider.hooks.kapso import KapsoHook

__all__ = [
    "MESSAGE_FIELDS",
    "RECIPIENT_FIELDS",
    "BaseKapsoMessageOperator",
    "KapsoApprovalOperator",
    "KapsoAskOperator",
    "KapsoAssignConversationOperator",
    "KapsoBranchOnReplyOperator",
    "KapsoBroadcastOperator",
    "KapsoBulkSendMessageOperator",
    "KapsoCreateContactNoteOperator",
    "KapsoHookMixin",
    "KapsoRunAgentOperator",
    "KapsoRunFlowOperator",
    "KapsoSendMessageOperator",
    "KapsoSyncTemplatesOperator",
]


class KapsoHookMixin:
    """The ``hook`` every Kapso operator talks through, built from ``kapso_conn_id`` on first use.

    First use is in ``execute``, after Airflow rendered the templates, so a templated connection id works;
    the hook (and with it ``requests``) is imported only then.
    """

    kapso_conn_id: str

    @cached_property
    def hook(self) -> KapsoHook:
        """A hook on ``kapso_conn_id``."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)


class BaseKapsoMessageOperator(KapsoMessageArguments, KapsoHookMixin, BaseOperator):
    """The message arguments of every Kapso sending operator, and their checks.

    The arguments are those of :class:`~kapso_provider.arguments.KapsoMessageArguments`. They are
    listed again here because Airflow learns which arguments ``partial()`` and ``expand()`` accept from
    the signatures of the operator classes themselves.
    """

    ui_color = "#25d366"

    def __init__(
        self,
        *,
        message: Mapping[str, Any] | str | None = None,
        content: str | None = None,
        message_type: str | None = None,
        media_url: str | None = None,
        media_id: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        location_name: str | None = None,
        location_address: str | None = None,
        interactive_type: str | None = None,
        body_text: str | None = None,
        header_text: str | None = None,
        footer_text: str | None = None,
        buttons: Sequence[Mapping[str, Any]] | None = None,
        sections: Sequence[Mapping[str, Any]] | None = None,
        list_button_text: str | None = None,
        template_name: str | None = None,
        template_language: str | None = None,
        template_params: Sequence[str] | Mapping[str, Any] | None = None,
        header_type: str | None = None,
        header_params: str | None = None,
        header_filename: str | None = None,
        reaction_emoji: str | None = None,
        reacted_to_message_id: str | None = None,
        contacts: Sequence[Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            message=message,
            content=content,
            message_type=message_type,
            media_url=media_url,
            media_id=media_id,
            caption=caption,
            filename=filename,
            latitude=latitude,
            longitude=longitude,
            location_name=location_name,
            location_address=location_address,
            interactive_type=interactive_type,
            body_text=body_text,
            header_text=header_text,
            footer_text=footer_text,
            buttons=buttons,
            sections=sections,
            list_button_text=list_button_text,
            template_name=template_name,
            template_language=template_language,
            template_params=template_params,
            header_type=header_type,
            header_params=header_params,
            header_filename=header_filename,
            reaction_emoji=reaction_emoji,
            reacted_to_message_id=reacted_to_message_id,
            contacts=contacts,
            **kwargs,
        )


class KapsoSendMessageOperator(BaseKapsoMessageOperator):
    """Send one WhatsApp message through Kapso and return Kapso's message record.

    Name the recipient with exactly one of ``conversation_id`` or ``phone_number``. Give the message either
    field by field (the v1 ``message`` object's field names, ``message_type`` defaulting to ``text``) or
    whole as ``message``. Arguments without templates are checked when the DAG file is parsed; templated
    ones after rendering, before any request. The returned record (and so the XCom ``return_value``) is
    the API's ``data`` object as plain JSON, e.g. ``{"id": ..., "status": "sent", "whatsapp_message_id": ...}``.

    .. seealso::
        For the fields each message type takes and WhatsApp's limits, see the guide
        ``docs/operators.md`` and :mod:`kapso_provider.models`.

    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param conversation_id: the Kapso conversation to send into. (templated)
    :param phone_number: the recipient's number in international format; Kapso finds or opens the
        conversation. (templated)
    :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from. (templated)
    :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from. (templated)

    The message arguments (``message``, ``message_type``, ``content``, ``media_url`` and the rest of the
    v1 message object's fields, all templated) are those of
    :class:`~kapso_provider.arguments.KapsoMessageArguments`.
    """

    template_fields: Sequence[str] = ("kapso_conn_id", *RECIPIENT_FIELDS, "message", *MESSAGE_FIELDS)
    # Values are data, never file names: a caption ending in ".json" must stay a caption.
    template_ext: Sequence[str] = ()

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.conversation_id = conversation_id
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self._check_static_arguments()

    def _check_static_arguments(self) -> None:
        """Fail at DAG parse time for arguments that no template can change any more."""
        recipient = {name: getattr(self, name) for name in RECIPIENT_FIELDS}
        if all(is_static(value) for value in recipient.values()):
            from kapso_provider.recipients import check_recipient

            check_recipient(**recipient)
        if self.message_is_static():
            from kapso_provider.models import parse_message

            parse_message(self.message_object())

    def _earlier_send(self, message: Any, recipient: dict[str, Any], context: Context) -> dict[str, Any] | None:
        """On a retry, the record of the message an earlier try already got Kapso to store, if any.

        A worker can die after Kapso stored the message and before Airflow recorded the task's success;
        sending again would put a second copy on the customer's phone. Every message this task instance
        sent was created after its DAG run started, so that is where the search begins.
        """
        ti = context["ti"]
        if ti.try_number <= 1:
            return None
        dag_run = context["dag_run"]
        since = dag_run.start_date or ti.start_date
        if since is None:
            return None
        self.log.info("Try %d: looking for a message an earlier try sent before sending", ti.try_number)
        found = self.hook.find_sent_message(message, since=since, **recipient)
        if found is not None:
            self.log.info("An earlier try sent this message as %s; returning its record", found.get("id"))
        return found

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowFailException

        from kapso_provider.exceptions import KapsoArgumentError
        from kapso_provider.models import parse_message
        from kapso_provider.recipients import check_recipient

        recipient = {name: getattr(self, name) for name in RECIPIENT_FIELDS}
        try:
            check_recipient(**recipient)
            message = parse_message(self.message_object())
        except KapsoArgumentError as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc

        try:
            record = self._earlier_send(message, recipient, context) or self.hook.send_message(message, **recipient)
        finally:
            self.hook.close()
        self.log.info(
            "Kapso accepted %s message %s (status %s, WhatsApp id %s)",
            record.get("message_type", message.to_message_object()["message_type"]),
            record.get("id"),
            record.get("status"),
            record.get("whatsapp_message_id"),
        )
        # A round trip through JSON guarantees XCom gets plain JSON whatever Kapso sent.
        result: dict[str, Any] = json.loads(json.dumps(record))
        return result


class KapsoBulkSendMessageOperator(BaseKapsoMessageOperator):
    """Send one message design to many recipients from one task, at Kapso's rate limit, once each.

    Recipients come from ``recipients`` (a list, e.g. an upstream task's XCom, or a JSON array string) or
    from ``recipients_file`` (JSON lines, read lazily). Each item is a phone number (or, with
    ``recipient_field="conversation_id"``, a conversation id) or a dict with ``phone_number`` or
    ``conversation_id``, optionally ``whatsapp_config_id``/``customer_id``, and values for the message's
    ``${name}`` placeholders: ``content="Hi ${name}, see you at ${time}"`` or
    ``template_params={"name": "${name}"}``. Airflow's Jinja templates render first, once for the task;
    placeholders fill per recipient. Every recipient and its message is checked before the first request.

    Sends run ``max_concurrency`` at a time, spaced to stay under ``max_requests_per_minute`` and the
    limit Kapso reports in ``X-RateLimit-*`` headers. A send whose answer was lost is looked up before it
    is repeated, and on a task retry every recipient is looked up first, so a retry sends only what earlier
    tries did not. Progress (done, failed, rate, time left) is logged every ``progress_interval`` seconds.

    The task fails when more sends failed than ``tolerate_failures`` allows, naming the first failures.
    It returns (and pushes to XCom) a summary that stays small for any number of recipients:
    ``total``, ``sent``, ``already_sent``, ``failed``, ``not_attempted``, ``elapsed_seconds``,
    ``messages_per_minute``, ``failures`` (the first 100, each with index, recipient and error) and
    ``message_ids`` (one per recipient, in input order, for runs of at most 1,000 recipients; ``None``
    beyond; use ``results_file`` for every recipient's result).

    The message arguments are those of :class:`~kapso_provider.arguments.KapsoMessageArguments`.

    :param recipients: the recipients as a list or a JSON array string; excludes ``recipients_file``.
        (templated)
    :param recipients_file: path of a JSON-lines file with one recipient per line. (templated)
    :param recipient_field: what a plain string recipient is: ``phone_number`` (default) or
        ``conversation_id``.
    :param whatsapp_config_id: the WhatsApp number to send from, for phone recipients that name none.
        (templated)
    :param customer_id: the customer whose WhatsApp number to send from, for phone recipients that name
        none. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param max_concurrency: sends in flight at once, 1 to 64.
    :param max_requests_per_minute: a ceiling on the request rate below Kapso's own limit (which is
        learned from its answers), e.g. to leave room for other work on the same API key.
    :param tolerate_failures: failed sends that still let the task succeed: a count (``int``) or a
        fraction of the recipients (``float`` from 0 to 1).
    :param progress_interval: seconds between progress lines in the task log.
    :param max_consecutive_failures: stop early after this many failed sends in a row (a systematic error
        such as an unknown template); ``None`` never stops.
    :param results_file: path of a JSON-lines file to write every recipient's result to. (templated)
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "recipients",
        "recipients_file",
        "whatsapp_config_id",
        "customer_id",
        "results_file",
        "message",
        *MESSAGE_FIELDS,
    )
    template_ext: Sequence[str] = ()

    def __init__(
        self,
        *,
        recipients: Sequence[str | Mapping[str, Any]] | str | XComArg | None = None,
        recipients_file: str | XComArg | None = None,
        recipient_field: str = "phone_number",
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        kapso_conn_id: str = "kapso_default",
        max_concurrency: int = 16,
        max_requests_per_minute: float | None = None,
        tolerate_failures: int | float = 0,
        progress_interval: float = 30.0,
        max_consecutive_failures: int | None = 100,
        results_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.recipients_file = recipients_file
        self.recipient_field = recipient_field
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.kapso_conn_id = kapso_conn_id
        self.max_concurrency = max_concurrency
        self.max_requests_per_minute = max_requests_per_minute
        self.tolerate_failures = tolerate_failures
        self.progress_interval = progress_interval
        self.max_consecutive_failures = max_consecutive_failures
        self.results_file = results_file
        self._check_settings()
        if self.message_is_static():
            from kapso_provider.bulk import MessageDesign

            MessageDesign(self.message_object())

    def _check_settings(self) -> None:
        from kapso_provider.exceptions import KapsoInvalidMessageError

        problems = []
        if (self.recipients is None) == (self.recipients_file is None):
            problems.append("recipients: give exactly one of recipients or recipients_file")
        if self.recipient_field not in ("phone_number", "conversation_id"):
            problems.append(
                f"recipient_field: must be 'phone_number' or 'conversation_id', got {self.recipient_field!r}"
            )
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int):
            problems.append(f"max_concurrency: must be an int from 1 to 64, got {self.max_concurrency!r}")
        elif not 1 <= self.max_concurrency <= 64:
            problems.append(f"max_concurrency: {self.max_concurrency} is outside 1..64")
        if self.max_requests_per_minute is not None and not self.max_requests_per_minute > 0:
            problems.append(f"max_requests_per_minute: must be positive, got {self.max_requests_per_minute!r}")
        tolerate = self.tolerate_failures
        if isinstance(tolerate, bool) or not isinstance(tolerate, int | float) or tolerate < 0:
            problems.append(f"tolerate_failures: must be a count >= 0 or a fraction 0..1, got {tolerate!r}")
        elif isinstance(tolerate, float) and tolerate > 1:
            problems.append(f"tolerate_failures: a float is a fraction of the recipients, 0..1; got {tolerate}")
        if not self.progress_interval > 0:
            problems.append(f"progress_interval: must be positive seconds, got {self.progress_interval!r}")
        if self.max_consecutive_failures is not None and self.max_consecutive_failures < 1:
            problems.append(f"max_consecutive_failures: must be at least 1, got {self.max_consecutive_failures}")
        if problems:
            raise KapsoInvalidMessageError(problems)

    def _items(self) -> Iterator[tuple[str, Any]]:
        from kapso_provider.bulk import recipient_items

        return recipient_items(self.recipients, self.recipients_file)

    def _tolerated(self, total: int) -> int:
        if isinstance(self.tolerate_failures, float):
            return int(self.tolerate_failures * total)
        return self.tolerate_failures

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

        from kapso_provider.bulk import BulkSender, MessageDesign, check_all, recipients_from
        from kapso_provider.exceptions import KapsoArgumentError

        defaults = {"whatsapp_config_id": self.whatsapp_config_id, "customer_id": self.customer_id}
        try:
            design = MessageDesign(self.message_object())
            # Every recipient is checked before the first request: a bad line 90,000 must not stop a run
            # that already messaged 89,999 people.
            total = check_all(self._items(), design=design, recipient_field=self.recipient_field, defaults=defaults)
        except KapsoArgumentError as exc:
            raise AirflowFailException(str(exc)) from exc
        self.log.info("Bulk send to %d recipients, %d at a time", total, self.max_concurrency)

        ti = context["ti"]
        since = None
        if ti.try_number > 1:
            since = context["dag_run"].start_date or ti.start_date
            self.log.info(
                "Try %d: each recipient is looked up before sending, to skip earlier tries' sends", ti.try_number
            )
        sender = BulkSender(
            hook=self.hook,
            design=design,
            max_concurrency=self.max_concurrency,
            max_requests_per_minute=self.max_requests_per_minute,
            earlier_try_since=since,
            progress_interval=self.progress_interval,
            max_consecutive_failures=self.max_consecutive_failures,
            results_file=self.results_file,
            log=self.log,
        )
        try:
            summary = sender.run(
                recipients_from(self._items(), recipient_field=self.recipient_field, defaults=defaults), total=total
            )
        finally:
            self.hook.close()

        result = summary.to_json()
        unfinished = summary.failed + (summary.total - summary.done)
        if unfinished > self._tolerated(total):
            listed = "; ".join(f"{f['recipient']}: {f['error']}" for f in summary.failures[:10])
            raise AirflowException(
                f"{summary.failed} of {total} sends failed and {total - summary.done} were not attempted "
                f"(tolerated: {self._tolerated(total)}). First failures: {listed or 'none'}"
            )
        return result


def _assignment_problems(arguments: dict[str, Any]) -> list[str]:
    """What is wrong with the given assignment arguments, one line per field (no I/O, no heavy import).

    :param arguments: some or all of ``conversation_id``, ``user_id`` and ``notes``; absent ones are not checked.
    """
    problems = []
    if "conversation_id" in arguments:
        value = arguments["conversation_id"]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"conversation_id: must be a non-empty string, got {value!r}")
    if "user_id" in arguments and not is_uuid(arguments["user_id"]):
        # Kapso's user ids are UUIDs (format: uuid in both files); a name or an e-mail would get a 422.
        problems.append(f"user_id: must be the Kapso user's id (a UUID), got {arguments['user_id']!r}")
    if "notes" in arguments and arguments["notes"] is not None and not isinstance(arguments["notes"], str):
        problems.append(f"notes: must be a string, got {type(arguments['notes']).__name__}")
    return problems


class KapsoAssignConversationOperator(KapsoHookMixin, BaseOperator):
    """Assign a Kapso conversation to a member of the project and return the assignment record.

    If the conversation's active assignment already belongs to ``user_id`` (an earlier try of this task,
    or someone in Kapso's inbox), that assignment is returned and nothing is created: running the task
    again never fails on Kapso's "conversation already assigned". An active assignment to someone else is
    left to Kapso, which refuses the new one (422); hand it over with
    :meth:`~kapso_provider.hooks.kapso.KapsoHook.update_assignment` instead.

    The returned record (the XCom ``return_value``) is plain JSON, e.g.
    ``{"id": ..., "user_id": ..., "active": true, "notes": ..., "created_at": ...}``.

    :param conversation_id: the Kapso conversation to assign. (templated)
    :param user_id: the Kapso user's id (a UUID). (templated)
    :param notes: notes kept with the assignment. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "conversation_id", "user_id", "notes")
    # Values are data, never file names: notes ending in ".sql" must stay notes.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        conversation_id: str,
        user_id: str,
        notes: str | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.notes = notes
        self.kapso_conn_id = kapso_conn_id
        self._check_static_arguments()

    def _check_static_arguments(self) -> None:
        """Fail at DAG parse time for arguments that no template can change any more."""
        problems = _assignment_problems({name: value for name, value in self._arguments().items() if is_static(value)})
        if problems:
            raise ValueError("Invalid Kapso assignment: " + "; ".join(problems))

    def _arguments(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "user_id": self.user_id, "notes": self.notes}

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowFailException

        problems = _assignment_problems(self._arguments())
        if problems:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException("Invalid Kapso assignment: " + "; ".join(problems))

        try:
            record = self._current_assignment() or self.hook.create_assignment(
                self.conversation_id, user_id=self.user_id, notes=self.notes
            )
        finally:
            self.hook.close()
        self.log.info(
            "Conversation %s is assigned to user %s (assignment %s)",
            self.conversation_id,
            record.get("user_id"),
            record.get("id"),
        )
        # A round trip through JSON guarantees XCom gets plain JSON whatever Kapso sent.
        result: dict[str, Any] = json.loads(json.dumps(record))
        return result

    def _current_assignment(self) -> dict[str, Any] | None:
        """The conversation's active assignment to ``user_id``, if it has one already."""
        for record in self.hook.list_assignments(self.conversation_id):
            if record.get("active") and record.get("user_id") == self.user_id:
                self.log.info("Assignment %s to this user is active already; not creating another", record.get("id"))
                return record
        return None


# A contact given as a phone number, as people write one; anything else is taken for a contact id.
_PHONE_LIKE = re.compile(r"\+?[0-9 ().-]+")


def _check_optional_id(field: str, value: object, problems: list[str]) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        problems.append(f"{field}: must be a non-empty string, got {value!r}")


class KapsoSyncTemplatesOperator(KapsoHookMixin, BaseOperator):
    """Sync WhatsApp templates from Meta into Kapso and, by default, wait until the sync has finished.

    Kapso queues one sync per WhatsApp Business Account (``POST /whatsapp_templates/sync``) and runs at most
    one at a time per account: when a sync of an account is already running, Kapso hands back that one,
    so starting this task twice never doubles the work. While waiting, the task reads the syncs' status
    (``GET /whatsapp_templates/sync_status``) every ``poll_interval`` seconds and logs their progress.

    Returns (and pushes to XCom) plain JSON: when waiting, the final status answer,
    ``{"sync_requests": [...], "summary": {...}}``, each sync request with its ``status`` (``succeeded``),
    ``templates_synced``, ``templates_created``, ``templates_updated`` and ``templates_removed``; without
    waiting, Kapso's answer to the sync request (``status``, ``sync_requests``, ``summary``).

    :param whatsapp_config_id: sync the account of this WhatsApp number only. (templated)
    :param customer_id: sync the accounts of every production number of this customer; without either,
        every production number of the project. (templated)
    :param wait_for_completion: wait until every sync has succeeded or failed. (templated)
    :param poll_interval: seconds between two status reads while waiting. (templated)
    :param timeout: seconds to wait at most; the task fails when a sync is still running then. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :raises AirflowException: a sync failed (its account, error class and message are named) or did not
        finish within ``timeout``.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "whatsapp_config_id",
        "customer_id",
        "wait_for_completion",
        "poll_interval",
        "timeout",
    )
    # Values are data, never file names.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        wait_for_completion: bool | str = True,
        poll_interval: float | str = 30.0,
        timeout: float | str = 1800.0,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.kapso_conn_id = kapso_conn_id
        if all(is_static(getattr(self, name)) for name in self.template_fields):
            self._settings()

    def _settings(self) -> tuple[bool, float, float]:
        """The checked arguments: wait or not, poll interval and timeout in seconds.

        :raises KapsoInvalidMessageError: naming every bad argument.
        """
        from kapso_provider.exceptions import KapsoInvalidMessageError

        problems: list[str] = []
        _check_optional_id("whatsapp_config_id", self.whatsapp_config_id, problems)
        _check_optional_id("customer_id", self.customer_id, problems)
        if self.whatsapp_config_id is not None and self.customer_id is not None:
            problems.append("whatsapp_config_id, customer_id: give at most one of them")
        wait = as_bool("wait_for_completion", self.wait_for_completion, problems)
        poll_interval = as_number("poll_interval", self.poll_interval, problems, minimum=0, unit="seconds")
        timeout = as_number("timeout", self.timeout, problems, minimum=0, unit="seconds")
        if problems:
            raise KapsoInvalidMessageError(problems)
        return wait, poll_interval, timeout

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowFailException

        from kapso_provider.exceptions import KapsoArgumentError

        try:
            wait, poll_interval, timeout = self._settings()
        except KapsoArgumentError as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        try:
            started = self.hook.sync_templates(whatsapp_config_id=self.whatsapp_config_id, customer_id=self.customer_id)
            runs = [run for run in started.get("sync_requests") or [] if isinstance(run, Mapping)]
            summary = started.get("summary") or {}
            self.log.info(
                "Kapso template sync: %d sync request(s) for Business Account(s) %s (%s new, %s already running)",
                len(runs),
                ", ".join(str(run.get("business_account_id")) for run in runs) or "-",
                summary.get("jobs_enqueued", "?"),
                summary.get("already_in_progress", "?"),
            )
            if not wait:
                result: dict[str, Any] = plain_json(started)
                return result
            return self._wait(runs, poll_interval=poll_interval, timeout=timeout)
        finally:
            self.hook.close()

    def _wait(self, runs: list[Mapping[str, Any]], *, poll_interval: float, timeout: float) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowException

        from kapso_provider.api.v1.templates import SYNC_FINAL_STATUSES

        ids = [str(run["id"]) for run in runs if run.get("id")]
        if not ids:
            raise AirflowException(f"Kapso answered the template sync with no sync request id: {runs!r}")
        deadline = time.monotonic() + timeout
        while True:
            status = self.hook.get_template_sync_status(sync_request_ids=ids)
            current = {str(run.get("id")): run for run in status.get("sync_requests") or [] if isinstance(run, Mapping)}
            # A run missing from the answer has not been seen to finish: it counts as unfinished.
            unfinished = [run_id for run_id in ids if current.get(run_id, {}).get("status") not in SYNC_FINAL_STATUSES]
            self.log.info(
                "Kapso template sync: %d of %d finished (%s); %d templates synced so far",
                len(ids) - len(unfinished),
                len(ids),
                ", ".join(f"{run_id}: {current.get(run_id, {}).get('status', 'unknown')}" for run_id in ids),
                sum(int(run.get("templates_synced") or 0) for run in current.values()),
            )
            if not unfinished:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AirflowException(
                    f"Kapso template sync not finished after {timeout:g} s: "
                    + ", ".join(
                        f"{run_id} is {current.get(run_id, {}).get('status', 'unknown')}" for run_id in unfinished
                    )
                )
            time.sleep(min(poll_interval, remaining))
        failed = [current[run_id] for run_id in ids if current[run_id].get("status") == "failed"]
        if failed:
            raise AirflowException(
                "Kapso template sync failed: "
                + "; ".join(
                    f"Business Account {run.get('business_account_id')} (sync {run.get('id')}): "
                    f"{run.get('error_class') or 'error'}: {run.get('error_message') or 'no error message'}"
                    for run in failed
                )
            )
        for run in current.values():
            self.log.info(
                "Business Account %s: %s templates synced (%s created, %s updated, %s removed)",
                run.get("business_account_id"),
                run.get("templates_synced"),
                run.get("templates_created"),
                run.get("templates_updated"),
                run.get("templates_removed"),
            )
        result: dict[str, Any] = plain_json(status)
        return result


class KapsoCreateContactNoteOperator(KapsoHookMixin, BaseOperator):
    """Add a note to a Kapso contact, e.g. what a campaign sent them, and return the note.

    ``contact`` is the contact's Kapso id or its phone number: Kapso's contact endpoints take either in
    the path (``POST /whatsapp_contacts/{identifier}/notes``), so no lookup request is needed. A phone number
    is sent as its digits, the contact's ``wa_id``. Kapso keeps a contact for every number it has talked
    with; a number it does not know fails the task with Kapso's 404.

    On a retry, the contact's notes are read first: a note with the same content, name and metadata
    created since the DAG run started is returned instead of adding a duplicate (Kapso takes no
    idempotency key, and an earlier try may have stored the note before failing).

    Returns (and pushes to XCom) the note as plain JSON: ``id``, ``name``, ``content``, ``metadata``,
    ``created_at``, ``updated_at``.

    :param contact: the contact's id, or its phone number in international format. (templated)
    :param content: the note's text. (templated)
    :param name: an optional title for the note. (templated)
    :param metadata: free-form data kept with the note, a dict. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "contact", "content", "name", "metadata")
    # Values are data, never file names: a note ending in ".json" must stay a note.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        contact: str,
        content: str,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.contact = contact
        self.content = content
        self.name = name
        self.metadata = metadata
        self.kapso_conn_id = kapso_conn_id
        if all(is_static(getattr(self, field)) for field in ("contact", "content", "name", "metadata")):
            self._check_arguments()

    def _check_arguments(self) -> None:
        """Fail at DAG parse time (or after rendering) for arguments Kapso would refuse.

        :raises KapsoInvalidMessageError: naming every bad argument.
        """
        from kapso_provider.exceptions import KapsoInvalidMessageError
        from kapso_provider.recipients import phone_number_problem

        problems: list[str] = []
        contact = self.contact
        if not isinstance(contact, str) or not contact.strip():
            problems.append(f"contact: must be a contact id or a phone number, got {contact!r}")
        elif _PHONE_LIKE.fullmatch(contact.strip()):
            problem = phone_number_problem(contact.strip())
            if problem:
                problems.append(f"contact: {problem}")
        if not isinstance(self.content, str) or not self.content.strip():
            problems.append(f"content: must be a non-empty string, got {self.content!r}")
        _check_optional_id("name", self.name, problems)
        if self.metadata is not None and not isinstance(self.metadata, Mapping):
            problems.append(f"metadata: must be a dict, got {type(self.metadata).__name__}")
        if problems:
            raise KapsoInvalidMessageError(problems)

    def _earlier_note(self, context: Context) -> dict[str, Any] | None:
        """On a retry, the note an earlier try of this task already got Kapso to store, if any.

        Kapso takes no idempotency key: a try that died after Kapso stored the note (or whose answer was
        lost) would otherwise leave a duplicate. A note of this task run was created after its DAG run
        started, with the same content, name and metadata.
        """
        ti = context.get("ti")
        dag_run = context.get("dag_run")
        if ti is None or ti.try_number <= 1:
            return None
        since = (dag_run.start_date if dag_run is not None else None) or ti.start_date
        if since is None:
            return None
        # Kapso's clock may trail this machine's a little.
        threshold = since - timedelta(minutes=2)
        expected = (self.content, self.name, dict(self.metadata or {}))
        self.log.info("Try %d: looking for a note an earlier try stored before creating one", ti.try_number)
        for note in self.hook.list_contact_notes(self.contact):
            created_at = parse_time(note.get("created_at"))
            same = (note.get("content"), note.get("name"), note.get("metadata") or {}) == expected
            if same and created_at is not None and created_at >= threshold:
                self.log.info("An earlier try stored this note as %s; returning it", note.get("id"))
                return note
        return None

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowFailException

        from kapso_provider.exceptions import KapsoArgumentError

        try:
            self._check_arguments()
        except KapsoArgumentError as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        try:
            note = self._earlier_note(context) or self.hook.create_contact_note(
                self.contact, content=self.content, name=self.name, metadata=self.metadata
            )
        finally:
            self.hook.close()
        self.log.info("Kapso stored contact note %s", note.get("id"))
        result: dict[str, Any] = plain_json(note)
        return result


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
        from kapso_provider.exceptions import KapsoArgumentError, KapsoInvalidMessageError

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
        from datetime import timedelta

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
        from airflow.providers.common.compat.sdk import AirflowException

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
        from airflow.providers.common.compat.sdk import AirflowFailException

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


# Extra time the triggerer grants a deferred wait beyond its own deadline, so that the trigger's timeout
# event (which names the last status) arrives before Airflow's generic deferral timeout.
_DEFERRAL_GRACE_SECONDS = 60.0
# How much of Kapso's record a failure message quotes: enough for its status and error fields.
_RECORD_TEXT_LIMIT = 1000


def _record_text(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return text if len(text) <= _RECORD_TEXT_LIMIT else text[: _RECORD_TEXT_LIMIT - 3] + "..."


def _check_wait_settings(poll_interval: object, timeout: object) -> None:
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float) or not poll_interval > 0:
        raise KapsoConfigurationError(f"poll_interval: {poll_interval!r} must be a positive number of seconds.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0):
        raise KapsoConfigurationError(f"timeout: {timeout!r} must be a positive number of seconds, or None.")


def _check_config_id(value: object) -> None:
    """``whatsapp_config_id`` is ``None`` or a UUID, as ``openapi-agents.yaml`` declares it."""
    if value is not None and not is_uuid(str(value)):
        raise KapsoConfigurationError(f"whatsapp_config_id: must be a UUID (Kapso's config id), got {value!r}.")


def _seconds(value: float | timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


class _KapsoRunExecutionOperator(KapsoHookMixin, BaseOperator):
    """Start an execution, then (optionally) wait for its final status in the worker or the triggerer."""

    kind: ClassVar[str]
    ui_color = "#25d366"
    # Values are data, never file names: a message ending in ".json" must stay a message.
    template_ext: Sequence[str] = ()

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = _seconds(poll_interval)
        self.timeout = _seconds(timeout)
        _check_wait_settings(self.poll_interval, self.timeout)

    # -- what each kind of execution defines --

    def _check_arguments(self) -> None:
        """Check the rendered arguments; raise :class:`KapsoConfigurationError` naming the field."""
        raise NotImplementedError

    def _start(self, context: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Start (or, on a retry, find) the execution: ``(what to return without waiting, record or None)``."""
        raise NotImplementedError

    def _read(self, record: dict[str, Any] | None, started: dict[str, Any]) -> dict[str, Any] | None:
        """Read the execution once; ``None`` while it cannot be seen yet."""
        raise NotImplementedError

    def _trigger(self, record: dict[str, Any] | None, started: dict[str, Any], deadline: float | None) -> BaseTrigger:
        raise NotImplementedError

    def _name(self, record: Mapping[str, Any] | None, started: Mapping[str, Any]) -> str:
        raise NotImplementedError

    # -- the shared run --

    def _finished(self, record: dict[str, Any], name: str) -> dict[str, Any] | None:
        """The record when the execution completed; raises when it failed; ``None`` while it runs."""
        from kapso_provider.api.v1.agents import execution_outcome

        outcome = execution_outcome(self.kind, record)
        status = record.get("status")
        if outcome == "failed":
            # Another try would start (or find) the same failed work: fail without retries.
            raise AirflowFailException(
                f"Kapso {self.kind} execution {name} finished with status {status!r}. "
                f"Kapso's record: {_record_text(record)}"
            )
        if outcome == "completed":
            self.log.info("Kapso %s execution %s finished with status %s", self.kind, name, status)
            result: dict[str, Any] = plain_json(record)
            return result
        return None

    def _timeout_error(self, name: str, last_status: str | None) -> AirflowException:
        # Retryable on purpose: a retry finds the running execution (where the API allows it) and waits on.
        return AirflowException(
            f"Kapso {self.kind} execution {name} did not finish within {self.timeout:g} s "
            f"(last status: {last_status or 'not seen yet'})."
        )

    def execute(self, context: Context) -> Any:
        """Start the execution; without waiting return what Kapso answered, else wait for its outcome."""
        try:
            self._check_arguments()
        except (KapsoConfigurationError, KapsoArgumentError) as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        started_at = time.time()
        try:
            started, record = self._start(context)
            if not self.wait_for_completion:
                return plain_json(started)
            return self._wait(context, started, record, started_at)
        finally:
            self.hook.close()

    def _wait(self, context: Context, started: dict[str, Any], record: dict[str, Any] | None, started_at: float) -> Any:
        deadline = None if self.timeout is None else started_at + self.timeout
        poll_interval = float(self.poll_interval or 0)
        while True:
            if record is not None:
                name = self._name(record, started)
                finished = self._finished(record, name)
                if finished is not None:
                    return finished
                self.log.info("Kapso %s execution %s is %s; waiting", self.kind, name, record.get("status"))
            if self.deferrable:
                # Read once (above) before deferring: a quick execution never reaches the triggerer.
                self.defer(
                    trigger=self._trigger(record, started, deadline),
                    method_name="execute_complete",
                    timeout=None if self.timeout is None else timedelta(seconds=self.timeout + _DEFERRAL_GRACE_SECONDS),
                )
            if deadline is not None and time.time() >= deadline:
                status = None if record is None else record.get("status")
                raise self._timeout_error(self._name(record, started), status)
            wait = poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - time.time()))
            time.sleep(wait)
            record = self._read(record, started) or record

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred wait from the trigger's event: the final record, or the failure it reports.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        if not isinstance(event, Mapping):
            raise AirflowException(f"{type(self).__name__} resumed without a trigger event (got {event!r}).")
        record = event.get("execution")
        status = event.get("status")
        name = str(event.get("execution_id") or event.get("tracking_id") or "")
        if status in ("completed", "failed") and isinstance(record, dict):
            finished = self._finished(record, name)
            if finished is not None:
                return finished
        if status == "timeout":
            raise self._timeout_error(name, event.get("last_status"))
        raise AirflowException(
            f"Waiting for Kapso {self.kind} execution {name} failed: "
            f"{event.get('error') or f'unexpected event {status!r}'}"
        )


class KapsoRunAgentOperator(_KapsoRunExecutionOperator):
    """Start a Kapso AI agent's execution and, by default, wait for its outcome.

    The execution is final when Kapso reports ``ended`` or ``handoff`` (the agent handed the conversation to
    a person): the operator returns the final execution record as plain JSON (pushed to XCom). ``failed``
    or ``stopped`` fail the task at once, without retries, quoting the status and Kapso's record.
    ``started``, ``running`` and ``paused`` (the agent waits for the customer's reply) keep it waiting, so
    set ``timeout`` for conversations that may stall. Without waiting, it returns the execution record the
    start answered.

    On a retry (``try_number > 1``) with a ``phone_number``, it first lists the agent's executions for that
    number started since the DAG run began (``q[phone_number_eq]``, ``q[started_at_gteq]``) and, when it
    finds one, waits on the newest instead of starting another: Kapso takes no idempotency key, and a
    worker can die after Kapso accepted the start. Without ``phone_number`` nothing ties an execution to
    this task, so a retry starts a new one.

    :param agent_id: the agent's id. (templated)
    :param message: the first message: text, or ``{"type": "user_input" | "payload", "content": {...}}``.
        (templated)
    :param phone_number: the WhatsApp number the agent talks to, e.g. ``+15551234567``. (templated)
    :param whatsapp_config_id: the WhatsApp number (config UUID) to talk from. (templated)
    :param wait_for_completion: wait for a final status (default) or return right after the start.
    :param deferrable: wait in the triggerer
        (:class:`~kapso_provider.triggers.kapso.KapsoAgentExecutionTrigger`); defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds (or a ``timedelta``) between two reads of the execution.
    :param timeout: seconds (or a ``timedelta``) to wait before failing (retryably); ``None`` waits as
        long as the task may run.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    """

    kind = "agent"
    template_fields: Sequence[str] = ("kapso_conn_id", "agent_id", "message", "phone_number", "whatsapp_config_id")

    def __init__(
        self,
        *,
        agent_id: str,
        message: str | Mapping[str, Any],
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kapso_conn_id=kapso_conn_id,
            wait_for_completion=wait_for_completion,
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=timeout,
            **kwargs,
        )
        self.agent_id = agent_id
        self.message = message
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id

    def _check_arguments(self) -> None:
        from kapso_provider.api.v1.agents import agent_message

        if not isinstance(self.agent_id, str) or not self.agent_id.strip():
            raise KapsoConfigurationError(f"agent_id: must be a non-empty string, got {self.agent_id!r}.")
        message: Any = self.message
        if isinstance(message, str) and message.lstrip().startswith("{"):
            # A Jinja template renders to text unless the DAG renders native objects: take JSON text of a
            # structured message as that message, and any other text as the text to send.
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and parsed and set(parsed) <= {"type", "content"}:
                message = parsed
        self.message = agent_message(message)
        if self.phone_number is not None and (not isinstance(self.phone_number, str) or not self.phone_number.strip()):
            raise KapsoConfigurationError(
                f"phone_number: must be a non-empty string or None, got {self.phone_number!r}."
            )
        _check_config_id(self.whatsapp_config_id)

    def _earlier_execution(self, context: Context) -> dict[str, Any] | None:
        ti = context["ti"]
        if ti.try_number <= 1:
            return None
        if self.phone_number is None:
            self.log.warning(
                "Try %d: without phone_number no execution can be tied to this task; starting a new one",
                ti.try_number,
            )
            return None
        since: datetime | None = context["dag_run"].start_date or ti.start_date
        if since is None:
            return None
        since -= timedelta(seconds=self.hook.retry_policy.clock_skew)
        self.log.info("Try %d: looking for an execution an earlier try started before starting one", ti.try_number)
        candidates = list(
            self.hook.list_agent_executions(self.agent_id, phone_number=self.phone_number, started_after=since)
        )
        if not candidates:
            return None
        newest = max(candidates, key=lambda record: str(record.get("started_at") or ""))
        self.log.info(
            "Found %d execution(s) of agent %s for %s since the DAG run began; continuing with %s",
            len(candidates),
            self.agent_id,
            self.phone_number,
            newest.get("id"),
        )
        return newest

    def _start(self, context: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
        record = self._earlier_execution(context)
        if record is None:
            record = self.hook.start_agent_execution(
                self.agent_id,
                message=self.message,
                phone_number=self.phone_number,
                whatsapp_config_id=self.whatsapp_config_id,
            )
            self.log.info(
                "Kapso started execution %s of agent %s (status %s)",
                record.get("id"),
                self.agent_id,
                record.get("status"),
            )
        return record, record

    def _read(self, record: dict[str, Any] | None, started: dict[str, Any]) -> dict[str, Any] | None:
        return self.hook.get_agent_execution(self.agent_id, str(started["id"]))

    def _trigger(self, record: dict[str, Any] | None, started: dict[str, Any], deadline: float | None) -> BaseTrigger:
        from kapso_provider.triggers.kapso import KapsoAgentExecutionTrigger

        return KapsoAgentExecutionTrigger(
            agent_id=self.agent_id,
            execution_id=str(started["id"]),
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=float(self.poll_interval or 0),
            deadline=deadline,
            last_status=None if record is None else record.get("status"),
        )

    def _name(self, record: Mapping[str, Any] | None, started: Mapping[str, Any]) -> str:
        return str(started.get("id"))


class KapsoRunFlowOperator(_KapsoRunExecutionOperator):
    """Start a Kapso flow for one customer and, by default, wait for its outcome.

    The flow needs an active API trigger. Kapso queues the start and answers a ``tracking_id``; the
    operator finds the execution carrying it among the flow's executions and polls it until ``ended``
    (it returns the final execution record as plain JSON) or ``failed`` (the task fails at once, without
    retries, quoting Kapso's record). ``running`` and ``waiting`` (the flow waits for the customer) keep it
    waiting. Without waiting, it returns Kapso's answer to the start: ``{"flow_id", "tracking_id",
    "message"}``.

    Both OpenAPI files require ``phone_number`` to start a flow, so the operator does too. A retry starts a
    new execution: a flow execution records neither the phone number nor anything else the start sent that
    would tie it to this task, so an earlier try's execution cannot be told apart from another one.

    :param flow_id: the flow's id (a UUID). (templated)
    :param phone_number: the customer's number, ``+`` and digits, e.g. ``+15551234567``. (templated)
    :param variables: variables to pass to the flow (a mapping, or JSON text). (templated)
    :param context: additional context for the execution (a mapping, or JSON text). (templated)
    :param whatsapp_config_id: the WhatsApp number (config UUID) to run on. (templated)
    :param wait_for_completion: wait for a final status (default) or return right after the start.
    :param deferrable: wait in the triggerer
        (:class:`~kapso_provider.triggers.kapso.KapsoFlowExecutionTrigger`); defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds (or a ``timedelta``) between two reads of the execution.
    :param timeout: seconds (or a ``timedelta``) to wait before failing (retryably); ``None`` waits as
        long as the task may run.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    """

    kind = "flow"
    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "flow_id",
        "phone_number",
        "variables",
        "execution_context",
        "whatsapp_config_id",
    )

    def __init__(
        self,
        *,
        flow_id: str,
        phone_number: str,
        variables: Mapping[str, Any] | str | None = None,
        context: Mapping[str, Any] | str | None = None,
        whatsapp_config_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kapso_conn_id=kapso_conn_id,
            wait_for_completion=wait_for_completion,
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=timeout,
            **kwargs,
        )
        self.flow_id = flow_id
        self.phone_number = phone_number
        self.variables = variables
        # Not "context": that name would shadow the task context in templates and execute().
        self.execution_context = context
        self.whatsapp_config_id = whatsapp_config_id
        self._since: str | None = None
        self._variables: dict[str, Any] | None = None
        self._context: dict[str, Any] | None = None

    @staticmethod
    def _object(name: str, value: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise KapsoConfigurationError(
                    f"{name}: rendered to text that is not JSON; pass a mapping, or set "
                    "render_template_as_native_obj=True on the DAG."
                ) from None
        if value is not None and not isinstance(value, Mapping):
            raise KapsoConfigurationError(f"{name}: must be a mapping, got {type(value).__name__}.")
        return None if value is None else plain_json(dict(value))

    def _check_arguments(self) -> None:
        from kapso_provider.api.v1.agents import check_flow_phone_number

        if not is_uuid(str(self.flow_id)):
            raise KapsoConfigurationError(f"flow_id: must be a UUID (Kapso's flow id), got {self.flow_id!r}.")
        check_flow_phone_number(self.phone_number)
        _check_config_id(self.whatsapp_config_id)
        self._variables = self._object("variables", self.variables)
        self._context = self._object("context", self.execution_context)

    def _start(self, context: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
        ti = context["ti"]
        if ti.try_number > 1:
            self.log.warning(
                "Try %d: Kapso's flow executions cannot be tied to an earlier try; starting a new execution",
                ti.try_number,
            )
        # Kapso stamps started_at on its own clock: start looking a little earlier than now.
        since = datetime.now().astimezone() - timedelta(seconds=self.hook.retry_policy.clock_skew)
        self._since = since.isoformat()
        answer = self.hook.start_flow_execution(
            self.flow_id,
            phone_number=self.phone_number,
            variables=self._variables,
            context=self._context,
            whatsapp_config_id=self.whatsapp_config_id,
        )
        self.log.info("Kapso queued flow %s (tracking id %s)", self.flow_id, answer.get("tracking_id"))
        if not self.wait_for_completion:
            return answer, None
        return answer, self._read(None, answer)

    def _read(self, record: dict[str, Any] | None, started: dict[str, Any]) -> dict[str, Any] | None:
        if record is not None:
            return self.hook.get_flow_execution(str(record["id"]))
        found = self.hook.find_flow_execution(self.flow_id, str(started["tracking_id"]), started_after=self._since)
        if found is None:
            self.log.info("Kapso flow execution %s is queued; not listed yet", started.get("tracking_id"))
        return found

    def _trigger(self, record: dict[str, Any] | None, started: dict[str, Any], deadline: float | None) -> BaseTrigger:
        from kapso_provider.triggers.kapso import KapsoFlowExecutionTrigger

        return KapsoFlowExecutionTrigger(
            flow_id=self.flow_id,
            tracking_id=str(started["tracking_id"]),
            execution_id=None if record is None else str(record["id"]),
            started_after=self._since,
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=float(self.poll_interval or 0),
            deadline=deadline,
            last_status=None if record is None else record.get("status"),
        )

    def _name(self, record: Mapping[str, Any] | None, started: Mapping[str, Any]) -> str:
        return str(record.get("id") if record is not None else started.get("tracking_id"))


# Human in the loop over WhatsApp: in their own module for size, exported here with every other operator.
from kapso_provider.operators._ask import (  # noqa: E402
    KapsoApprovalOperator,
    KapsoAskOperator,
    KapsoBranchOnReplyOperator,
)
