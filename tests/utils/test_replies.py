"""The pure rules of an answer: the confirmation's placeholders, and what a read logs of the messages it ignores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kapso_provider.utils.replies import ReplySpec, ReplyWatch, digits, fill_confirmation, option_ids

ANSWER: dict[str, Any] = {
    "option_id": "approve",
    "option_title": "Approve",
    "answered_by": "+15551234567",
    "answered_at": "2026-01-01T10:00:00.000000Z",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{option_title} by {answered_by}", "Approve by +15551234567"),
        ("{option_id} at {answered_at}", "approve at 2026-01-01T10:00:00.000000Z"),
        # Anything else in braces is the customer's or the author's text, kept as written.
        ("Thanks {smile}", "Thanks {smile}"),
        ("{option_id.__class__} {option_id[0]} {option_id!r}", "{option_id.__class__} {option_id[0]} {option_id!r}"),
        ("{0} {} {{option_id}}", "{0} {} {approve}"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_only_the_four_placeholders_are_replaced(text: str, expected: str) -> None:
    assert fill_confirmation(text, ANSWER) == expected


def test_nobody_answered() -> None:
    timed_out = {**ANSWER, "answered_by": None}
    assert fill_confirmation("{answered_by}", timed_out) == "nobody (no answer in time)"


# -- what a read logs about the messages it ignores --------------------------------------------------------

ASKED_AT = "2026-01-01T10:00:00.000000Z"
ASKED = "+15551234567"
STRANGER = "+15559876543"
SPEC = ReplySpec(
    option_ids=tuple(option_ids("dag\x1frun\x1ftask\x1f-1", 2)),
    option_keys=("approve", "reject"),
    option_titles=("Approve", "Reject"),
    accept_text=False,
    allowed_numbers=(digits(ASKED),),
)


@dataclass
class ListLog:
    """A logger that keeps what it was told, by level."""

    lines: list[tuple[str, str]] = field(default_factory=list)

    def info(self, msg: str, /, *args: Any) -> None:
        self.lines.append(("info", msg % args))

    def debug(self, msg: str, /, *args: Any) -> None:
        self.lines.append(("debug", msg % args))

    def at(self, level: str) -> list[str]:
        return [line for logged, line in self.lines if logged == level]


def inbound(number: int, *, sender: str = ASKED, option: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """An inbound message ``number`` seconds after the question, with the conversation it was listed in."""
    message: dict[str, Any] = {
        "id": f"msg-{number}",
        "direction": "inbound",
        "message_type": "interactive" if option else "text",
        "content": "Approve" if option else f"answer {number}",
        "created_at": f"2026-01-01T10:{number // 60:02d}:{number % 60:02d}.000001Z",
        "phone_number": sender,
    }
    if option:
        message["message_type_data"] = {"reply_option_id": option}
    return message, {"id": "conversation-1", "phone_number": ASKED}


@pytest.mark.parametrize(
    ("sender", "why"),
    [(ASKED, "it chooses none of this question's options"), (STRANGER, "not one of the numbers allowed to answer")],
)
def test_a_lone_ignored_message_is_explained(sender: str, why: str) -> None:
    log = ListLog()
    watch = ReplyWatch(spec=SPEC, question_created_at=ASKED_AT)
    assert watch.take([inbound(1, sender=sender)], log) is None
    assert log.at("info") == [f"Ignoring message msg-1 from {sender}: {why}"]


@pytest.mark.parametrize("answered", [False, True])
def test_a_read_of_many_ignored_messages_logs_a_few_lines_at_info(answered: bool) -> None:
    # A hundred questions in one conversation: every wait reads every other question's answer. One line
    # per ignored message and wait made tens of thousands of lines and held up the triggerer's loop.
    log = ListLog()
    watch = ReplyWatch(spec=SPEC, question_created_at=ASKED_AT)
    others = option_ids("another question", 2)[0]
    listed = [inbound(n, option=others) for n in range(1, 191)]
    listed += [inbound(n, sender=STRANGER) for n in range(191, 201)]
    if answered:
        listed.append(inbound(201, option=SPEC.option_ids[1]))
    answer = watch.take(listed, log)
    assert (answer is not None and answer["option_id"] == "reject") is answered
    why = "it chooses none of this question's options"
    explained = [f"Ignoring message msg-{n} from {ASKED}: {why}" for n in (1, 2, 3)]
    summary = (
        "Ignoring 197 more new messages, each logged at debug (ignored in this read: 190 choosing none of the "
        "options, 10 from numbers not allowed to answer)"
    )
    chose = ["Message msg-201 from +15551234567 chose 'Reject'"] if answered else []
    assert log.at("info") == [*explained, summary, *chose]
    assert len(log.at("debug")) == 197
    assert log.at("debug")[-1] == f"Ignoring message msg-200 from {STRANGER}: not one of the numbers allowed to answer"
    if not answered:
        # The next read of the same conversation finds nothing new and says nothing.
        log.lines.clear()
        assert watch.take(listed, log) is None
        assert log.lines == []
