"""What counts as the answer to a question asked over WhatsApp, shared by the ask operators and their trigger.

The ask service (waiting in the worker with :class:`~kapso_provider.hooks.kapso.KapsoHook`) and
:class:`~kapso_provider.triggers.kapso.KapsoReplyTrigger` (waiting in the triggerer with the async hook)
read the same messages and must decide the same way, so the decision lives here, free of I/O. New messages
are found with the inbound wait's :class:`~kapso_provider.utils.inbound.InboundCursor`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kapso_provider.arguments import parse_time
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.utils.inbound import InboundCursor, format_time, inbound_matches, order_new, reply_option_id

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

__all__ = [
    "CONFIRMATION_FIELDS",
    "ReplySpec",
    "ReplyWatch",
    "digits",
    "fill_confirmation",
    "option_ids",
    "reply_option_id",
    "sent_option_ids",
]

#: Every option id of an ask operator starts with this, so a reply is recognisably an answer to one.
OPTION_ID_PREFIX = "kapso-ask"


#: New messages one read explains one by one at info when they do not answer; the rest go in one line.
IGNORED_EXPLAINED = 3


class _InfoLog(Protocol):
    """The part of a logger the watch uses: Airflow's task and trigger loggers differ in type, not in this."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def debug(self, msg: Any, /, *args: Any) -> Any: ...


def digits(phone_number: object) -> str:
    """The digits of a phone number: how two spellings of one number compare equal."""
    return re.sub(r"\D", "", str(phone_number or ""))


def option_ids(question_key: str, count: int) -> list[str]:
    """The ids of a question's ``count`` options, unique to the question ``question_key`` names.

    The key is built from the DAG, the run, the task and its map index but not the try number, so a retry
    asks with the very same ids and a tap on a button of any other question (another run's, another
    task's) never matches.
    """
    digest = hashlib.sha256(question_key.encode()).hexdigest()[:16]
    return [f"{OPTION_ID_PREFIX}:{digest}:{index}" for index in range(count)]


@dataclass(frozen=True)
class ReplySpec:
    """Which inbound messages answer a question, and who may answer it.

    :param option_ids: the ids sent with the options, in option order.
    :param option_keys: what the task reports as ``option_id`` for each option.
    :param option_titles: the options' titles.
    :param accept_text: whether a typed reply equal to an option's title or key (ignoring case and
        surrounding blanks) counts.
    :param allowed_numbers: digits of the numbers whose replies count.
    """

    option_ids: tuple[str, ...]
    option_keys: tuple[str, ...]
    option_titles: tuple[str, ...]
    accept_text: bool
    allowed_numbers: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for a trigger's serialized kwargs."""
        return {
            "option_ids": list(self.option_ids),
            "option_keys": list(self.option_keys),
            "option_titles": list(self.option_titles),
            "accept_text": self.accept_text,
            "allowed_numbers": list(self.allowed_numbers),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ReplySpec:
        """The spec :meth:`to_json` wrote."""
        return cls(
            option_ids=tuple(str(item) for item in value["option_ids"]),
            option_keys=tuple(str(item) for item in value["option_keys"]),
            option_titles=tuple(str(item) for item in value["option_titles"]),
            accept_text=bool(value["accept_text"]),
            allowed_numbers=tuple(digits(item) for item in value["allowed_numbers"]),
        )

    def choice(self, message: Mapping[str, Any]) -> int | None:
        """The index of the option ``message`` chooses, or ``None`` when it answers nothing."""
        chosen = reply_option_id(message)
        if chosen is not None:
            # Matched by id only: an older question's button with the same title must not count.
            return self.option_ids.index(chosen) if chosen in self.option_ids else None
        content = message.get("content")
        if not self.accept_text or message.get("message_type") != "text" or not isinstance(content, str):
            return None
        typed = content.strip().casefold()
        for index, (key, title) in enumerate(zip(self.option_keys, self.option_titles, strict=True)):
            if typed in (title.strip().casefold(), key.strip().casefold()):
                return index
        return None

    def answer(self, index: int, message: Mapping[str, Any], sender: str) -> dict[str, Any]:
        """The task's result for option ``index`` chosen by ``message``."""
        return {
            "option_id": self.option_keys[index],
            "option_title": self.option_titles[index],
            "answered_by": sender,
            "answered_at": message.get("created_at"),
            "timed_out": False,
            "message": dict(message),
        }

    def default_answer(self, index: int, moment: datetime) -> dict[str, Any]:
        """The task's result when nobody answered in time and option ``index`` is the default."""
        return {
            "option_id": self.option_keys[index],
            "option_title": self.option_titles[index],
            "answered_by": None,
            "answered_at": format_time(moment),
            "timed_out": True,
            "message": None,
        }


def sender_of(message: Mapping[str, Any], conversation: Mapping[str, Any]) -> str:
    """The number an inbound message came from: its own ``phone_number``, else its conversation's."""
    return str(message.get("phone_number") or conversation.get("phone_number") or "")


# Why a new message is ignored: as one message's line says it, and as the count of the rest names it.
_NOT_ALLOWED = ("not one of the numbers allowed to answer", "from numbers not allowed to answer")
_NO_OPTION = ("it chooses none of this question's options", "choosing none of the options")


@dataclass
class _Ignored:
    """The new messages one read ignores: the first few explained at info, the others counted."""

    log: _InfoLog
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, message: Mapping[str, Any], sender: str, why: tuple[str, str]) -> None:
        seen = sum(self.counts.values())
        self.counts[why[1]] = self.counts.get(why[1], 0) + 1
        say = self.log.info if seen < IGNORED_EXPLAINED else self.log.debug
        say("Ignoring message %s from %s: %s", message.get("id"), sender, why[0])

    def summarize(self) -> None:
        rest = sum(self.counts.values()) - IGNORED_EXPLAINED
        if rest > 0:
            reasons = ", ".join(f"{count} {label}" for label, count in self.counts.items())
            self.log.info(
                "Ignoring %d more new messages, each logged at debug (ignored in this read: %s)", rest, reasons
            )


@dataclass
class ReplyWatch:
    """The state of one wait for an answer: what was read, and whether the reminder went out.

    It starts from the question's ``created_at``; rebuilt from the same values (after a triggerer restart,
    a retry, a resumption) it reads the same messages and finds the same first answer.

    :param spec: what counts as an answer.
    :param question_created_at: the question's ``created_at`` (ISO-8601).
    :param lookback: seconds behind the cursor re-read for messages that show up late.
    :param reminder_text: the reminder's text, when one is to be sent.
    """

    spec: ReplySpec
    question_created_at: str
    lookback: float = 5.0
    reminder_text: str | None = None
    cursor: InboundCursor = field(init=False)
    reminder_sent: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.cursor = InboundCursor.start(self.question_created_at)

    def take(self, listed: Iterable[tuple[dict[str, Any], dict[str, Any]]], log: _InfoLog) -> dict[str, Any] | None:
        """The first answer among the newly listed messages (oldest first), or ``None``.

        A new inbound message that is not the answer is logged with why it does not count: someone not
        allowed to answer, or a message that chooses none of this question's options. One read explains
        the first ``IGNORED_EXPLAINED`` (3) such messages at info and counts the rest in one more line
        (each of them at debug): a hundred questions in one conversation would otherwise have every wait
        log every other question's answer, tens of thousands of lines that hold up the triggerer's loop.

        :param listed: ``(message, conversation)`` pairs just read.
        :param log: where to log ignored messages.
        """
        listed = list(listed)
        self._note_reminder(message for message, _ in listed)
        ignored = _Ignored(log)
        for message, conversation in order_new(listed, self.cursor, self.lookback):
            self.cursor.advance(message, self.lookback)
            if not inbound_matches(message, None):
                continue
            sender = sender_of(message, conversation)
            if digits(sender) not in self.spec.allowed_numbers:
                ignored.add(message, sender or "an unknown number", _NOT_ALLOWED)
                continue
            index = self.spec.choice(message)
            if index is None:
                ignored.add(message, sender, _NO_OPTION)
                continue
            ignored.summarize()
            log.info("Message %s from %s chose %r", message.get("id"), sender, self.spec.option_titles[index])
            return self.spec.answer(index, message, sender)
        ignored.summarize()
        return None

    def _note_reminder(self, messages: Iterable[dict[str, Any]]) -> None:
        """Mark the reminder sent when an earlier wait (before a restart or a retry) already sent it."""
        if self.reminder_sent or not self.reminder_text:
            return
        origin = self.cursor.origin
        for message in messages:
            created_at = parse_time(message.get("created_at"))
            if (
                message.get("direction") == "outbound"
                and message.get("message_type") == "text"
                and message.get("content") == self.reminder_text
                and created_at is not None
                and created_at >= origin
            ):
                self.reminder_sent = True
                return

    def reminder_due(self, reminder_at: float | None, now: float) -> bool:
        """Whether the reminder is to be sent now."""
        return bool(self.reminder_text) and reminder_at is not None and not self.reminder_sent and now >= reminder_at


def question_key(context: Mapping[str, Any]) -> str:
    """What makes one question unique: DAG, run, task and map index, never the try number."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    run_id = getattr(ti, "run_id", None) or context["run_id"]
    return "\x1f".join([str(ti.dag_id), str(run_id), str(ti.task_id), str(map_index)])


def seconds_from(moment: str, offset: float) -> float:
    """``moment`` (ISO-8601) plus ``offset`` seconds, as a Unix timestamp."""
    parsed = parse_time(moment)
    if parsed is None:
        raise KapsoArgumentError(f"created_at: {moment!r} is not an ISO-8601 date-time")
    return parsed.timestamp() + offset


def sent_option_ids(record: Mapping[str, Any]) -> set[str]:
    """The button and row ids a listed outbound interactive message carries: API v1's
    ``InteractiveMessageData``, or on the current API Meta's ``interactive.action`` the record keeps under
    ``whatsapp``."""
    data = record.get("message_type_data")
    ids: set[str] = set()
    if isinstance(data, dict):
        ids.update(str(button.get("id")) for button in data.get("buttons") or [] if isinstance(button, dict))
        for section in data.get("sections") or []:
            if isinstance(section, dict):
                ids.update(str(row.get("id")) for row in section.get("rows") or [] if isinstance(row, dict))
    whatsapp = record.get("whatsapp")
    interactive = whatsapp.get("interactive") if isinstance(whatsapp, dict) else None
    action = interactive.get("action") if isinstance(interactive, dict) else None
    if isinstance(action, dict):
        for button in action.get("buttons") or []:
            reply = button.get("reply") if isinstance(button, dict) else None
            if isinstance(reply, dict):
                ids.add(str(reply.get("id")))
        for section in action.get("sections") or []:
            if isinstance(section, dict):
                ids.update(str(row.get("id")) for row in section.get("rows") or [] if isinstance(row, dict))
    return ids


#: The placeholders a confirmation text may use, filled in from the answer.
CONFIRMATION_FIELDS = ("option_id", "option_title", "answered_by", "answered_at")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(CONFIRMATION_FIELDS) + r")\}")


def fill_confirmation(text: str, answer: Mapping[str, Any]) -> str:
    """``text`` with each of the four :data:`CONFIRMATION_FIELDS` placeholders replaced from ``answer``.

    Nothing else in the text is read: any other brace (a customer's ``{smile}``, ``{option_id.__class__}``,
    ``{0}``) stays as written, and no value is formatted, looked up or evaluated.
    """
    values = {name: answer.get(name) for name in CONFIRMATION_FIELDS}
    if values["answered_by"] is None:
        values["answered_by"] = "nobody (no answer in time)"
    return _PLACEHOLDER.sub(lambda found: str(values[found.group(1)]), text)
