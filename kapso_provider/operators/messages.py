"""Operators that send one WhatsApp message: the message arguments every sender shares, and the send."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from kapso_provider.arguments import (
    MESSAGE_FIELDS,
    RECIPIENT_FIELDS,
    KapsoMessageArguments,
    is_static,
)
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators._base import KapsoHookMixin

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.providers.common.compat.sdk import Context


__all__ = ["BaseKapsoMessageOperator", "KapsoSendMessageOperator"]


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
