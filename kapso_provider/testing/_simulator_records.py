"""The simulator's records as a Python API: configs, conversations, templates, messages, customers.

A mixin of :class:`~kapso_provider.testing.KapsoSimulator`, kept apart so the facade stays readable. Every
method goes through the store's public interface.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._inbound_replies import interactive_reply_data
from kapso_provider.testing._validation import MESSAGE_TYPES, validate_message

if TYPE_CHECKING:
    import threading

    from kapso_provider.testing._inbound_replies import ReplyScheduler
    from kapso_provider.testing._policy import Policy
    from kapso_provider.testing._recording import RecordedRequest
    from kapso_provider.testing._store import StatusChange, Store

__all__ = ["RecordsApi"]


class RecordsApi:
    """What a test seeds and inspects, and what the customer on the other end does."""

    _store: Store
    _requests: list[RecordedRequest]
    _requests_lock: threading.Lock
    _reply_scheduler: ReplyScheduler
    _policy: Policy

    # -- records --------------------------------------------------------------------------------------------

    @property
    def default_whatsapp_config_id(self) -> str:
        """Id of the WhatsApp config that exists from the start."""
        return self._store.default_config_id

    @property
    def default_phone_number_id(self) -> str:
        """Meta's ``phone_number_id`` of the default business number: the current API's key for it."""
        return str(self._store.config(self._store.default_config_id)["phone_number_id"])

    @property
    def default_business_account_id(self) -> str:
        """The WhatsApp Business Account id of the default business number (the proxy's template paths)."""
        return str(self._store.config(self._store.default_config_id)["business_account_id"])

    def stop_marketing(self, phone_number: str, *, phone_number_id: str | None = None) -> dict[str, Any]:
        """Play a person who asked WhatsApp to stop marketing messages from a business number: marketing
        templates to them are refused (``marketing_preference_stopped``); returns the preference record.

        :param phone_number: the person's number.
        :param phone_number_id: the business number (the default one when ``None``).
        """
        return self._policy.set_marketing(phone_number, self._config_of(phone_number_id), stopped=True)

    def resume_marketing(self, phone_number: str, *, phone_number_id: str | None = None) -> dict[str, Any]:
        """The person resumed marketing messages from the business number; returns the preference record.

        :param phone_number: the person's number.
        :param phone_number_id: the business number (the default one when ``None``).
        """
        return self._policy.set_marketing(phone_number, self._config_of(phone_number_id), stopped=False)

    def _config_of(self, phone_number_id: str | None) -> str:
        if phone_number_id is None:
            return self._store.default_config_id
        return str(self._store.config_by_phone_number_id(phone_number_id)["id"])

    def add_whatsapp_config(
        self,
        *,
        name: str = "Second WhatsApp",
        phone_number: str = "+15550000001",
        business_account_id: str = "200000000000001",
        customer_id: str | None = None,
        config_id: str | None = None,
        kind: str = "production",
        phone_number_id: str | None = None,
    ) -> dict[str, Any]:
        """Add another business phone number (WhatsApp config); returns its record.

        :param name: config name.
        :param phone_number: the business phone number.
        :param business_account_id: its WABA id.
        :param customer_id: owning customer, for ``customer_id`` selection on sends.
        :param config_id: its id (a new uuid when ``None``; real ids are uuids).
        :param kind: ``production`` or ``sandbox``.
        :param phone_number_id: Meta's id of the number, the current API's key for it (derived from the
            number when ``None``).
        """
        if kind not in ("production", "sandbox"):
            raise ValueError("kind must be 'production' or 'sandbox'")
        return self._store.add_config(
            name=name,
            phone_number=phone_number,
            business_account_id=business_account_id,
            customer_id=customer_id,
            config_id=config_id,
            kind=kind,
            phone_number_id=phone_number_id,
        )

    def create_conversation(
        self,
        phone_number: str = "+15551234567",
        whatsapp_config_id: str | None = None,
        *,
        contact_name: str | None = None,
        status: str = "active",
    ) -> dict[str, Any]:
        """Create a conversation with a customer and return its record (a ``WhatsappConversation``).

        :param phone_number: the customer's phone number.
        :param whatsapp_config_id: the config it belongs to (the default config when ``None``).
        :param contact_name: the customer's profile name.
        :param status: ``active`` or ``ended``.
        """
        return self._store.create_conversation(
            phone_number, whatsapp_config_id, contact_name=contact_name, status=status
        )

    def conversations(self) -> list[dict[str, Any]]:
        """All conversation records (copies), in creation order."""
        return self._store.conversations()

    def create_template(
        self,
        name: str = "hello_world",
        language: str = "en_US",
        *,
        category: str = "UTILITY",
        status: str = "approved",
        content: str | None = None,
        parameter_count: int | None = None,
        components: list[dict[str, Any]] | None = None,
        whatsapp_config_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Store a WhatsApp template and return its record (a ``WhatsappTemplate``).

        :param name: template name.
        :param language: its language code (``language_code`` in the record).
        :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
        :param status: review status; only ``approved`` templates can be sent.
        :param content: body text with ``{{1}}`` or ``{{name}}`` placeholders. When neither ``content``
            nor ``parameter_count`` is given, sends of the template may carry any parameters; give one of
            them to have the simulator check the parameters as Kapso does.
        :param parameter_count: number of parameters (counted from ``content`` when ``None``).
        :param components: raw WhatsApp components (a BODY component from ``content`` when ``None``).
        :param whatsapp_config_ids: configs that may send it (the default config when ``None``).
        """
        config_ids = list(whatsapp_config_ids or [self._store.default_config_id])
        return self._store.templates.create(
            name=name,
            language=language,
            category=category,
            status=status,
            content=content,
            parameter_count=parameter_count,
            components=components,
            whatsapp_config_ids=config_ids,
        )

    def messages(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Stored message records (copies) in insertion order.

        :param conversation_id: only this conversation's messages.
        """
        return self._store.list_messages(conversation_id)

    def store_outbound(
        self,
        conversation_id: str | None = None,
        message: dict[str, Any] | None = None,
        *,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        sent_ago: float = 0.0,
    ) -> dict[str, Any]:
        """Store an outbound message as if a send had made it, optionally ``sent_ago`` seconds ago on Kapso's
        clock (a message of another task, an earlier try, an earlier DAG run); returns its record.

        Nothing is recorded as a request and no reply fires: the message is simply there, as Kapso would
        hold it.

        :param conversation_id: the conversation to store it in; or
        :param message: the v1 ``message`` object (``{"message_type": "text", "content": "hi"}`` by default),
            checked as a v1 send is.
        :param phone_number: instead of ``conversation_id``, the customer's number: its active
            conversation on the config, created when there is none.
        :param whatsapp_config_id: with ``phone_number``, the business number (the default config when
            ``None``).
        :param sent_ago: seconds before now on Kapso's clock (``clock_offset`` included); 0 for now.
        :raises ValueError: for a message a v1 send would refuse, or without exactly one of
            ``conversation_id`` and ``phone_number``.
        :raises KeyError: for an unknown conversation or config.
        """
        if (conversation_id is None) == (phone_number is None):
            raise ValueError("give exactly one of conversation_id or phone_number")
        if isinstance(sent_ago, bool) or not isinstance(sent_ago, int | float) or not sent_ago >= 0:
            raise ValueError(f"sent_ago: {sent_ago!r} must be a number of seconds >= 0")
        try:
            checked = validate_message({"message": message or {"content": "hi"}}, require_content=False)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None
        with self._store.lock:
            if phone_number is not None:
                config_id = whatsapp_config_id or self._store.default_config_id
                conversation_id = self._store.find_or_create_conversation(phone_number, config_id)["id"]
            assert conversation_id is not None
            created_at = self._store.clock.stamp_ago(sent_ago) if sent_ago else None
            return self._store.store_outbound(conversation_id, checked, created_at=created_at)

    def set_message_times(self, message_id: str, created_at: str, updated_at: str | None = None) -> dict[str, Any]:
        """Give a stored message other timestamps (Kapso can hand out one timestamp twice); returns it.

        :param message_id: Kapso id or wamid.
        :param created_at: its new ``created_at`` (ISO 8601).
        :param updated_at: its new ``updated_at`` (``created_at`` when ``None``).
        :raises KeyError: for an unknown message.
        """
        return self._store.set_message_times(message_id, created_at, updated_at)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, control endpoints excluded."""
        with self._requests_lock:
            return list(self._requests)

    def set_message_status(
        self,
        message_id: str,
        status: str,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Move a message to a new status, as WhatsApp's status updates would; returns the record.

        :param message_id: Kapso id or wamid of the message.
        :param status: ``delivered``, ``read``, ``failed`` (or ``sent``, ``pending``, ``received``).
        :param error_code: for ``failed``, the WhatsApp error code (e.g. 131047), kept in ``metadata``.
        :param error_message: for ``failed``, the WhatsApp error text, kept in ``metadata``.
        :raises KeyError: for an unknown message.
        """
        return self._store.set_message_status(message_id, status, error_code=error_code, error_message=error_message)

    def schedule_status(
        self,
        message_id: str,
        status: str,
        *,
        after: float = 0.0,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> StatusChange:
        """Have one message move to ``status`` by itself ``after`` seconds from now.

        The change shows from the first read (API or Python) once its time has come. Several changes may
        be queued for one message; none applies after ``failed``.

        :param message_id: Kapso id or wamid of the message.
        :param status: ``delivered``, ``read``, ``failed`` (or ``sent``, ``pending``, ``received``).
        :param after: seconds from now.
        :param error_code: for ``failed``, the WhatsApp error code, kept in ``metadata.error_code``.
        :param error_message: for ``failed``, the WhatsApp error text, kept in ``metadata.error_message``.
        :raises KeyError: for an unknown message.
        """
        return self._store.schedule_status(
            message_id, status, after=after, error_code=error_code, error_message=error_message
        )

    def pending_status_changes(self) -> list[StatusChange]:
        """Status changes scheduled and not applied yet, in time order."""
        return self._store.pending_status_changes()

    def deliver_inbound(
        self,
        conversation_id: str,
        content: str = "hi",
        message_type: str = "text",
        *,
        whatsapp_message_id: str | None = None,
        message_type_data: dict[str, Any] | None = None,
        media_url: str | None = None,
        reply_option_id: str | None = None,
        reply_option_title: str | None = None,
        interactive_type: str = "button",
        delay: float | None = None,
    ) -> dict[str, Any]:
        """Store a message from the customer in a conversation; returns its record.

        :param conversation_id: the conversation it arrives in.
        :param content: its human-readable content.
        :param message_type: one of the WhatsApp message types.
        :param whatsapp_message_id: its wamid (generated when ``None``).
        :param message_type_data: its type-specific data (``{"text": content}`` for text).
        :param media_url: URL of attached media.
        :param reply_option_id: make it a tap on the reply button or list row with this id: an
            ``interactive`` message whose ``message_type_data`` carries ``reply_option_id`` and
            ``reply_option_title`` (the shape of both OpenAPI files' ``InteractiveMessageData``).
        :param reply_option_title: the tapped option's title (also the ``content``); default: the id.
        :param interactive_type: ``button`` or ``list``: what was tapped.
        :param delay: deliver it this many seconds from now instead, in the background; returns
            ``{"scheduled": True, "conversation_id", "delay"}``.
        :raises KeyError: for an unknown conversation.
        """
        if reply_option_id is not None:
            title = reply_option_title or reply_option_id
            message_type, content = "interactive", title
            message_type_data = interactive_reply_data(reply_option_id, title, interactive_type)
        if message_type not in MESSAGE_TYPES:
            raise ValueError(f"message_type must be one of {MESSAGE_TYPES}")
        if delay is not None:
            if not isinstance(delay, int | float) or delay < 0:
                raise ValueError(f"delay: {delay!r} must be zero or a positive number of seconds")
            self._store.conversation(conversation_id)  # an unknown conversation fails now, not in a timer
            deliver = functools.partial(
                self.deliver_inbound,
                conversation_id,
                content,
                message_type,
                whatsapp_message_id=whatsapp_message_id,
                message_type_data=message_type_data,
                media_url=media_url,
            )
            self._reply_scheduler.later(float(delay), deliver)
            return {"scheduled": True, "conversation_id": conversation_id, "delay": float(delay)}
        return self._store.store_inbound(
            conversation_id,
            content=content,
            message_type=message_type,
            whatsapp_message_id=whatsapp_message_id,
            type_data=message_type_data,
            media_url=media_url,
        )

    def deliver_inbound_from(
        self, phone_number: str, content: str = "hi", *, phone_number_id: str | None = None, **message: Any
    ) -> dict[str, Any]:
        """Store a message a person sends to a business number, in their active conversation there (a new
        one when there is none), as the current API keys people: by number. Returns its record.

        Every API shows it: the Platform and proxy lists in Meta's shape (``text``, or ``interactive`` with
        ``button_reply`` / ``list_reply`` for ``reply_option_id=...``), v1 in its own.

        :param phone_number: the person's number.
        :param content: its text.
        :param phone_number_id: the business number (the default one when ``None``).
        :param message: any other argument of :meth:`deliver_inbound`.
        """
        conversation = self._store.find_or_create_conversation(phone_number, self._config_of(phone_number_id))
        return self.deliver_inbound(conversation["id"], content, **message)

    def reply_to_question(
        self,
        choose: str | int | None = None,
        *,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        text: str | None = None,
        reply_option_id: str | None = None,
        reply_option_title: str | None = None,
        into_conversation_id: str | None = None,
        after_messages: int = 1,
        after_reads: int = 0,
        delay: float = 0.0,
    ) -> dict[str, Any]:
        """Play the person answering the next question: arm a reply delivered once the question is sent.

        The reply goes out after the ``after_messages``-th outbound message into the conversation (or to the
        number) counted from now, then after ``after_reads`` listings of that conversation's messages
        (so the waiting task has looked at least that often; a deferred task's trigger reads from the
        second listing on), then after ``delay`` seconds. Returns the armed reply as JSON; its ``state``
        becomes ``delivered`` (``delivered`` holds the record) or ``failed`` (``error`` says why).

        :param choose: tap the option of the latest interactive message there with this title or id
            (ignoring case), or with this index.
        :param conversation_id: the conversation to watch; or
        :param phone_number: the number whose conversation to watch.
        :param text: instead of a tap, type this text.
        :param reply_option_id: instead, tap an option with this id, whatever was asked (a stale button).
        :param reply_option_title: the title that goes with ``reply_option_id``.
        :param into_conversation_id: deliver into this conversation instead (another person answering).
        :param after_messages: the outbound message to wait for (1: the next one).
        :param after_reads: listings of the conversation to wait for after that.
        :param delay: seconds to wait after that.
        """
        reply = self._reply_scheduler.arm(
            conversation_id=conversation_id,
            phone_number=phone_number,
            choose=choose,
            text=text,
            reply_option_id=reply_option_id,
            reply_option_title=reply_option_title,
            into_conversation_id=into_conversation_id,
            after_messages=after_messages,
            after_reads=after_reads,
            delay=delay,
        )
        return reply.to_json()

    def armed_replies(self) -> list[dict[str, Any]]:
        """Every reply armed with :meth:`reply_to_question` since the last reset, as JSON."""
        return [reply.to_json() for reply in self._reply_scheduler.replies()]
