"""The input of a bulk send: recipients from a list or a JSON-lines file, their placeholders, the checks made
before the first request, and the merging of one person listed several times.

Nothing here holds all recipients at once: a file is read line by line (once to check, once to send), and
the only thing that grows with the list is :class:`RecipientKeySet`, a compact set of the people seen so far
(about 16 to 32 bytes per recipient, see ``docs/bulk.md``).
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import TYPE_CHECKING, Any, TextIO

from kapso_provider.arguments import RECIPIENT_FIELDS
from kapso_provider.exceptions import KapsoArgumentError, KapsoInvalidMessageError

if TYPE_CHECKING:
    from kapso_provider.models import KapsoMessage

#: ``${name}`` in any text of the message is replaced by the recipient's value ``name``; ``$${name}``
#: stays as the literal text ``${name}``. Jinja leaves both alone, so the DAG's own templates render first.
PLACEHOLDER = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Problems listed before the rest are only counted.
MAX_PROBLEMS_LISTED = 20
#: Merged entries the summary lists (all of them are counted).
MAX_MERGED_LISTED = 100
#: Recipient fields a recipient dict may set; every other key is a value for placeholders.
RECIPIENT_KEYS = frozenset(RECIPIENT_FIELDS)


@dataclass(frozen=True)
class Recipient:
    """One recipient of a bulk send.

    :param index: its position in the input, from 0.
    :param where: how to name it in an error: ``recipients[3]`` or ``recipients.jsonl line 4``.
    :param target: the recipient arguments of :meth:`KapsoHook.send_message`.
    :param values: the values its placeholders take.
    """

    index: int
    where: str
    target: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The phone number or conversation id it is sent to."""
        return self.target.get("phone_number") or self.target.get("conversation_id") or ""


@dataclass(frozen=True)
class LineProblem:
    """A line of a recipients file that is not JSON, carried to the check instead of stopping the reading."""

    text: str


def placeholders(value: Any) -> set[str]:
    """Names of the ``${name}`` placeholders anywhere in ``value`` (strings inside lists and dicts included)."""
    if isinstance(value, str):
        return {match.group(2) for match in PLACEHOLDER.finditer(value) if not match.group(1)}
    if isinstance(value, Mapping):
        return set().union(*(placeholders(item) for item in value.values()))
    if isinstance(value, list | tuple):
        return set().union(*(placeholders(item) for item in value))
    return set()


def fill(value: Any, values: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder replaced by the text of its value in ``values``."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(1):
                return match.group(0)[1:]
            item = values[match.group(2)]
            return item if isinstance(item, str) else json.dumps(item)

        return PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {key: fill(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [fill(item, values) for item in value]
    return value


def load_recipients(value: Any) -> list[Any]:
    """The ``recipients`` argument as a list: a list as given, a JSON array in a string, or an error."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise KapsoInvalidMessageError(
                [f"recipients: a string must be a JSON array ({exc.msg} at position {exc.pos})"]
            ) from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise KapsoInvalidMessageError([f"recipients: expected a list, got {type(value).__name__}"])
    return value


def read_recipients_file(path: str) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line of a JSON-lines file, read lazily; a line that is not JSON
    comes as a :class:`LineProblem`, so a check can name every bad line.

    A UTF-8 byte order mark at the start of the file (as some spreadsheet exports write) is skipped.

    :raises KapsoInvalidMessageError: the file cannot be opened.
    """
    name = path.rsplit("/", 1)[-1]
    try:
        handle: TextIO = open(path, encoding="utf-8-sig")  # noqa: SIM115 - closed in finally, read lazily
    except OSError as exc:
        raise KapsoInvalidMessageError([f"recipients_file: cannot read {path!r} ({exc.strerror})"]) from None
    try:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{name} line {line_number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                yield where, LineProblem(f"{where}: not JSON ({exc.msg})")
    except UnicodeDecodeError as exc:
        raise KapsoInvalidMessageError(
            [f"recipients_file: {name} is not UTF-8 text ({exc.reason} at byte {exc.start} of a block)"]
        ) from None
    finally:
        handle.close()


def iter_recipients_file(path: str) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line of a JSON-lines file, read lazily.

    :raises KapsoInvalidMessageError: for a line that is not JSON, naming the file and line.
    """
    for where, value in read_recipients_file(path):
        if isinstance(value, LineProblem):
            raise KapsoInvalidMessageError([value.text])
        yield where, value


def _file_path(recipients_file: Any) -> str:
    if not isinstance(recipients_file, str):
        raise KapsoInvalidMessageError(
            [f"recipients_file: must render to a path, got {type(recipients_file).__name__}"]
        )
    return recipients_file


def recipient_items(recipients: Any, recipients_file: Any) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` pairs from an operator's rendered ``recipients`` or ``recipients_file``.

    :raises KapsoInvalidMessageError: ``recipients_file`` did not render to a path, ``recipients`` is not a
        list, or (when read) a line of the file is not JSON.
    """
    if recipients_file is not None:
        return iter_recipients_file(_file_path(recipients_file))
    return listed_items(load_recipients(recipients))


def recipient_entries(recipients: Any, recipients_file: Any) -> Iterator[tuple[str, Any]]:
    """Like :func:`recipient_items`, but a file's bad lines come as :class:`LineProblem` values, for
    :func:`survey` to list them all."""
    if recipients_file is not None:
        return read_recipients_file(_file_path(recipients_file))
    return listed_items(load_recipients(recipients))


def listed_items(recipients: list[Any]) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` pairs of a recipients list."""
    for index, value in enumerate(recipients):
        yield f"recipients[{index}]", value


def to_recipient(
    index: int, where: str, value: Any, *, recipient_field: str, defaults: Mapping[str, str | None]
) -> Recipient:
    """Turn one input item (a string or a dict) into a checked :class:`Recipient`.

    :param index: its position in the input.
    :param where: how errors name it.
    :param value: a phone number or conversation id (per ``recipient_field``), or a dict with one of
        ``phone_number``/``conversation_id``, optionally ``whatsapp_config_id``/``customer_id``, and values
        for placeholders.
    :param recipient_field: what a plain string is: ``phone_number`` or ``conversation_id``.
    :param defaults: ``whatsapp_config_id``/``customer_id`` for phone numbers that do not set their own.
    :raises KapsoInvalidMessageError: naming ``where`` and the field at fault.
    """
    from kapso_provider.recipients import check_recipient

    if isinstance(value, LineProblem):
        raise KapsoInvalidMessageError([value.text])
    if isinstance(value, str):
        given: dict[str, Any] = {recipient_field: value}
        values: dict[str, Any] = {}
    elif isinstance(value, Mapping):
        given = {key: item for key, item in value.items() if key in RECIPIENT_KEYS and item is not None}
        values = {str(key): item for key, item in value.items() if key not in RECIPIENT_KEYS}
    else:
        raise KapsoInvalidMessageError(
            [f"{where}: expected a phone number, a conversation id or a dict, got {type(value).__name__}"]
        )
    if "phone_number" in given:
        for name, default in defaults.items():
            if default is not None:
                given.setdefault(name, default)
    target = {name: given.get(name) for name in RECIPIENT_FIELDS}
    try:
        check_recipient(**target)
    except KapsoArgumentError as exc:
        raise KapsoInvalidMessageError([f"{where}: {problem}" for problem in exc.problems]) from None
    return Recipient(index=index, where=where, target={k: v for k, v in target.items() if v is not None}, values=values)


def recipients_from(
    items: Iterable[tuple[str, Any]], *, recipient_field: str, defaults: Mapping[str, str | None]
) -> Iterator[Recipient]:
    """:class:`Recipient` objects for ``(where, value)`` pairs, lazily, in input order."""
    for index, (where, value) in enumerate(items):
        yield to_recipient(index, where, value, recipient_field=recipient_field, defaults=defaults)


class MessageDesign:
    """The message every recipient gets, with its placeholders filled per recipient.

    :param message_object: the v1 message object after the DAG's own templates rendered.
    """

    def __init__(self, message_object: Mapping[str, Any]) -> None:
        from kapso_provider.models import parse_message

        self.message_object = dict(message_object)
        self.names = placeholders(self.message_object)
        # Without placeholders every recipient gets the same message: check and build it once.
        self._shared: KapsoMessage | None = None if self.names else parse_message(self.message_object)

    def for_recipient(self, recipient: Recipient) -> KapsoMessage:
        """The checked message for ``recipient``.

        :raises KapsoInvalidMessageError: a placeholder has no value, or the filled message breaks a rule.
        """
        if self._shared is not None:
            return self._shared
        from kapso_provider.models import parse_message

        missing = sorted(self.names - recipient.values.keys())
        if missing:
            raise KapsoInvalidMessageError(
                [f"{recipient.where}: no value for placeholder(s) {', '.join('${' + n + '}' for n in missing)}"]
            )
        try:
            return parse_message(fill(self.message_object, recipient.values))
        except KapsoArgumentError as exc:
            raise KapsoInvalidMessageError([f"{recipient.where}: {problem}" for problem in exc.problems]) from None


# -- one person, listed once -------------------------------------------------------------------------------

# Phone keys carry the digit count above bit 50 (15 digits stay below 2**50), so "+0123..." and "+123..." differ
# and no key is 0, the empty slot; conversation keys set bit 63, so the two kinds never meet.
_DIGIT_COUNT_SHIFT = 50
_CONVERSATION_BIT = 1 << 63


def recipient_key(recipient: Recipient) -> int:
    """One 64-bit number per person: the normalized phone number itself (exact: ``"+1 (555) 123-0001"`` and
    ``"+15551230001"`` give the same key), or a 63-bit hash of a conversation id."""
    from kapso_provider.validation import normalized_phone

    phone = recipient.target.get("phone_number")
    if phone is not None:
        digits = normalized_phone(phone)[1:]
        return (len(digits) << _DIGIT_COUNT_SHIFT) | int(digits)
    digest = blake2b(recipient.target.get("conversation_id", "").encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") | _CONVERSATION_BIT


class RecipientKeySet:
    """A set of non-zero 64-bit keys in one flat array: 8 bytes a slot, at most half the slots used.

    A Python ``set`` of ints costs about 70 bytes per key (the int object and a slot of a table kept a third
    to two thirds full); this open-addressing table costs 16 to 32 bytes per key, which is what lets a bulk
    send of a million recipients merge repeated people without its memory growing with the list.
    """

    _MULTIPLIER = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads consecutive phone numbers over the table

    def __init__(self) -> None:
        self._bits = 10
        self._slots = array("Q", bytes(8 << self._bits))
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of the table itself."""
        return self._slots.itemsize * len(self._slots)

    def add(self, key: int) -> bool:
        """Add ``key``; ``True`` when it was not in the set yet."""
        if (self._count + 1) * 2 > len(self._slots):
            self._grow()
        if self._insert(self._slots, self._bits, key):
            self._count += 1
            return True
        return False

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        slots, mask = self._slots, len(self._slots) - 1
        slot = ((key * self._MULTIPLIER) & 0xFFFFFFFFFFFFFFFF) >> (64 - self._bits)
        while slots[slot]:
            if slots[slot] == key:
                return True
            slot = (slot + 1) & mask
        return False

    @classmethod
    def _insert(cls, slots: array[int], bits: int, key: int) -> bool:
        mask = len(slots) - 1
        slot = ((key * cls._MULTIPLIER) & 0xFFFFFFFFFFFFFFFF) >> (64 - bits)
        while True:
            held = slots[slot]
            if held == key:
                return False
            if not held:
                slots[slot] = key
                return True
            slot = (slot + 1) & mask

    def _grow(self) -> None:
        bits = self._bits + 1
        slots = array("Q", bytes(8 << bits))
        for key in self._slots:
            if key:
                self._insert(slots, bits, key)
        self._slots, self._bits = slots, bits


@dataclass
class Merged:
    """Entries naming a person listed earlier: counted, and the first :data:`MAX_MERGED_LISTED` listed."""

    count: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, recipient: Recipient, key: int) -> None:
        self.count += 1
        if len(self.listed) < MAX_MERGED_LISTED:
            self.listed.append({"index": recipient.index, "where": recipient.where, "recipient": recipient.key})
            self._keys.setdefault(key, []).append(len(self.listed) - 1)

    def first_seen(self, recipient: Recipient, key: int) -> None:
        """On the second reading: ``recipient`` is the first entry of ``key``; name it in listed merges."""
        for position in self._keys.pop(key, ()):
            self.listed[position]["same_as"] = recipient.where

    def __post_init__(self) -> None:
        self._keys: dict[int, list[int]] = {}


@dataclass
class Survey:
    """What the check before the first request found: entries, merged entries, and a digest of the input.

    :param digest: changes when any entry changes, so a retry can tell its input from an earlier try's.
    """

    total: int
    merged: Merged
    digest: str = ""


def survey(
    items: Iterable[tuple[str, Any]],
    *,
    design: MessageDesign,
    recipient_field: str,
    defaults: Mapping[str, str | None],
) -> Survey:
    """Check every recipient (and its filled message) before the first request, and find repeated people.

    Every entry is read, so the error counts every problem; the first :data:`MAX_PROBLEMS_LISTED` are listed.

    :param items: ``(where, value)`` pairs in input order; a :class:`LineProblem` value is a bad line.
    :raises KapsoInvalidMessageError: listing the problems found, by place.
    """
    problems: list[str] = []
    unlisted = 0
    total = 0
    people = RecipientKeySet()
    merged = Merged()
    digest = blake2b(digest_size=16)
    for total, (where, value) in enumerate(items, start=1):
        digest.update(json.dumps([where, value], sort_keys=True, default=str).encode())
        try:
            recipient = to_recipient(total - 1, where, value, recipient_field=recipient_field, defaults=defaults)
            design.for_recipient(recipient)
        except KapsoArgumentError as exc:
            room = max(0, MAX_PROBLEMS_LISTED - len(problems))
            problems.extend(exc.problems[:room])
            unlisted += len(exc.problems) - len(exc.problems[:room])
            continue
        key = recipient_key(recipient)
        if not people.add(key):
            merged.add(recipient, key)
    if unlisted:
        problems.append(f"... and {unlisted} more problem(s), not listed")
    if problems:
        raise KapsoInvalidMessageError(problems)
    return Survey(total=total, merged=merged, digest=digest.hexdigest())


def check_all(
    items: Iterable[tuple[str, Any]],
    *,
    design: MessageDesign,
    recipient_field: str,
    defaults: Mapping[str, str | None],
) -> int:
    """Check every recipient (and its filled message) before the first request; return how many there are.

    :param items: ``(where, value)`` pairs in input order.
    :raises KapsoInvalidMessageError: listing up to :data:`MAX_PROBLEMS_LISTED` problems by place, and the
        count of the others.
    """
    return survey(items, design=design, recipient_field=recipient_field, defaults=defaults).total
