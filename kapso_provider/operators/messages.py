"""Operators that send one WhatsApp message: the message arguments every sender shares, and the send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import (
    MESSAGE_FIELDS,
    RECIPIENT_FIELDS,
    SEND_OPTION_FIELDS,
    KapsoMessageArguments,
    KapsoSendArguments,
    MessageArguments,
    RecipientArguments,
    SendArguments,
    SendOptions,
    keyword_parameters,
    plain_json,
)
from kapso_provider.operators._base import KapsoBaseOperator, KapsoOperatorArguments

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context


__all__ = [
    "BaseKapsoMessageOperator",
    "KapsoMarkAsReadOperator",
    "KapsoSendMessageOperator",
    "MessageOperatorArguments",
    "SendMessageOperatorArguments",
]


class MessageOperatorArguments(KapsoOperatorArguments, MessageArguments, total=False):
    """The arguments of :class:`BaseKapsoMessageOperator`: Airflow's, the connection and the message."""


class SendMessageOperatorArguments(KapsoOperatorArguments, SendArguments, total=False):
    """The arguments of :class:`KapsoSendMessageOperator`: Airflow's, the connection, message, recipient."""


class BaseKapsoMessageOperator(KapsoMessageArguments, KapsoBaseOperator):
    """The message arguments of every Kapso sending operator, and their checks.

    The arguments are those of :class:`~kapso_provider.arguments.KapsoMessageArguments`, listed once in
    :class:`~kapso_provider.arguments.MessageArguments`.
    """

    @keyword_parameters(MessageArguments)
    def __init__(self, **kwargs: Unpack[MessageOperatorArguments]) -> None:
        super().__init__(**kwargs)


class KapsoSendMessageOperator(KapsoSendArguments, BaseKapsoMessageOperator):
    """Send one WhatsApp message through Kapso and return Kapso's message record.

    Name the recipient with exactly one of ``conversation_id`` or ``phone_number``. Give the message either
    field by field (the v1 ``message`` object's field names, ``message_type`` defaulting to ``text``) or
    whole as ``message``. Arguments without templates are checked when the DAG file is parsed; templated
    ones after rendering, before any request. Which API generation the connection speaks is known only when
    the task runs, so a kind or field of the other generation is refused then, before any request. The
    returned record (and so the XCom ``return_value``) is the message record as plain JSON, e.g.
    ``{"id": ..., "status": "sent", "whatsapp_message_id": ...}``: on API v1 Kapso's ``data`` object, on the
    current API the same keys built from the proxy's answer (``id`` is then the ``wamid``; see
    ``docs/migration.md``).

    A task retry first looks in Kapso for the message an earlier try sent (a worker can die after Kapso
    stored it and before Airflow recorded the task's success) and returns its record instead of sending
    it again.

    .. seealso::
        For the fields each message type takes and WhatsApp's limits, see the guide
        ``docs/operators.md`` and :mod:`kapso_provider.models`.

    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param conversation_id: the Kapso conversation to send into. (templated)
    :param phone_number: the recipient's number in international format; Kapso finds or opens the
        conversation. (templated)
    :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from. (templated)
    :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from. (templated)
    :param phone_number_id: current API: the WhatsApp number to send from (default: the connection's).
        (templated)
    :param reply_to_message_id: current API: the ``wamid`` this message answers. (templated)
    :param biz_opaque_callback_data: current API: your data, echoed in status webhooks. (templated)

    The message arguments (``message``, ``message_type``, ``content``, ``media_url`` and the rest of the
    v1 message object's fields, all templated) are those of
    :class:`~kapso_provider.arguments.KapsoMessageArguments`.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        *RECIPIENT_FIELDS,
        *SEND_OPTION_FIELDS,
        "message",
        *MESSAGE_FIELDS,
    )

    @keyword_parameters(RecipientArguments, SendOptions)
    def __init__(self, **kwargs: Unpack[SendMessageOperatorArguments]) -> None:
        # The recipient arguments pass through the message base to KapsoSendArguments, which takes them.
        super().__init__(**kwargs)  # type: ignore[misc]
        self.check_static_send()

    def execute(self, context: Context) -> dict[str, Any]:
        with self.running():
            message, recipient = self.checked_send()
            since = self.earlier_try_since(context)
            earlier = None if since is None else self.hook.find_sent_message(message, since=since, **recipient)
            if earlier is not None:
                self.log.info("An earlier try sent this message as %s; returning its record", earlier.get("id"))
            record = earlier or self.hook.send_message(message, **recipient, **self.send_options())
        self.log.info(
            "Kapso accepted %s message %s (status %s, WhatsApp id %s)",
            record.get("message_type") or message.message_type,
            record.get("id"),
            record.get("status"),
            record.get("whatsapp_message_id"),
        )
        result: dict[str, Any] = plain_json(record)
        return result


class KapsoMarkAsReadOperator(KapsoBaseOperator):
    """Mark a customer's message as read (blue ticks) and show them a typing indicator while a reply is made.

    A reply workflow runs it right after the message arrives (an inbound sensor's ``message_id``): the
    customer sees the message read and "typing..." until the reply is sent, or for about 25 seconds. Marking
    a message twice is harmless, so a retry simply marks it again.

    :param message_id: the inbound message: its ``id`` in a message record of the connection's API (Kapso's
        id on API v1, the ``wamid`` on the current API). (templated)
    :param typing_indicator: whether the customer sees a typing indicator; left out, as Kapso does by
        default, it is shown. (templated)
    :param phone_number_id: current API: the WhatsApp number the message came to (default: the
        connection's). (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "message_id", "typing_indicator", "phone_number_id")

    def __init__(
        self,
        *,
        message_id: str,
        typing_indicator: bool | str | None = None,
        phone_number_id: str | None = None,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.message_id = message_id
        self.typing_indicator = typing_indicator
        self.phone_number_id = phone_number_id
        self.check_when_static(self._checked, ("message_id", "typing_indicator"))

    def _checked(self) -> tuple[str, bool | None]:
        from kapso_provider.arguments import as_bool
        from kapso_provider.validation import raise_problems, require_text

        problems: list[str] = []
        typing = None if self.typing_indicator is None else as_bool("typing_indicator", self.typing_indicator, problems)
        raise_problems(problems)
        return require_text("message_id", self.message_id), typing

    def execute(self, context: Context) -> dict[str, Any]:
        with self.running():
            message_id, typing = self._checked()
            answer = self.hook.mark_message_as_read(
                message_id, typing_indicator=typing, phone_number_id=self.phone_number_id
            )
        self.log.info(
            "Message %s is marked read%s", message_id, "" if typing is False else ", the customer sees typing"
        )
        result: dict[str, Any] = plain_json(answer)
        return result
