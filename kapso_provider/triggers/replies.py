"""The trigger a deferred ask operator waits in for the answer to its question."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kapso_provider.exceptions import KapsoRateLimitError, KapsoServerError
from kapso_provider.triggers.base import KapsoPollingTrigger, Poll
from kapso_provider.utils.inbound import check_since
from kapso_provider.utils.replies import ReplySpec, ReplyWatch

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoAsyncHook

__all__ = ["KapsoReplyTrigger"]


class KapsoReplyTrigger(KapsoPollingTrigger[ReplyWatch]):
    """Waits for the answer to a question an ask operator sent, and yields exactly one event.

    Every ``poll_interval`` seconds it lists the messages of the question's conversation (and, when other
    numbers may answer, of their conversations active since the question) and looks, oldest first, for
    the first inbound message created after the question that chooses one of its options (see
    :class:`~kapso_provider.utils.replies.ReplySpec`). Messages from numbers not allowed to answer, and those
    choosing nothing, are logged and skipped. Requests go through
    :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook`, which paces them to Kapso's rate limit and waits
    out 429s; a rate limit or server error that outlasts its retries only delays the next read.

    Nothing is kept between runs: a trigger rebuilt from ``serialize()`` after a triggerer restart starts
    again from the question's ``created_at``, reads the same messages and finds the same first answer. The
    one write, the optional reminder, is sent once: a restarted trigger sees it in the conversation and
    does not send it again.

    Its one event is plain JSON: ``status`` (``answered``, ``timeout`` or ``error``), ``answer`` (for
    ``answered``: ``option_id``, ``option_title``, ``answered_by``, ``answered_at``, ``timed_out`` and
    the raw inbound ``message``), ``error`` (Kapso's error text; never the API key), and ``question``
    (``conversation_id``, ``message_id``, ``created_at``).

    :param conversation_id: the conversation the question was sent into.
    :param question_message_id: the question's Kapso message id.
    :param question_created_at: the question's ``created_at`` (ISO-8601): answers count from it.
    :param spec: what counts as an answer, as :meth:`~kapso_provider.utils.replies.ReplySpec.to_json` writes it.
    :param other_numbers: numbers, besides the conversation's own, whose conversations are read.
    :param whatsapp_config_id: the WhatsApp number the question went out from, to find those conversations.
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never.
    :param reminder_at: when to send the reminder, as a Unix timestamp, or ``None``.
    :param reminder_text: the reminder's text.
    :param lookback: seconds behind the cursor re-read for messages that show up late.
    """

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "conversation_id",
        "question_message_id",
        "question_created_at",
        "spec",
        "other_numbers",
        "whatsapp_config_id",
        *KapsoPollingTrigger.serialized_fields,
        "reminder_at",
        "reminder_text",
        "lookback",
    )
    # A person may take hours to answer: a bad minute at Kapso must not end the wait.
    transient_errors: ClassVar[tuple[type[Exception], ...]] = (KapsoRateLimitError, KapsoServerError)

    def __init__(
        self,
        *,
        conversation_id: str,
        question_message_id: str,
        question_created_at: str,
        spec: dict[str, Any],
        other_numbers: list[str] | None = None,
        whatsapp_config_id: str | None = None,
        kapso_conn_id: str = "kapso_default",
        poll_interval: float = 30.0,
        deadline: float | None = None,
        reminder_at: float | None = None,
        reminder_text: str | None = None,
        lookback: float = 5.0,
    ) -> None:
        super().__init__(kapso_conn_id=kapso_conn_id, poll_interval=poll_interval, deadline=deadline)
        self.conversation_id = conversation_id
        self.question_message_id = question_message_id
        created_at = check_since(question_created_at, field_name="question_created_at")
        assert created_at is not None  # question_created_at is required
        self.question_created_at = created_at
        self.spec = ReplySpec.from_json(spec)
        self.other_numbers = list(other_numbers or [])
        self.whatsapp_config_id = whatsapp_config_id
        self.reminder_at = None if reminder_at is None else float(reminder_at)
        self.reminder_text = reminder_text
        self.lookback = float(lookback)

    def serialized_value(self, name: str) -> Any:
        if name == "spec":
            return self.spec.to_json()
        if name == "other_numbers":
            return list(self.other_numbers)
        return super().serialized_value(name)

    def identity(self) -> dict[str, Any]:
        question = {
            "conversation_id": self.conversation_id,
            "message_id": self.question_message_id,
            "created_at": self.question_created_at,
        }
        return {"question": question}

    def initial_report(self) -> dict[str, Any]:
        return {"answer": None}

    def begin(self) -> ReplyWatch:
        return ReplyWatch(
            spec=self.spec,
            question_created_at=self.question_created_at,
            lookback=self.lookback,
            reminder_text=self.reminder_text,
        )

    def wake_up_at(self, state: ReplyWatch) -> float | None:
        return None if state.reminder_sent else self.reminder_at

    async def poll(self, hook: KapsoAsyncHook, state: ReplyWatch) -> Poll:
        from kapso_provider.services.ask import poll_answer

        read = poll_answer(
            state,
            conversation_id=self.conversation_id,
            other_numbers=self.other_numbers,
            whatsapp_config_id=self.whatsapp_config_id,
            reminder_at=self.reminder_at,
        )
        answer = await hook.run(read)
        return Poll() if answer is None else Poll("answered", {"answer": answer})
