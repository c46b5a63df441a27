"""The arguments every sending surface (operators, notifier) takes, and the reading of rendered settings.

The message fields and the recipient fields are each listed once, as a ``TypedDict``: type checkers and
IDEs read the constructors' ``**kwargs: Unpack[...]`` from them, Airflow reads the signatures that
``keyword_parameters`` builds from them, and :data:`MESSAGE_FIELDS` and :data:`RECIPIENT_FIELDS` are
their keys.

DAG files import this module through the operators and the notifier on every parse, so it imports nothing
heavy: the payload models and the recipient checks load when a value is checked.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict, TypeVar, cast

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.validation import is_uuid, raise_problems

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from kapso_provider.models import KapsoMessage

__all__ = [
    "MESSAGE_FIELDS",
    "RECIPIENT_FIELDS",
    "SEND_OPTION_FIELDS",
    "V1_MESSAGE_FIELDS",
    "KapsoMessageArguments",
    "KapsoSendArguments",
    "MessageArguments",
    "MessageFields",
    "RecipientArguments",
    "SendArguments",
    "SendOptions",
    "V1MessageFields",
    "WaitSettings",
    "is_static",
    "is_uuid",
    "keyword_parameters",
    "merge_message_object",
    "refuse_unknown",
]


class V1MessageFields(TypedDict, total=False):
    """Every field of the v1 ``message`` object that a DAG author can set, in the reference page's order.

    ``media_file`` (a multipart upload) is left out: upload a file first (``KapsoUploadMediaOperator``, current
    API) or give ``media_url``. See :class:`KapsoMessageArguments` for what each field means.
    """

    content: str | None
    message_type: str | None
    media_url: str | None
    media_id: str | None
    caption: str | None
    filename: str | None
    latitude: float | None
    longitude: float | None
    location_name: str | None
    location_address: str | None
    interactive_type: str | None
    body_text: str | None
    header_text: str | None
    footer_text: str | None
    buttons: Sequence[Mapping[str, Any]] | None
    sections: Sequence[Mapping[str, Any]] | None
    list_button_text: str | None
    template_name: str | None
    template_language: str | None
    template_params: Sequence[str] | Mapping[str, Any] | None
    header_type: str | None
    header_params: str | None
    header_filename: str | None
    reaction_emoji: str | None
    reacted_to_message_id: str | None
    contacts: Sequence[Mapping[str, Any]] | None


class MessageFields(V1MessageFields, total=False):
    """Every field of a message that a DAG author can set: v1's, then the ones only Kapso's current API sends
    (API v1 refuses a message that sets one; see :mod:`kapso_provider.models`)."""

    preview_url: bool | None
    voice: bool | None
    button_url_params: Mapping[str, str] | None
    button_payloads: Mapping[str, str] | None
    marketing: bool | None
    button_text: str | None
    button_url: str | None
    flow_id: str | None
    flow_name: str | None
    flow_cta: str | None
    flow_token: str | None
    flow_action: str | None
    flow_screen: str | None
    flow_data: Mapping[str, Any] | None
    flow_mode: str | None
    catalog_id: str | None
    product_retailer_id: str | None
    thumbnail_product_retailer_id: str | None


class MessageArguments(MessageFields, total=False):
    """The message fields, or the whole message as ``message`` (a dict or a JSON string)."""

    message: Mapping[str, Any] | str | None


class RecipientArguments(TypedDict, total=False):
    """Who one message goes to: exactly one of ``conversation_id`` or ``phone_number``, and the sender."""

    conversation_id: str | None
    phone_number: str | None
    whatsapp_config_id: str | None
    customer_id: str | None
    phone_number_id: str | None


class SendOptions(TypedDict, total=False):
    """How one message is sent beyond what and to whom (Kapso's current API only)."""

    reply_to_message_id: str | None
    biz_opaque_callback_data: str | None


class SendArguments(MessageArguments, RecipientArguments, SendOptions, total=False):
    """One message, its recipient and how it is sent: what the send operator and the notifier take."""


#: The names of :class:`MessageFields`, in order.
MESSAGE_FIELDS: tuple[str, ...] = tuple(MessageFields.__annotations__)
#: The fields of API v1's ``message`` object, the first ones of :data:`MESSAGE_FIELDS`.
V1_MESSAGE_FIELDS: tuple[str, ...] = tuple(V1MessageFields.__annotations__)
#: The names of :class:`RecipientArguments`, in order.
RECIPIENT_FIELDS: tuple[str, ...] = tuple(RecipientArguments.__annotations__)
SEND_OPTION_FIELDS: tuple[str, ...] = tuple(SendOptions.__annotations__)
# The whole message first, as the constructors have always listed it.
_MESSAGE_ARGUMENTS = ("message", *MESSAGE_FIELDS)
#: Every argument of :class:`SendArguments`.
SEND_ARGUMENTS: tuple[str, ...] = (*RECIPIENT_FIELDS, *SEND_OPTION_FIELDS, *_MESSAGE_ARGUMENTS)

_JINJA_MARKERS = ("{{", "{%", "{#")
#: Problems one error lists when every item of a long input is checked; the rest are counted.
MAX_PROBLEMS_LISTED = 20

F = TypeVar("F", bound="Callable[..., None]")


def keyword_parameters(*groups: type) -> Callable[[F], F]:
    """Show the keys of the ``TypedDict`` classes ``groups`` as keyword-only parameters of an ``__init__``.

    The decorated ``__init__`` takes them through ``**kwargs: Unpack[...]``, which type checkers read; Airflow
    reads ``inspect.signature`` instead (to tell which arguments ``partial()``, ``expand()`` and
    ``default_args`` may set), so the signature lists each key as a parameter defaulting to ``None``.

    :meta private:
    """

    def decorate(init: F) -> F:
        signature = inspect.signature(init)
        parameters = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        rest = [p for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD]
        known = {p.name for p in parameters}
        for group in groups:
            for name, annotation in group.__annotations__.items():
                if name not in known:
                    known.add(name)
                    text = getattr(annotation, "__forward_arg__", annotation)
                    parameters.append(
                        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=text)
                    )
        init.__signature__ = signature.replace(parameters=[*parameters, *rest])  # type: ignore[attr-defined]
        return init

    return decorate


def refuse_unknown(owner: str, arguments: Mapping[str, Any], known: Sequence[str]) -> None:
    """Refuse arguments not in ``known`` with a :class:`TypeError` naming each, and the closest known names.

    :param owner: the class that was given the arguments, e.g. ``"KapsoNotifier"``.
    """
    import difflib

    unknown = [name for name in arguments if name not in known]
    if unknown:
        hints = []
        for name in unknown:
            close = " or ".join(repr(match) for match in difflib.get_close_matches(name, known, n=2))
            hints.append(f"{name!r}" + (f" (did you mean {close}?)" if close else ""))
        raise TypeError(f"{owner} got unexpected keyword argument(s): {', '.join(hints)}")


def is_static(value: Any) -> bool:
    """Whether ``value`` is final at parse time: no Jinja markers, no XCom reference, no other lazy object."""
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return not any(marker in value for marker in _JINJA_MARKERS)
    if isinstance(value, list | tuple):
        return all(is_static(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_static(item) for key, item in value.items())
    return False


def merge_message_object(message: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a whole-message argument and per-field arguments into one v1 message object.

    :param message: the whole message as a dict or a JSON string, or ``None``.
    :param fields: the per-field arguments by field name; ``None`` values count as not given.
    :raises KapsoInvalidMessageError: both forms given, or ``message`` is not a JSON object.
    """
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


class KapsoMessageArguments:
    """The arguments that describe one WhatsApp message (:class:`MessageArguments`), for every sender.

    Give the message either field by field (the v1 ``message`` object's field names, ``message_type``
    defaulting to ``text``) or whole as ``message``. Each argument becomes an attribute of the same name.
    Every argument is templated where the class using it renders templates. The fields mean the same on both
    of Kapso's API generations; the ones marked *current API* are refused, before any request, by a
    connection that speaks API v1.

    :param message: the whole message: the v1 message object (or these fields), or on the current API a
        WhatsApp Cloud API body (a dict with ``type``); a dict or a JSON string; excludes the per-field
        arguments. (templated)
    :param message_type: ``text`` (default), ``image``, ``video``, ``audio``, ``document``, ``location``,
        ``interactive``, ``template``, ``reaction``, ``contacts`` or (current API) ``sticker``. (templated)
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
    :param interactive_type: ``button`` or ``list``; on the current API also ``cta_url``, ``flow``,
        ``location_request_message``, ``product``, ``product_list`` or ``catalog_message``. (templated)
    :param body_text: body of an interactive message. (templated)
    :param header_text: header of an interactive message. (templated)
    :param footer_text: footer of an interactive message. (templated)
    :param buttons: 1 to 3 reply buttons, each ``{"id": ..., "title": ...}``. (templated)
    :param sections: list sections, each ``{"title": ..., "rows": [{"id", "title", "description"}]}``; for a
        product list, ``{"title": ..., "product_retailer_ids": [...]}``. (templated)
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
    :param preview_url: current API: show a preview of the text's first link. (templated)
    :param voice: current API: send an audio file as a voice note (``.ogg``, OPUS). (templated)
    :param button_url_params: current API: a template's dynamic URL buttons, by index, e.g. ``{"0": "ORD-1"}``.
        (templated)
    :param button_payloads: current API: a template's quick reply payloads, by button index. (templated)
    :param marketing: current API: send a marketing template through ``/marketing_messages``. (templated)
    :param button_text: current API: the label of a ``cta_url`` button, up to 20 characters. (templated)
    :param button_url: current API: the http(s) URL a ``cta_url`` button opens. (templated)
    :param flow_id: current API: the WhatsApp Flow to open (or ``flow_name``). (templated)
    :param flow_name: current API: the Flow's name, instead of ``flow_id``. (templated)
    :param flow_cta: current API: the label of the button that opens the Flow, up to 30 characters.
        (templated)
    :param flow_token: current API: your token, sent back with the Flow's answers. (templated)
    :param flow_action: current API: ``navigate`` or ``data_exchange``. (templated)
    :param flow_screen: current API: the Flow's first screen. (templated)
    :param flow_data: current API: data for the first screen. (templated)
    :param flow_mode: current API: ``published`` or ``draft``. (templated)
    :param catalog_id: current API: the catalog of a ``product`` or ``product_list`` message. (templated)
    :param product_retailer_id: current API: the product of a ``product`` message. (templated)
    :param thumbnail_product_retailer_id: current API: the product a ``catalog_message`` shows. (templated)
    """

    message: Mapping[str, Any] | str | None
    #: The arguments this class takes out of the keyword arguments, each kept as an attribute.
    taken_arguments: ClassVar[tuple[str, ...]] = _MESSAGE_ARGUMENTS

    def __init__(self, **kwargs: Any) -> None:
        # Cooperative: the rest goes on along the MRO (on to BaseOperator or BaseNotifier) after this one.
        values = {name: kwargs.pop(name, None) for name in self.taken_arguments}
        super().__init__(**kwargs)
        for name, value in values.items():
            setattr(self, name, value)

    def message_fields(self) -> MessageFields:
        """The per-field message arguments by name, as they stand (``None`` where not given)."""
        return cast("MessageFields", {name: getattr(self, name) for name in MESSAGE_FIELDS})

    def message_object(self) -> dict[str, Any]:
        """The v1 message object these arguments describe, unchecked."""
        return merge_message_object(self.message, self.message_fields())

    def message_is_static(self) -> bool:
        """Whether no message argument holds a template or an XCom reference any more."""
        return is_static(self.message) and all(is_static(value) for value in self.message_fields().values())


class KapsoSendArguments(KapsoMessageArguments):
    """One message (:class:`KapsoMessageArguments`) and its recipient (:class:`RecipientArguments`).

    :param conversation_id: the Kapso conversation to send into. (templated)
    :param phone_number: the recipient's number in international format; Kapso finds or opens the
        conversation. (templated)
    :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from. (templated)
    :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from. (templated)
    :param phone_number_id: current API: the WhatsApp number to send from (the connection's
        ``phone_number_id`` when left out; a conversation is answered from its own). (templated)
    :param reply_to_message_id: current API: the ``wamid`` of the message this one answers, shown quoted.
        (templated)
    :param biz_opaque_callback_data: current API: up to 512 characters of yours, echoed in Kapso's status
        webhooks for this message. (templated)
    """

    taken_arguments: ClassVar[tuple[str, ...]] = SEND_ARGUMENTS

    def recipient(self) -> RecipientArguments:
        """The recipient arguments by name, as they stand (``None`` where not given)."""
        return cast("RecipientArguments", {name: getattr(self, name) for name in RECIPIENT_FIELDS})

    def send_options(self) -> SendOptions:
        """How the message is sent (:class:`SendOptions`), as the arguments stand (``None`` where not given)."""
        return cast("SendOptions", {name: getattr(self, name) for name in SEND_OPTION_FIELDS})

    def check_static_send(self) -> None:
        """Check what no template can change any more: at construction, so when the DAG file is parsed.

        :raises KapsoInvalidMessageError: naming the arguments at fault.
        """
        recipient = self.recipient()
        if all(is_static(value) for value in recipient.values()):
            from kapso_provider.recipients import check_recipient

            check_recipient(**recipient)
        if self.message_is_static():
            from kapso_provider.models import parse_message

            parse_message(self.message_object())

    def checked_send(self, message_object: Mapping[str, Any] | None = None) -> tuple[KapsoMessage, RecipientArguments]:
        """The rendered message as a checked model, and the recipient arguments; no request is sent.

        :param message_object: the message to check instead of
            :meth:`~KapsoMessageArguments.message_object`'s (e.g. an adapted one).
        :raises KapsoInvalidMessageError: a rendered argument breaks a rule.
        """
        from kapso_provider.models import parse_message
        from kapso_provider.recipients import check_recipient

        recipient = self.recipient()
        check_recipient(**recipient)
        return parse_message(self.message_object() if message_object is None else message_object), recipient


# -- coercion of rendered operator settings ---------------------------------------------------------------
# A templated setting renders to text ("True", "15"); a literal one keeps its type. These turn either into
# the value, or append a line naming the field to ``problems`` so that every bad setting is reported at once.

_TRUE_WORDS = ("true", "yes", "1")
_FALSE_WORDS = ("false", "no", "0")


def as_bool(field: str, value: object, problems: list[str]) -> bool:
    """``value`` as a bool (``True``, ``"true"``, ``"yes"``, ``"1"`` ...), or a problem naming ``field``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE_WORDS, *_FALSE_WORDS):
        return value.strip().lower() in _TRUE_WORDS
    problems.append(f"{field}: must be true or false, got {value!r}")
    return False


def as_number(
    field: str,
    value: object,
    problems: list[str],
    *,
    integer: bool = False,
    minimum: float | None = None,
    unit: str | None = None,
) -> float:
    """``value`` as a finite number (an int when ``integer``) at or above ``minimum``, or a problem.

    :param unit: what the number counts, for the problem's text (``"seconds"``).
    :returns: the number, or NaN after appending a problem.
    """
    number: float = math.nan
    # bool is an int to Python but never a count or a duration.
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            number = math.nan
    kind = ("an integer" if integer else "a number") + (f" of {unit}" if unit else "")
    if minimum is not None:
        kind += f" >= {minimum:g}"
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        problems.append(f"{field}: must be {kind}, got {value!r}")
        return math.nan
    return number


def as_tolerance(field: str, value: object, problems: list[str]) -> int | float:
    """How many failures a run tolerates: a count (an ``int`` >= 0) or a fraction (a ``float`` from 0 to 1).

    A rendered text holding a dot is a fraction, any other a count.

    :returns: the tolerance, or 0 after appending a problem naming ``field``.
    """
    if isinstance(value, str):
        number = as_number(field, value, problems, integer="." not in value)
        if math.isnan(number):
            return 0
        value = number
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        problems.append(f"{field}: must be a count >= 0 or a fraction 0..1, got {value!r}")
        return 0
    if isinstance(value, float) and value > 1:
        problems.append(f"{field}: a float is a fraction of the recipients, 0..1; got {value}")
        return 0
    return value


def check_every(
    items: Iterable[tuple[str, Any]], check: Callable[[str, Any], object], *, listed: int = MAX_PROBLEMS_LISTED
) -> int:
    """Check every ``(where, value)`` item before the first request; return how many there are.

    :param check: called with each item; raises :class:`~kapso_provider.exceptions.KapsoArgumentError`
        naming ``where`` for a bad one.
    :param listed: the most problems the error lists; the others are counted.
    :raises KapsoArgumentError: listing the first ``listed`` problems and how many items had more.
    """
    problems: list[str] = []
    unlisted = 0
    count = 0
    for where, value in items:
        count += 1
        try:
            check(where, value)
        except KapsoArgumentError as exc:
            if len(problems) < listed:
                problems.extend(exc.problems)
            else:
                unlisted += 1
    if unlisted:
        problems.append(f"... and {unlisted} more with a problem")
    if problems:
        raise KapsoArgumentError(problems)
    return count


def tolerated_count(tolerance: int | float, total: int) -> int:
    """The number of failures a tolerance of :func:`as_tolerance` allows among ``total``."""
    return int(tolerance * total) if isinstance(tolerance, float) else tolerance


def _seconds(value: object) -> object:
    return value.total_seconds() if isinstance(value, timedelta) else value


@dataclass(frozen=True)
class WaitSettings:
    """How a run waits: seconds between two reads, and at most how long (``None``: as long as the task may)."""

    poll_interval: float = 30.0
    timeout: float | None = None

    @classmethod
    def checked(cls, *, poll_interval: object, timeout: object) -> WaitSettings:
        """The settings from seconds or ``timedelta`` values.

        :raises KapsoArgumentError: naming every argument at fault.
        """
        interval, limit = _seconds(poll_interval), _seconds(timeout)
        problems = []
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
            problems.append(f"poll_interval: {poll_interval!r} must be a positive number of seconds or a timedelta")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0):
            problems.append(f"timeout: {timeout!r} must be a positive number of seconds, a timedelta, or None")
        raise_problems(problems)
        return cls(float(interval), None if limit is None else float(limit))  # type: ignore[arg-type]


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 timestamp from Kapso as an aware datetime (UTC when it names no zone), else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def plain_json(value: Any) -> Any:
    """``value`` after a round trip through JSON: what XCom gets is plain JSON whatever Kapso sent."""
    return json.loads(json.dumps(value))
