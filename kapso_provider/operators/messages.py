"""Operators that send one WhatsApp message: the message arguments every sender shares, and the send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import (
    MESSAGE_FIELDS,
    RECIPIENT_FIELDS,
    KapsoMessageArguments,
    KapsoSendArguments,
    MessageArguments,
    RecipientArguments,
    SendArguments,
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
    ones after rendering, before any request. The returned record (and so the XCom ``return_value``) is
    the API's ``data`` object as plain JSON, e.g. ``{"id": ..., "status": "sent", "whatsapp_message_id": ...}``.

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

    The message arguments (``message``, ``message_type``, ``content``, ``media_url`` and the rest of the
    v1 message object's fields, all templated) are those of
    :class:`~kapso_provider.arguments.KapsoMessageArguments`.
    """

    template_fields: Sequence[str] = ("kapso_conn_id", *RECIPIENT_FIELDS, "message", *MESSAGE_FIELDS)

    @keyword_parameters(RecipientArguments)
    def __init__(self, **kwargs: Unpack[SendMessageOperatorArguments]) -> None:
        super().__init__(**kwargs)
        self.check_static_send()

    def execute(self, context: Context) -> dict[str, Any]:
        with self.running():
            message, recipient = self.checked_send()
            since = self.earlier_try_since(context)
            earlier = None if since is None else self.hook.find_sent_message(message, since=since, **recipient)
            if earlier is not None:
                self.log.info("An earlier try sent this message as %s; returning its record", earlier.get("id"))
            record = earlier or self.hook.send_message(message, **recipient)
        self.log.info(
            "Kapso accepted %s message %s (status %s, WhatsApp id %s)",
            record.get("message_type", message.to_message_object()["message_type"]),
            record.get("id"),
            record.get("status"),
            record.get("whatsapp_message_id"),
        )
        result: dict[str, Any] = plain_json(record)
        return result
