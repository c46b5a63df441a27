"""Which listed messages are new, and which of them a wait is for: shared by the inbound sensor, its trigger
and the ask operators' reply watch.

Kapso has no change feed and documents no order for a conversation's messages, so "new" is decided by
time and identity together (:class:`InboundCursor`). Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import parse_time
from kapso_provider.exceptions import KapsoArgumentError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "InboundCursor",
    "check_since",
    "compile_text_pattern",
    "format_time",
    "inbound_matches",
    "inbound_payload",
    "order_new",
    "reply_option_id",
]

Listed = list[tuple[dict[str, Any], dict[str, Any]]]


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``: the form Kapso's records carry."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_since(since: object, *, field_name: str = "since") -> str | None:
    """``since`` as normalized ISO-8601 UTC text, or ``None``.

    :raises KapsoArgumentError: naming the field when ``since`` is no date-time.
    """
    if since is None:
        return None
    moment = since if isinstance(since, datetime) else parse_time(since)
    if moment is None:
        raise KapsoArgumentError(f"{field_name}: {since!r} is not an ISO-8601 date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_time(moment)


def compile_text_pattern(text_pattern: str | None, *, field_name: str = "text_pattern") -> re.Pattern[str] | None:
    """The compiled regular expression, or ``None``.

    :raises KapsoArgumentError: naming the field when the pattern does not compile.
    """
    if text_pattern is None:
        return None
    try:
        return re.compile(text_pattern)
    except re.error as exc:
        raise KapsoArgumentError(f"{field_name}: {text_pattern!r} is not a valid regular expression ({exc})") from None


@dataclass
class InboundCursor:
    """How far an inbound-message wait has read: a high-water timestamp plus the ids read near it.

    - ``since``: the latest ``created_at`` of any message already taken into account (inbound or outbound,
      matching the filters or not); it only moves forward, over messages read in ``created_at`` order;
    - ``seen``: message id -> ``created_at`` of every message read whose ``created_at`` lies within
      ``lookback`` of ``since``. Several messages can carry the very same timestamp, and one can become
      visible in Kapso's lists a little after a later one: the ids, not the timestamp alone, decide;
    - ``origin``: where the wait began; nothing created before it is ever new.

    A message is new when ``created_at >= max(origin, since - lookback)`` and its id is not in ``seen``.
    ``seen`` stays bounded: ids that fall out of the lookback window are dropped, since the window test
    alone then rejects them.

    :param since: the high-water mark.
    :param origin: the start of the wait.
    :param seen: ids read within the lookback window, with their ``created_at``.
    """

    since: datetime
    origin: datetime
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, since: str | None) -> InboundCursor:
        """A cursor that begins at ``since`` (ISO-8601), or now when ``None``."""
        moment = parse_time(since) if since is not None else datetime.now(UTC)
        if moment is None:
            raise KapsoArgumentError(f"since: {since!r} is not an ISO-8601 date-time")
        return cls(since=moment, origin=moment)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, as stored in Airflow's asset state store."""
        return {"since": format_time(self.since), "origin": format_time(self.origin), "seen": dict(self.seen)}

    @classmethod
    def from_json(cls, value: Any) -> InboundCursor | None:
        """The cursor :meth:`to_json` wrote, or ``None`` for anything else (a first run, a foreign value)."""
        if not isinstance(value, dict):
            return None
        since, origin, seen = parse_time(value.get("since")), parse_time(value.get("origin")), value.get("seen")
        if since is None or origin is None or not isinstance(seen, dict):
            return None
        return cls(since=since, origin=origin, seen={str(key): str(stamp) for key, stamp in seen.items()})

    def window_start(self, lookback: float) -> datetime:
        """The earliest ``created_at`` (and conversation ``last_active_at``) that can still be new."""
        return max(self.origin, self.since - timedelta(seconds=lookback))

    def is_new(self, record: dict[str, Any], lookback: float) -> bool:
        """Whether a listed message has not been taken into account yet.

        A ``created_at`` without a fraction of a second (Meta's timestamps, on the current API, are whole
        seconds) stands for its whole second: it counts when that second reaches the window, so a message
        in the very second a wait began is not lost.
        """
        created_at = parse_time(record.get("created_at"))
        if created_at is None:
            return False
        start = self.window_start(lookback)
        if created_at.microsecond == 0:
            start = start.replace(microsecond=0)
        return created_at >= start and str(record.get("id")) not in self.seen

    def advance(self, record: dict[str, Any], lookback: float) -> None:
        """Take ``record`` into account; called in ``(created_at, id)`` order."""
        created_at = parse_time(record.get("created_at"))
        if created_at is None:
            return
        self.since = max(self.since, created_at)
        self.seen[str(record.get("id"))] = format_time(created_at)
        # Ids come in created_at order, so those that fell out of the lookback window are at the front:
        # dropping them there keeps a burst of k messages (k questions asked at once) at O(k), not O(k²)
        # (a thousand of them blocked a triggerer for seconds). An id that came late waits for its turn to
        # go; the window test alone already rejects its message.
        floor = self.window_start(lookback)
        while self.seen:
            oldest = next(iter(self.seen))
            if (parse_time(self.seen[oldest]) or floor) >= floor:
                break
            del self.seen[oldest]


def inbound_matches(record: dict[str, Any], pattern: re.Pattern[str] | None) -> bool:
    """Whether a message is one the wait is for: from the customer, and matching the text pattern if any."""
    if record.get("direction") != "inbound":
        return False
    if pattern is None:
        return True
    content = record.get("content")
    return isinstance(content, str) and pattern.search(content) is not None


def order_new(listed: Listed, cursor: InboundCursor, lookback: float) -> Listed:
    """The ``(message, conversation)`` pairs not yet taken into account, oldest first.

    Messages with the same ``created_at`` keep the order they were listed in: the current API lists them as
    they arrived (its timestamps are whole seconds), API v1 documents no order of a conversation's messages.
    """
    fresh = {str(message.get("id")): (message, conversation) for message, conversation in listed}
    new = [pair for pair in fresh.values() if cursor.is_new(pair[0], lookback)]
    # Sorting makes the order of a conversation's message list irrelevant: Kapso does not document it.
    return sorted(new, key=lambda pair: parse_time(pair[0].get("created_at")) or cursor.origin)


def reply_option_id(message: Mapping[str, Any]) -> str | None:
    """The id of the button or list row an inbound interactive reply chose, or ``None``.

    API v1's files describe it as ``message_type_data.reply_option_id`` ("For replies, the ID of the
    selected option", ``InteractiveMessageData``). WhatsApp's own shape nests it as
    ``button_reply.id``/``list_reply.id``, which is where the current API's records carry it
    (``kapso_provider.api.current.records.message_record``); both are read.
    """
    data = message.get("message_type_data")
    if not isinstance(data, dict):
        return None
    chosen = data.get("reply_option_id")
    if isinstance(chosen, str) and chosen:
        return chosen
    for nested in ("button_reply", "list_reply"):
        reply = data.get(nested)
        if isinstance(reply, dict) and isinstance(reply.get("id"), str):
            return str(reply["id"])
    return None


def inbound_payload(message: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    """One inbound message as a trigger event's or an XCom's plain JSON, the same keys on both API generations.

    The conversation it was listed in says its id, number and WhatsApp number; the message's own fields fill
    gaps only. ``docs/inbound-messages.md`` says which keys each generation fills.
    """
    content = message.get("content")
    return {
        "message": message,
        "message_id": message.get("id"),
        "wamid": message.get("whatsapp_message_id"),
        "conversation_id": conversation.get("id"),
        "phone_number": conversation.get("phone_number") or message.get("phone_number"),
        "whatsapp_config_id": conversation.get("whatsapp_config_id") or message.get("whatsapp_config_id"),
        "phone_number_id": conversation.get("phone_number_id") or message.get("phone_number_id"),
        "text": content if isinstance(content, str) else None,
        "reply_id": reply_option_id(message),
    }
