"""Operators that send WhatsApp messages through Kapso.

DAG files import this module on every parse, so it imports only Airflow's base operator: the hook (and
with it ``requests``) and the payload models load when a task runs or an operator checks its arguments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.hooks.kapso import KapsoHook

# Every field of the v1 ``message`` object that a DAG author can set, in the reference page's order.
# ``media_file`` (a multipart upload) is left out: the provider sends JSON bodies only.
MESSAGE_FIELDS: tuple[str, ...] = (
    "content",
    "message_type",
    "media_url",
    "media_id",
    "caption",
    "filename",
    "latitude",
    "longitude",
    "location_name",
    "location_address",
    "interactive_type",
    "body_text",
    "header_text",
    "footer_text",
    "buttons",
    "sections",
    "list_button_text",
    "template_name",
    "template_language",
    "template_params",
    "header_type",
    "header_params",
    "header_filename",
    "reaction_emoji",
    "reacted_to_message_id",
    "contacts",
)

RECIPIENT_FIELDS: tuple[str, ...] = ("conversation_id", "phone_number", "whatsapp_config_id", "customer_id")

_JINJA_MARKERS = ("{{", "{%", "{#")


def _is_static(value: Any) -> bool:
    """Whether ``value`` is final at parse time: no Jinja markers, no XCom reference, no other lazy object."""
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return not any(marker in value for marker in _JINJA_MARKERS)
    if isinstance(value, list | tuple):
        return all(_is_static(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_static(item) for key, item in value.items())
    return False


def _message_object(message: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the ``message=`` argument and the per-field arguments into one v1 message object."""
    from kapso_provider.exceptions import KapsoInvalidMessageError

    given_fields = {name: value for name, value in fields.items() if value is not None}
    if message is None:
        return given_fields
    if given_fields:
        raise KapsoInvalidMessageError(
            [f"message: give the whole message or separate fields, not both (also got {', '.join(given_fields)})"]
        )
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except json.JSONDecodeError as exc:
            raise KapsoInvalidMessageError([f"message: not valid JSON ({exc.msg} at position {exc.pos})"]) from None
    if not isinstance(message, Mapping):
        raise KapsoInvalidMessageError([f"message: must be a dict or a JSON object, got {type(message).__name__}"])
    return dict(message)


class KapsoSendMessageOperator(BaseOperator):
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
    :param message: the whole v1 message object, as a dict or a JSON string; excludes the per-field
        arguments. (templated)
    :param message_type: ``text`` (default), ``image``, ``video``, ``audio``, ``document``, ``location``,
        ``interactive``, ``template``, ``reaction`` or ``contacts``. (templated)
    :param content: the text of a text message, or a summary that Kapso stores for other types;
        filled from the message when left out. (templated)
    :param media_url: public URL of an image, video, audio or document. (templated)
    :param media_id: WhatsApp media id, instead of ``media_url``. (templated)
    :param caption: caption of an image, video or document. (templated)
    :param filename: file name shown for a document. (templated)
    :param latitude: location latitude, -90 to 90. (templated)
    :param longitude: location longitude, -180 to 180. (templated)
    :param location_name: location name. (templated)
    :param location_address: location address. (templated)
    :param interactive_type: ``button`` or ``list``. (templated)
    :param body_text: body of an interactive message. (templated)
    :param header_text: header of an interactive message. (templated)
    :param footer_text: footer of an interactive message. (templated)
    :param buttons: 1 to 3 reply buttons, each ``{"id": ..., "title": ...}``. (templated)
    :param sections: list sections, each ``{"title": ..., "rows": [{"id", "title", "description"}]}``.
        (templated)
    :param list_button_text: label of the button that opens a list. (templated)
    :param template_name: name of an approved template. (templated)
    :param template_language: the template's language code, e.g. ``en_US``. (templated)
    :param template_params: positional values (list) or named values (dict) of the template. (templated)
    :param header_type: the template header's type: ``text``, ``image``, ``video`` or ``document``.
        (templated)
    :param header_params: the template header's text, or its media URL. (templated)
    :param header_filename: file name of a document header. (templated)
    :param reaction_emoji: the emoji of a reaction. (templated)
    :param reacted_to_message_id: the message a reaction answers, e.g. ``{{ ti.xcom_pull('send')['id'] }}``.
        (templated)
    :param contacts: 1 to 257 contact cards, each with a name. (templated)
    """

    template_fields: Sequence[str] = ("kapso_conn_id", *RECIPIENT_FIELDS, "message", *MESSAGE_FIELDS)
    # Values are data, never file names: a caption ending in ".json" must stay a caption.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
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
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.conversation_id = conversation_id
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.message = message
        self.content = content
        self.message_type = message_type
        self.media_url = media_url
        self.media_id = media_id
        self.caption = caption
        self.filename = filename
        self.latitude = latitude
        self.longitude = longitude
        self.location_name = location_name
        self.location_address = location_address
        self.interactive_type = interactive_type
        self.body_text = body_text
        self.header_text = header_text
        self.footer_text = footer_text
        self.buttons = buttons
        self.sections = sections
        self.list_button_text = list_button_text
        self.template_name = template_name
        self.template_language = template_language
        self.template_params = template_params
        self.header_type = header_type
        self.header_params = header_params
        self.header_filename = header_filename
        self.reaction_emoji = reaction_emoji
        self.reacted_to_message_id = reacted_to_message_id
        self.contacts = contacts
        self._check_static_arguments()

    def _check_static_arguments(self) -> None:
        """Fail at DAG parse time for arguments that no template can change any more."""
        recipient = {name: getattr(self, name) for name in RECIPIENT_FIELDS}
        if all(_is_static(value) for value in recipient.values()):
            from kapso_provider.recipients import check_recipient

            check_recipient(**recipient)
        message_values = [self.message, *(getattr(self, name) for name in MESSAGE_FIELDS)]
        if all(_is_static(value) for value in message_values):
            from kapso_provider.models import parse_message

            parse_message(self._message_object())

    def _message_object(self) -> dict[str, Any]:
        return _message_object(self.message, {name: getattr(self, name) for name in MESSAGE_FIELDS})

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
            message = parse_message(self._message_object())
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
