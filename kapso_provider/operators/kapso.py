"""Operators that send WhatsApp messages through Kapso.

DAG files import this module on every parse, so it imports only Airflow's base operator: the hook (and
with it ``requests``) and the payload models load when a task runs or an operator checks its arguments.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

from kapso_provider.arguments import MESSAGE_FIELDS, RECIPIENT_FIELDS, KapsoMessageArguments, is_static

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context, XComArg

    from kapso_provider.hooks.kapso import KapsoHook

__all__ = [
    "MESSAGE_FIELDS",
    "RECIPIENT_FIELDS",
    "BaseKapsoMessageOperator",
    "KapsoBulkSendMessageOperator",
    "KapsoSendMessageOperator",
]


class BaseKapsoMessageOperator(KapsoMessageArguments, BaseOperator):
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

    @cached_property
    def hook(self) -> KapsoHook:
        """A hook on ``kapso_conn_id``, made on first use, which is after rendering."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

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

        from kapso_provider.exceptions import KapsoInvalidMessageError
        from kapso_provider.models import parse_message
        from kapso_provider.recipients import check_recipient

        recipient = {name: getattr(self, name) for name in RECIPIENT_FIELDS}
        try:
            check_recipient(**recipient)
            message = parse_message(self.message_object())
        except KapsoInvalidMessageError as exc:
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

    @cached_property
    def hook(self) -> KapsoHook:
        """A hook on ``kapso_conn_id``, made on first use, which is after rendering."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

    def _items(self) -> Iterator[tuple[str, Any]]:
        from kapso_provider.bulk import iter_recipients_file, listed_items, load_recipients
        from kapso_provider.exceptions import KapsoInvalidMessageError

        if self.recipients_file is not None:
            if not isinstance(self.recipients_file, str):
                raise KapsoInvalidMessageError(
                    [f"recipients_file: must render to a path, got {type(self.recipients_file).__name__}"]
                )
            return iter_recipients_file(self.recipients_file)
        return listed_items(load_recipients(self.recipients))

    def _tolerated(self, total: int) -> int:
        if isinstance(self.tolerate_failures, float):
            return int(self.tolerate_failures * total)
        return self.tolerate_failures

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

        from kapso_provider.bulk import BulkSender, MessageDesign, check_all, recipients_from
        from kapso_provider.exceptions import KapsoInvalidMessageError

        defaults = {"whatsapp_config_id": self.whatsapp_config_id, "customer_id": self.customer_id}
        try:
            design = MessageDesign(self.message_object())
            # Every recipient is checked before the first request: a bad line 90,000 must not stop a run
            # that already messaged 89,999 people.
            total = check_all(self._items(), design=design, recipient_field=self.recipient_field, defaults=defaults)
        except KapsoInvalidMessageError as exc:
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
