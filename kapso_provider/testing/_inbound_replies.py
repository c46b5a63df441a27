"""Playing the person who answers: inbound replies the simulator delivers later, on a delay or on an event.

A DAG test cannot answer a WhatsApp question by hand. :meth:`KapsoSimulator.reply_to_question
<kapso_provider.testing.KapsoSimulator.reply_to_question>` arms a reply that the simulator delivers once
the question has been sent (the ``after_messages``-th outbound message of the conversation since arming),
once the conversation's messages have then been listed ``after_reads`` times (so a test can be sure the
waiting task has already looked, and a deferrable one has deferred), and ``delay`` seconds later.

The shape of an inbound interactive reply follows both OpenAPI files' ``InteractiveMessageData``:
``message_type`` ``interactive``, ``message_type_data.interactive_type`` ``button`` or ``list``, and
``message_type_data.reply_option_id``/``reply_option_title`` ("For replies, the ID/title of the selected
option"). The files say nothing else about replies (not which ``interactive_type`` a reply carries, nor
what ``content`` holds); the simulator keeps the option's title in ``content``, as the files describe
``content`` as the human-readable content.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ArmedReply", "ReplyScheduler", "interactive_reply_data"]


def _digits(phone_number: object) -> str:
    return re.sub(r"\D", "", str(phone_number or ""))


def interactive_reply_data(option_id: str, option_title: str, interactive_type: str = "button") -> dict[str, Any]:
    """``message_type_data`` of an inbound tap on a reply button or list row (``InteractiveMessageData``)."""
    if interactive_type not in ("button", "list"):
        raise ValueError(f"interactive_type: {interactive_type!r} must be 'button' or 'list'")
    return {"interactive_type": interactive_type, "reply_option_id": option_id, "reply_option_title": option_title}


@dataclass
class ArmedReply:
    """One reply waiting for its moment. Fields as in :meth:`ReplyScheduler.arm`."""

    id: int
    conversation_id: str | None
    phone_number: str | None
    choose: str | int | None
    text: str | None
    reply_option_id: str | None
    reply_option_title: str | None
    into_conversation_id: str | None
    after_messages: int
    after_reads: int
    delay: float
    outbound_seen: int = 0
    reads_seen: int = 0
    question: dict[str, Any] | None = None
    target_conversation_id: str | None = field(default=None)
    state: str = "armed"  # armed -> asked (question seen, counting reads) -> scheduled -> delivered
    delivered: dict[str, Any] | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for the control endpoint."""
        return {
            "id": self.id,
            "state": self.state,
            "conversation_id": self.conversation_id,
            "phone_number": self.phone_number,
            "choose": self.choose,
            "text": self.text,
            "reply_option_id": self.reply_option_id,
            "into_conversation_id": self.into_conversation_id,
            "after_messages": self.after_messages,
            "after_reads": self.after_reads,
            "delay": self.delay,
            "delivered": self.delivered,
            "error": self.error,
        }

    def watches(self, record: dict[str, Any]) -> bool:
        if self.conversation_id is not None:
            return record.get("whatsapp_conversation_id") == self.conversation_id
        return _digits(record.get("phone_number")) == _digits(self.phone_number)


def _options_of(question: dict[str, Any]) -> list[tuple[str, str]]:
    data = question.get("message_type_data") or {}
    options = [(str(b.get("id")), str(b.get("title"))) for b in data.get("buttons") or []]
    for section in data.get("sections") or []:
        options.extend((str(r.get("id")), str(r.get("title"))) for r in section.get("rows") or [])
    return options


class ReplyScheduler:
    """The armed replies of one simulator; thread-safe, driven by the simulator's request handlers.

    :param deliver: stores an inbound message (the simulator's ``deliver_inbound``).
    :param messages: a conversation's messages, oldest first.
    """

    def __init__(self, deliver: Callable[..., dict[str, Any]], messages: Callable[[str], list[dict[str, Any]]]) -> None:
        self._deliver = deliver
        self._messages = messages
        self._lock = threading.Lock()
        self._armed: list[ArmedReply] = []
        self._timers: list[threading.Timer] = []
        self._ids = itertools.count(1)

    def arm(
        self,
        *,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        choose: str | int | None = None,
        text: str | None = None,
        reply_option_id: str | None = None,
        reply_option_title: str | None = None,
        into_conversation_id: str | None = None,
        after_messages: int = 1,
        after_reads: int = 0,
        delay: float = 0.0,
    ) -> ArmedReply:
        """Arm a reply; see :meth:`KapsoSimulator.reply_to_question` for the arguments."""
        if (conversation_id is None) == (phone_number is None):
            raise ValueError("give exactly one of conversation_id or phone_number")
        if sum(value is not None for value in (choose, text, reply_option_id)) != 1:
            raise ValueError("give exactly one of choose, text or reply_option_id")
        if isinstance(after_messages, bool) or not isinstance(after_messages, int) or after_messages < 1:
            raise ValueError(f"after_messages: {after_messages!r} must be an integer >= 1")
        if isinstance(after_reads, bool) or not isinstance(after_reads, int) or after_reads < 0:
            raise ValueError(f"after_reads: {after_reads!r} must be an integer >= 0")
        if not isinstance(delay, int | float) or delay < 0:
            raise ValueError(f"delay: {delay!r} must be zero or a positive number of seconds")
        reply = ArmedReply(
            id=next(self._ids),
            conversation_id=conversation_id,
            phone_number=phone_number,
            choose=choose,
            text=text,
            reply_option_id=reply_option_id,
            reply_option_title=reply_option_title,
            into_conversation_id=into_conversation_id,
            after_messages=after_messages,
            after_reads=after_reads,
            delay=float(delay),
        )
        with self._lock:
            self._armed.append(reply)
        return reply

    def replies(self) -> list[ArmedReply]:
        """Every reply armed since the last reset, in arming order."""
        with self._lock:
            return list(self._armed)

    def on_outbound(self, record: dict[str, Any]) -> None:
        """Called after the simulator stored an outbound message."""
        ready: list[ArmedReply] = []
        with self._lock:
            for reply in self._armed:
                if reply.state != "armed" or not reply.watches(record):
                    continue
                reply.outbound_seen += 1
                if record.get("message_type") == "interactive":
                    reply.question = record
                if reply.outbound_seen >= reply.after_messages:
                    reply.state = "asked"
                    reply.target_conversation_id = str(record.get("whatsapp_conversation_id"))
                    if reply.question is None:
                        reply.question = self._latest_question(reply.target_conversation_id)
                    if reply.after_reads == 0:
                        ready.append(reply)
        for reply in ready:
            self._schedule(reply)

    def on_listing(self, conversation_id: str) -> None:
        """Called when a client lists a conversation's messages, before the answer is built."""
        ready: list[ArmedReply] = []
        with self._lock:
            for reply in self._armed:
                if reply.state == "asked" and reply.target_conversation_id == conversation_id:
                    reply.reads_seen += 1
                    if reply.reads_seen >= reply.after_reads:
                        ready.append(reply)
        # Delivered before this listing is answered when there is no delay: the reader sees it now.
        for reply in ready:
            self._schedule(reply)

    def _latest_question(self, conversation_id: str) -> dict[str, Any] | None:
        questions = [m for m in self._messages(conversation_id) if m.get("message_type") == "interactive"]
        outbound = [m for m in questions if m.get("direction") == "outbound"]
        return outbound[-1] if outbound else None

    def _schedule(self, reply: ArmedReply) -> None:
        with self._lock:
            if reply.state != "asked":
                return
            reply.state = "scheduled"
        if reply.delay <= 0:
            self._fire(reply)
            return
        self.later(reply.delay, lambda: self._fire(reply))

    def _fire(self, reply: ArmedReply) -> None:
        try:
            kwargs = self._reply_kwargs(reply)
            into = reply.into_conversation_id or reply.target_conversation_id
            assert into is not None
            reply.delivered = self._deliver(into, **kwargs)
            reply.state = "delivered"
        except Exception as exc:  # kept for the control endpoint and the test that armed it
            reply.state = "failed"
            reply.error = f"{type(exc).__name__}: {exc}"

    def _reply_kwargs(self, reply: ArmedReply) -> dict[str, Any]:
        if reply.text is not None:
            return {"content": reply.text, "message_type": "text"}
        kind = "button"
        if reply.question is not None:
            kind = str((reply.question.get("message_type_data") or {}).get("interactive_type") or "button")
        if reply.reply_option_id is not None:
            title = reply.reply_option_title or reply.reply_option_id
            return {"reply_option_id": reply.reply_option_id, "reply_option_title": title, "interactive_type": kind}
        if reply.question is None:
            raise ValueError("no interactive question was sent into the conversation to choose from")
        options = _options_of(reply.question)
        choice = reply.choose
        if isinstance(choice, int) and not isinstance(choice, bool):
            if not 0 <= choice < len(options):
                raise ValueError(f"choose: index {choice} outside 0..{len(options) - 1}")
            option_id, title = options[choice]
        else:
            wanted = str(choice).strip().casefold()
            matches = [o for o in options if wanted in (o[0].casefold(), o[1].strip().casefold())]
            if not matches:
                raise ValueError(f"choose: {choice!r} is none of the question's options {[t for _, t in options]}")
            option_id, title = matches[0]
        return {"reply_option_id": option_id, "reply_option_title": title, "interactive_type": kind}

    def later(self, delay: float, action: Callable[[], Any]) -> None:
        """Run ``action`` in ``delay`` seconds on a timer that :meth:`cancel_all` cancels."""
        timer = threading.Timer(delay, action)
        timer.daemon = True
        with self._lock:
            self._timers.append(timer)
        timer.start()

    def cancel_all(self) -> None:
        """Cancel the timers of scheduled replies and forget every armed one (reset and stop)."""
        with self._lock:
            timers, self._timers = self._timers, []
            self._armed.clear()
        for timer in timers:
            timer.cancel()
