"""Human in the loop over WhatsApp: build the question, ask it once, wait for the answer, confirm once.

The ask operators (:mod:`kapso_provider.operators.ask`) render and check their arguments and call this
service; :class:`~kapso_provider.triggers.kapso.KapsoReplyTrigger` runs the same read
(:func:`poll_answer`) in the triggerer. What counts as an answer is decided in
:mod:`kapso_provider.utils.replies`. The reads and sends are API v1's (a second generation brings its own
listing of a conversation here).

Imported when an ask operator checks its arguments, possibly while a DAG file is parsed: the models, the
API definitions and the transport load only when a question is built or sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import parse_time
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.utils.inbound import format_time
from kapso_provider.utils.replies import ReplySpec, ReplyWatch, digits, sent_option_ids
from kapso_provider.utils.waiting import next_wait

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.models import KapsoMessage
    from kapso_provider.transport.flows import Flow, FlowContext, Steps
    from kapso_provider.transport.policy import WarningLog

__all__ = ["AskService", "Option", "Question", "Waited", "allowing", "build_question", "poll_answer"]

Listed = list[tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Option:
    """One option of a question.

    :param key: what the task reports as ``option_id`` when it is chosen.
    :param title: the button's or list row's title.
    :param description: a list row's description.
    """

    key: str
    title: str
    description: str | None = None


@dataclass(frozen=True)
class Question:
    """A question as Kapso stored it: where it is and when.

    :param conversation_id: the conversation it went into.
    :param message_id: its Kapso message id.
    :param created_at: its ``created_at`` on Kapso's clock (ISO-8601): answers, reminders and the
        confirmation come after it.
    :param phone_number: the number asked.
    :param whatsapp_config_id: the WhatsApp number it went out from, when known.
    """

    conversation_id: str
    message_id: str
    created_at: str
    phone_number: str | None = None
    whatsapp_config_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The question as a trigger event carries it back to the operator."""
        return {"conversation_id": self.conversation_id, "message_id": self.message_id, "created_at": self.created_at}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Question:
        """The question a trigger event carries."""
        return cls(
            conversation_id=str(value["conversation_id"]),
            message_id=str(value["message_id"]),
            created_at=str(value["created_at"]),
        )


# -- the question ---------------------------------------------------------------------------------------------

# The model's names for the parts of an interactive message, and the ask operators' names for them.
_FIELD_NAMES = (
    ("body_text", "question"),
    ("buttons[", "options["),
    ("sections[0].rows[", "options["),
)


def _operator_field(problem: str) -> str:
    for model_name, operator_name in _FIELD_NAMES:
        if problem.startswith(model_name):
            return operator_name + problem[len(model_name) :]
    return problem


def _check_options(options: Sequence[Option]) -> None:
    from kapso_provider.models import LIST_ROWS_MAX

    if not 1 <= len(options) <= LIST_ROWS_MAX:
        raise KapsoArgumentError(f"options: {len(options)} given, WhatsApp allows 1 to {LIST_ROWS_MAX}")
    seen: dict[str, int] = {}
    problems = []
    for index, option in enumerate(options):
        for name, value in (("id", option.key), ("title", option.title)):
            folded = f"{name}:{value.strip().casefold()}"
            if not value.strip():
                problems.append(f"options[{index}].{name}: must not be empty")
            elif folded in seen:
                problems.append(
                    f"options[{index}].{name}: {value!r} repeats options[{seen[folded]}].{name} (ignoring case)"
                )
            seen.setdefault(folded, index)
    if problems:
        raise KapsoArgumentError(problems)


def _kind(options: Sequence[Option], interactive_type: str | None) -> str:
    """``button`` when asked for or when the options fit on reply buttons, else ``list``."""
    from kapso_provider.models import BUTTON_TITLE_MAX_CHARS, BUTTONS_MAX

    if interactive_type is None:
        fits = len(options) <= BUTTONS_MAX and all(
            len(option.title) <= BUTTON_TITLE_MAX_CHARS and not option.description for option in options
        )
        return "button" if fits else "list"
    if interactive_type not in ("button", "list"):
        raise KapsoArgumentError(f"interactive_type: {interactive_type!r} must be 'button' or 'list'")
    if interactive_type == "button":
        if len(options) > BUTTONS_MAX:
            raise KapsoArgumentError(
                f"options: {len(options)} given, reply buttons allow at most {BUTTONS_MAX}; use a list"
            )
        described = [index for index, option in enumerate(options) if option.description]
        if described:
            raise KapsoArgumentError(f"options[{described[0]}].description: only list rows have descriptions")
    return interactive_type


def build_question(
    question: str,
    options: Sequence[Option],
    *,
    ids: Sequence[str],
    interactive_type: str | None = None,
    header_text: str | None = None,
    footer_text: str | None = None,
    list_button_text: str = "Choose",
) -> KapsoMessage:
    """The interactive message that asks ``question``: reply buttons, or a list when the options need one.

    WhatsApp's limits (titles, descriptions, body, header and footer lengths) are the models'
    (:mod:`kapso_provider.models`); their problems are named as the ask operators' arguments.

    :param ids: the option ids to send, one per option (:func:`~kapso_provider.utils.replies.option_ids`).
    :raises KapsoArgumentError: naming the argument at fault.
    """
    from kapso_provider.exceptions import KapsoInvalidMessageError
    from kapso_provider.models import parse_message

    _check_options(options)
    kind = _kind(options, interactive_type)
    message: dict[str, Any] = {"message_type": "interactive", "interactive_type": kind, "body_text": question}
    if header_text:
        message["header_text"] = header_text
    if footer_text:
        message["footer_text"] = footer_text
    if kind == "button":
        message["buttons"] = [{"id": ids[i], "title": option.title} for i, option in enumerate(options)]
    else:
        rows = [
            {"id": ids[i], "title": option.title, **({"description": option.description} if option.description else {})}
            for i, option in enumerate(options)
        ]
        message["list_button_text"] = list_button_text
        message["sections"] = [{"rows": rows}]
    try:
        return parse_message(message)
    except KapsoInvalidMessageError as exc:
        raise KapsoArgumentError([_operator_field(problem) for problem in exc.problems]) from None


def allowing(spec: ReplySpec, question: Question, allowed_numbers: Sequence[str]) -> tuple[ReplySpec, list[str]]:
    """The spec with the numbers allowed to answer (default: the number asked), and those among them whose own
    conversations are read as well."""
    own = str(question.phone_number or "")
    allowed = list(allowed_numbers) or [own]
    others = [number for number in allowed if digits(number) != digits(own)]
    return replace(spec, allowed_numbers=tuple(digits(number) for number in allowed)), others


# -- one read, in the worker or the triggerer ------------------------------------------------------------------


def poll_answer(
    watch: ReplyWatch,
    *,
    conversation_id: str,
    phone_number: str | None = None,
    other_numbers: Sequence[str] = (),
    whatsapp_config_id: str | None = None,
    reminder_at: float | None = None,
) -> Flow[dict[str, Any] | None]:
    """One read for the answer: the question's conversation, then the other allowed numbers' conversations
    active since the watch's window; the reminder is sent when due and not sent yet.

    Runs on both hooks (``hook.run(...)``), so the worker and the triggerer read and decide alike.

    :param watch: the wait's state; it takes in what is read and notes the reminder.
    :returns: the answer (:meth:`ReplySpec.answer`), or ``None`` while there is none.
    """
    from kapso_provider.transport.flows import Flow, collect

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        # The connection's own generation's endpoints: the same read on API v1 and on the current API.
        list_conversations, list_messages, send_message = (
            context.endpoint(name) for name in ("list_conversations", "list_messages", "send_message")
        )
        own = {"id": conversation_id, "phone_number": phone_number}
        # Each listing is taken oldest first (reversed): the current API lists newest first and its times are
        # whole seconds, so of two taps in one second the one listed later came first. API v1 documents no
        # order, but its times are finer than a second, so the watch's sort by time decides there alone.
        listed: Listed = [
            (message, own) for message in reversed((yield from collect(context, list_messages(conversation_id))))
        ]
        since = format_time(watch.cursor.window_start(watch.lookback))
        for number in other_numbers:
            conversations = list_conversations(
                phone_number=number, whatsapp_config_id=whatsapp_config_id, last_active_after=since
            )
            for conversation in (yield from collect(context, conversations)):
                if conversation.get("id") != conversation_id:
                    messages = yield from collect(context, list_messages(conversation["id"]))
                    listed.extend((message, conversation) for message in reversed(messages))
        answer = watch.take(listed, context.log)
        if answer is None and watch.reminder_due(reminder_at, time.time()):
            reminder = {"message_type": "text", "content": watch.reminder_text}
            yield from send_message(reminder, conversation_id=conversation_id).steps(context)
            watch.reminder_sent = True
            context.log.info("No answer yet: sent the reminder into conversation %s", conversation_id)
        return answer

    return Flow(run)


# -- the service ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Waited:
    """How a wait in the worker ended.

    :param status: ``answered``, ``timeout``, or ``waiting`` (after the one read of a wait that defers).
    :param answer: for ``answered``, the answer.
    """

    status: str
    answer: dict[str, Any] | None = None


class AskService:
    """Asks a question once, waits for its answer in the worker, and sends the confirmation once.

    :param hook: the hook every request goes through.
    :param log: where the service says what it does.
    """

    def __init__(self, hook: KapsoHook, *, log: WarningLog) -> None:
        self.hook = hook
        self.log = log

    def ask(
        self, message: KapsoMessage, recipient: Mapping[str, Any], spec: ReplySpec, *, since: datetime | None
    ) -> Question:
        """Send the question, or on a retry find the one an earlier try sent; either way, where it is.

        :param message: the question (:func:`build_question`).
        :param recipient: ``conversation_id``, or ``phone_number`` with ``whatsapp_config_id`` or
            ``customer_id`` (``None`` for the ones not given).
        :param spec: what answers it; its option ids recognise the question on a retry.
        :param since: where an earlier try's question can start (the operator's earlier-try window), or
            ``None`` on a first try.
        """
        record = None if since is None else self._earlier_question(message, recipient, spec, since)
        if record is None:
            record = self.hook.send_message(message, **recipient)
        conversation_id = record.get("whatsapp_conversation_id") or recipient.get("conversation_id")
        whatsapp_config_id = record.get("whatsapp_config_id") or recipient.get("whatsapp_config_id")
        phone_number = record.get("phone_number") or recipient.get("phone_number")
        if not conversation_id:
            # Kapso's documented message record names the customer's number, not the conversation.
            located = self.hook.locate_message(
                str(record["id"]),
                phone_number=str(phone_number),
                whatsapp_config_id=recipient.get("whatsapp_config_id"),
            )
            conversation = located["conversation"]
            conversation_id = conversation["id"]
            whatsapp_config_id = whatsapp_config_id or conversation.get("whatsapp_config_id")
        if not phone_number:
            phone_number = self.hook.get_conversation(str(conversation_id)).get("phone_number")
        created_at = parse_time(record.get("created_at")) or datetime.now(UTC)
        self.log.info("Asked in conversation %s (message %s); waiting for the answer", conversation_id, record["id"])
        return Question(
            conversation_id=str(conversation_id),
            message_id=str(record["id"]),
            created_at=format_time(created_at),
            phone_number=phone_number,
            whatsapp_config_id=whatsapp_config_id,
        )

    def _earlier_question(
        self, message: KapsoMessage, recipient: Mapping[str, Any], spec: ReplySpec, since: datetime
    ) -> dict[str, Any] | None:
        """The question an earlier try of this task sent, if any: found as any lost send is (Kapso's clock, the
        ledger), but recognised by its option ids, which only this task instance of this run uses, so another
        task asking the same words is never taken for it."""
        ours = set(spec.option_ids)
        # Each message the search returns is claimed, so the next search goes past it: the same words another
        # task asked (with other option ids) are skipped rather than taken for this question.
        while found := self.hook.find_sent_message(message, since=since, **recipient):
            sent = sent_option_ids(found)
            # Without the ids in the listed record, the same type and words are all there is to go by.
            if not sent or sent & ours:
                self.log.info("An earlier try sent the question as %s; not asking again", found.get("id"))
                return found
        return None

    def wait(
        self,
        question: Question,
        watch: ReplyWatch,
        *,
        other_numbers: Sequence[str],
        poke_interval: float,
        deadline: float | None,
        reminder_at: float | None,
        read_once: bool,
    ) -> Waited:
        """Read every ``poke_interval`` seconds until the answer or the deadline.

        :param read_once: return ``waiting`` after the first read that finds no answer (the operator then
            defers), so an answer already there never goes through the triggerer.
        """
        flow = poll_answer(
            watch,
            conversation_id=question.conversation_id,
            phone_number=question.phone_number,
            other_numbers=other_numbers,
            whatsapp_config_id=question.whatsapp_config_id,
            reminder_at=reminder_at,
        )
        while True:
            answer = self.hook.run(flow)
            if answer is not None:
                return Waited("answered", answer)
            wait = next_wait(poke_interval, time.time(), deadline, None if watch.reminder_sent else reminder_at)
            if wait is None:
                return Waited("timeout")
            if read_once:
                return Waited("waiting")
            time.sleep(wait)

    def confirm(self, question: Question, text: str, *, since: datetime | None) -> None:
        """Send the confirmation into the question's conversation, once.

        :param since: on a retry, the operator's earlier-try window: a confirmation an earlier try sent after
            the question is found there (``find_sent_message`` reconciles on Kapso's clock) and not sent again.
        """
        message = {"message_type": "text", "content": text}
        if since is not None and self._confirmed(question, message, since):
            self.log.info("An earlier try sent the confirmation; not sending it again")
            return
        self.hook.send_message(message, conversation_id=question.conversation_id)
        self.log.info("Sent the confirmation")

    def _confirmed(self, question: Question, message: Mapping[str, Any], since: datetime) -> bool:
        asked_at = parse_time(question.created_at)
        # Each match is claimed, so the next search goes past it: an identical text sent before this question
        # (another task's confirmation) is skipped rather than taken for this one.
        while found := self.hook.find_sent_message(message, since=since, conversation_id=question.conversation_id):
            created_at = parse_time(found.get("created_at"))
            if asked_at is None or created_at is None or created_at >= asked_at:
                return True
        return False
