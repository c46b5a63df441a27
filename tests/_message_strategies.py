"""Hypothesis strategies of message inputs, near-valid around every limit of the models, and their checks.

Shared by the property tests of the models (``tests/test_models_properties.py``) and of the send
operator (``tests/operators/test_kapso_properties.py``). The inputs are mostly near-valid messages of each
type with sizes around each limit of :mod:`kapso_provider.models`, mutated with wrong types, unknown keys,
``None`` values and unicode (emoji, astral characters, odd whitespace), plus arbitrary JSON-like values.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from kapso_provider import models
from kapso_provider.models import _parse as model_parsing
from kapso_provider.models import contacts as contact_models
from kapso_provider.operators.kapso import MESSAGE_FIELDS
from tests._openapi import load_spec, request_schema, validation_errors

MAIN = "openapi.yaml"
WHATSAPP = "openapi-whatsapp.yaml"
CONVERSATION_SEND = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"
STANDALONE_SEND = "/whatsapp_messages"

# Derandomized so CI sees the same examples on every run, without an example database to carry state
# between runs; no deadline, because a send through the simulator or a 257-contact body is slow on
# purpose. The suppressed health checks are about generation cost: bodies at the 4096-character and
# 257-contact limits are large by design. No explain phase: re-running a failing send through the simulator
# to annotate it takes minutes, and the shrunk example already says what broke.
PROPERTY_SETTINGS = settings(
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
)

# --- Strategies ---------------------------------------------------------------------------------------
#
# Each message type has a strategy for valid messages (every field inside its limits, often exactly at
# them) and, per field, one for values just outside. A near-valid message is a valid one with zero to two
# mutations: a field pushed past its limit, a wrong type, None, a key dropped, a field of another message
# type or an unknown key. Half the examples are left unmutated, so both outcomes of the properties are
# exercised for every type (test_strategies_reach_both_outcomes checks that).

# Characters that tend to break length counting, JSON encoding or "non-blank" checks: emoji (one code point
# and ZWJ sequences), astral characters, combining marks, odd whitespace, NUL and quotes.
TRICKY_CHARACTERS = [
    "a",
    "Z",
    "0",
    " ",
    "\t",
    "\n",
    "\u00a0",
    "\u3000",
    "\x00",
    '"',
    "\\",
    "é",
    "e\u0301",
    "ß",
    "漢",
    "👍",
    "👍🏽",
    "👨\u200d👩\u200d👧",
    "🇺🇸",
    "𝄞",
    "\U0010fffd",
    "{{",
    "}}",
]
# One alphabet for short strings: any character, with the single-code-point tricky ones more often.
_ALPHABET = st.characters(codec="utf-8") | st.sampled_from([char for char in TRICKY_CHARACTERS if len(char) == 1])


def short_text(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    """Short strings of any characters, tricky ones (odd whitespace, astral, emoji) often."""
    return st.text(_ALPHABET, min_size=min_size, max_size=max_size)


def sized_text(sizes: st.SearchStrategy[int]) -> st.SearchStrategy[str]:
    """A string of exactly the drawn number of code points, built by repeating a short varied unit.

    Drawing 4096 characters one by one would be slow and hypothesis would shrink them forever; repeating a
    unit is as good for limits, which count code points (Python's ``len``) whatever they are.
    """

    def build(size: int, unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    units = st.lists(st.sampled_from(TRICKY_CHARACTERS) | _ALPHABET, min_size=1, max_size=3)
    return st.builds(build, sizes, units.map("".join))


def text_within(low: int, high: int | None) -> st.SearchStrategy[str]:
    """Strings of ``low`` to ``high`` code points: at both edges, anywhere between, or short."""
    if high is None:
        return short_text(min_size=low)
    edges = sorted({low, low + 1, high - 1, high} & set(range(low, high + 1)))
    return sized_text(st.sampled_from(edges) | st.integers(low, high)) | short_text(low, min(high, 12))


def text_outside(low: int, high: int | None) -> st.SearchStrategy[str]:
    """Strings just too long (``high + 1`` code points) or too short (``low - 1``)."""
    sizes = ([low - 1] if low > 0 else []) + ([high + 1] if high is not None else [])
    return sized_text(st.sampled_from(sizes))


def fields(
    required: Mapping[str, st.SearchStrategy[Any]], optional: Mapping[str, st.SearchStrategy[Any]] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with every ``required`` key and any of the ``optional`` ones."""
    return st.fixed_dictionaries(dict(required), optional=dict(optional or {}))


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda dicts: {key: value for part in dicts for key, value in part.items()})


JSON_SCALARS: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | short_text()
)
#: Any JSON-like value (and a few only Python has: NaN, the infinities, integers beyond float range).
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(short_text(max_size=8), children, max_size=3),
    max_leaves=8,
)
#: Values of the wrong type for a string field (and for most others).
WRONG_TYPES: st.SearchStrategy[Any] = (
    st.integers()
    | st.booleans()
    | st.floats()
    | st.lists(short_text(), max_size=2)
    | st.dictionaries(short_text(max_size=4), short_text(max_size=4), max_size=2)
)

# Every field name of every message model, so that generated keys often hit a real field of another type.
ALL_MESSAGE_FIELDS = sorted(
    {*MESSAGE_FIELDS}
    | {
        name
        for model in (*model_parsing._MODEL_BY_TYPE.values(), *model_parsing._MODEL_BY_INTERACTIVE_TYPE.values())
        for name in model.model_fields
    }
)
MESSAGE_TYPE_VALUES = st.sampled_from([*models.MESSAGE_TYPES, "Text", "poll", "", " text"]) | WRONG_TYPES


def _nested_dicts(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The paths of every dict inside ``value`` (not ``value`` itself): buttons, rows, contacts, names."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(item, dict):
            found.append((*path, key))
        found.extend(_nested_dicts(item, (*path, key)))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the item at ``path`` replaced; the containers on the way are copied."""
    if not path:
        return new
    copied = dict(value) if isinstance(value, dict) else list(value)
    copied[path[0]] = _replaced(value[path[0]], path[1:], new)
    return copied


@st.composite
def mutate(draw: st.DrawFn, data: dict[str, Any], invalid: Mapping[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """``data`` with one thing broken (or, for some draws, changed in a way that is still valid).

    ``invalid`` gives the out-of-limit values of the top-level fields; inside a part of the message (a
    button, a row, a contact, a name) only the generic mutations apply.
    """
    data = dict(data)
    action = draw(st.sampled_from(["invalid", "invalid", "nested", "wrong_type", "none", "drop", "foreign", "unknown"]))
    if action == "invalid" and invalid:
        name = draw(st.sampled_from(sorted(invalid)))
        data[name] = draw(invalid[name])
    elif action == "nested" and (paths := _nested_dicts(data)):
        path = draw(st.sampled_from(paths))
        part = _get(data, path)
        data = _replaced(data, path, draw(mutate(part, {})))
    elif action in ("wrong_type", "none", "drop", "nested") and data:
        name = draw(st.sampled_from(sorted(data)))
        if action == "drop":
            del data[name]
        else:
            data[name] = None if action == "none" else draw(WRONG_TYPES)
    elif action == "foreign":
        name = draw(st.sampled_from(ALL_MESSAGE_FIELDS))
        data[name] = draw(MESSAGE_TYPE_VALUES if name == "message_type" else short_text() | JSON_VALUES)
    else:
        data[draw(short_text(max_size=10))] = draw(JSON_VALUES)
    return data


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


#: How many mutations a near-valid message gets: none for half of them.
HALF_UNMUTATED = st.sampled_from([0, 0, 0, 1, 1, 2])


def near_valid(
    valid: st.SearchStrategy[dict[str, Any]],
    invalid: Mapping[str, st.SearchStrategy[Any]],
    mutations: st.SearchStrategy[int] = HALF_UNMUTATED,
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid dicts with a drawn number of mutations; half stay valid with the default ``mutations``."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        data = draw(valid)
        for _ in range(draw(mutations)):
            data = draw(mutate(data, invalid))
        return data

    return build()


def broken(
    valid: st.SearchStrategy[dict[str, Any]], invalid: Mapping[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """A part (button, row, contact ...) with at least one mutation: what goes into an invalid list."""
    return near_valid(valid, invalid, st.sampled_from([1, 1, 2]))


def _with_replaced_item(
    items: st.SearchStrategy[list[dict[str, Any]]], bad_item: st.SearchStrategy[Any]
) -> st.SearchStrategy[list[Any]]:
    """A valid list with one item replaced by a broken one."""

    @st.composite
    def build(draw: st.DrawFn) -> list[Any]:
        made = list(draw(items))
        made[draw(st.integers(0, len(made) - 1))] = draw(bad_item)
        return made

    return build()


def _unique_ids(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Make ids unique by ending each with its index, keeping the length within ``limit``."""
    made = []
    for index, item in enumerate(items):
        suffix = f"#{index}"
        made.append({**item, "id": item["id"][: limit - len(suffix)] + suffix})
    return made


# -- text and media --

CONTENT = text_within(0, models.TEXT_MAX_CHARS)
TEXT = near_valid(
    fields(
        {"content": text_within(1, models.TEXT_MAX_CHARS)},
        # message_type defaults to text.
        {"message_type": st.just("text")},
    ),
    {"content": text_outside(1, models.TEXT_MAX_CHARS)},
)

_URL_PATHS = st.text(st.characters(codec="utf-8", exclude_categories=["Zs", "Zl", "Zp", "Cc"]), max_size=8)
HTTP_URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["https", "http", "HTTPS"]),
    st.sampled_from(["example.com", "cdn.example.org:8443", "exämple.com", "127.0.0.1"]),
    _URL_PATHS,
)
BAD_URLS = (
    st.sampled_from(
        [
            "",
            " ",
            "ftp://example.com/a.jpg",
            "https://",
            "https:// example.com/a",
            "example.com/a.jpg",
            " https://e.com/a",
        ]
    )
    | short_text()
)
MEDIA_ID = short_text(min_size=1) | st.just("1234567890")


def _media(message_type: str, **optional: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    source = st.one_of(fields({"media_url": HTTP_URLS}), fields({"media_id": MEDIA_ID}))
    invalid: dict[str, st.SearchStrategy[Any]] = {
        "media_url": BAD_URLS,
        "media_id": st.just(""),
        "content": text_outside(0, models.TEXT_MAX_CHARS),
    }
    if "caption" in optional:
        invalid["caption"] = text_outside(0, models.CAPTION_MAX_CHARS)
    if "filename" in optional:
        invalid["filename"] = st.just("")
    return near_valid(
        merged(fields({"message_type": st.just(message_type)}, {"content": CONTENT, **optional}), source), invalid
    )


_CAPTION = text_within(0, models.CAPTION_MAX_CHARS)
MEDIA = st.one_of(
    _media("image", caption=_CAPTION),
    _media("video", caption=_CAPTION),
    _media("audio"),
    _media("document", caption=_CAPTION, filename=short_text(min_size=1) | st.just("report.pdf")),
)

# -- location --


def _coordinates(limit: int) -> st.SearchStrategy[Any]:
    # Strings of numbers are read as numbers by pydantic, and sent as numbers.
    return (
        st.floats(-limit, limit)
        | st.integers(-limit, limit)
        | st.sampled_from([-limit, limit, float(limit), -0.0, f"{limit}", "12.5"])
    )


def _bad_coordinates(limit: int) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [limit + 1e-6, -limit - 1, 10**400, float("nan"), float("inf"), True, "north", "", None]
    ) | st.floats().filter(lambda value: not -limit <= value <= limit)


LOCATION = near_valid(
    fields(
        {
            "message_type": st.just("location"),
            "latitude": _coordinates(models.LATITUDE_MAX),
            "longitude": _coordinates(models.LONGITUDE_MAX),
        },
        # No limit on these; a huge name only shows that the content summary is capped.
        {
            "location_name": short_text() | sized_text(st.just(models.TEXT_MAX_CHARS)),
            "location_address": short_text(),
            "content": CONTENT,
        },
    ),
    {
        "latitude": _bad_coordinates(models.LATITUDE_MAX),
        "longitude": _bad_coordinates(models.LONGITUDE_MAX),
        "content": text_outside(0, models.TEXT_MAX_CHARS),
    },
)

# -- interactive --

_BUTTON_VALID = fields(
    {
        "id": text_within(1, models.BUTTON_ID_MAX_CHARS),
        "title": text_within(1, models.BUTTON_TITLE_MAX_CHARS),
    }
)
_BUTTON_INVALID = {
    "id": text_outside(1, models.BUTTON_ID_MAX_CHARS),
    "title": text_outside(1, models.BUTTON_TITLE_MAX_CHARS),
}
VALID_BUTTONS = st.lists(_BUTTON_VALID, min_size=models.BUTTONS_MIN, max_size=models.BUTTONS_MAX).map(
    lambda items: _unique_ids(items, models.BUTTON_ID_MAX_CHARS)
)
INVALID_BUTTONS = st.one_of(
    st.just([]),
    st.lists(_BUTTON_VALID, min_size=models.BUTTONS_MAX + 1, max_size=models.BUTTONS_MAX + 1),
    # The same id twice.
    st.lists(fields({"id": st.just("same"), "title": st.just("Same")}), min_size=2, max_size=3),
    _with_replaced_item(VALID_BUTTONS, broken(_BUTTON_VALID, _BUTTON_INVALID) | WRONG_TYPES),
)
_HEADER_FOOTER = {
    "header_text": text_within(0, models.HEADER_TEXT_MAX_CHARS),
    "footer_text": text_within(0, models.FOOTER_TEXT_MAX_CHARS),
}
_HEADER_FOOTER_INVALID = {
    "header_text": text_outside(0, models.HEADER_TEXT_MAX_CHARS),
    "footer_text": text_outside(0, models.FOOTER_TEXT_MAX_CHARS),
}
_INTERACTIVE_TYPES_INVALID = st.sampled_from(["Button", "", "carousel", "list", "button"]) | WRONG_TYPES
BUTTON_MESSAGE = near_valid(
    fields(
        {
            "message_type": st.just("interactive"),
            "body_text": text_within(1, models.BUTTON_BODY_MAX_CHARS),
            "buttons": VALID_BUTTONS,
        },
        # interactive_type is taken from the presence of buttons when left out.
        {"interactive_type": st.just("button"), "content": CONTENT, **_HEADER_FOOTER},
    ),
    {
        "body_text": text_outside(1, models.BUTTON_BODY_MAX_CHARS),
        "buttons": INVALID_BUTTONS,
        "interactive_type": _INTERACTIVE_TYPES_INVALID,
        **_HEADER_FOOTER_INVALID,
    },
)

_ROW_VALID = fields(
    {
        "id": text_within(1, models.LIST_ROW_ID_MAX_CHARS),
        "title": text_within(1, models.LIST_ROW_TITLE_MAX_CHARS),
    },
    {"description": text_within(0, models.LIST_ROW_DESCRIPTION_MAX_CHARS)},
)
_ROW_INVALID = {
    "id": text_outside(1, models.LIST_ROW_ID_MAX_CHARS),
    "title": text_outside(1, models.LIST_ROW_TITLE_MAX_CHARS),
    "description": text_outside(0, models.LIST_ROW_DESCRIPTION_MAX_CHARS),
}


@st.composite
def valid_sections(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1 to 10 sections, each with a row, 10 rows at most in all, row ids unique, titles when several."""
    count = draw(st.sampled_from([1, 2, models.LIST_SECTIONS_MAX]) | st.integers(1, models.LIST_SECTIONS_MAX))
    sizes = [1] * count
    for _ in range(draw(st.integers(0, models.LIST_ROWS_MAX - count))):
        sizes[draw(st.integers(0, count - 1))] += 1
    # Up to three distinct rows and titles, cycled: ten rows drawn one by one would make each example
    # several times slower without finding more (the limits are on counts, not on the rows' variety).
    distinct_rows = draw(st.lists(_ROW_VALID, min_size=1, max_size=3))
    rows = _unique_ids(
        [distinct_rows[index % len(distinct_rows)] for index in range(sum(sizes))], models.LIST_ROW_ID_MAX_CHARS
    )
    # A title is optional with one section only.
    title_required = count > 1
    titles = draw(
        st.lists(text_within(1 if title_required else 0, models.LIST_SECTION_TITLE_MAX_CHARS), min_size=1, max_size=3)
    )
    sections = []
    for index, size in enumerate(sizes):
        section: dict[str, Any] = {"rows": rows[:size]}
        rows = rows[size:]
        if title_required or draw(st.booleans()):
            section["title"] = titles[index % len(titles)]
        sections.append(section)
    return sections


_ONE_ROW = [{"id": "r", "title": "Row"}]
INVALID_SECTIONS = st.one_of(
    st.just([]),
    # 11 sections, and 11 rows in one section.
    st.just([{"title": f"S{index}", "rows": [{"id": f"r{index}", "title": "Row"}]} for index in range(11)]),
    st.just([{"rows": [{"id": f"r{index}", "title": "Row"} for index in range(11)]}]),
    st.just([{"title": "A", "rows": _ONE_ROW}, {"title": "B", "rows": _ONE_ROW}]),  # a row id twice
    st.just([{"title": "A", "rows": _ONE_ROW}, {"rows": [{"id": "s", "title": "Row"}]}]),  # a title missing
    st.just([{"title": "A", "rows": []}]),
    fields({"title": text_outside(0, models.LIST_SECTION_TITLE_MAX_CHARS), "rows": st.just(_ONE_ROW)}).map(
        lambda s: [s]
    ),
    st.lists(broken(_ROW_VALID, _ROW_INVALID) | WRONG_TYPES, min_size=1, max_size=2).map(lambda rows: [{"rows": rows}]),
    _with_replaced_item(valid_sections(), WRONG_TYPES),
)
LIST_MESSAGE = near_valid(
    fields(
        {
            "message_type": st.just("interactive"),
            "body_text": text_within(1, models.LIST_BODY_MAX_CHARS),
            "list_button_text": text_within(1, models.LIST_BUTTON_TEXT_MAX_CHARS),
            "sections": valid_sections(),
        },
        {"interactive_type": st.just("list"), "content": CONTENT, **_HEADER_FOOTER},
    ),
    {
        "body_text": text_outside(1, models.LIST_BODY_MAX_CHARS),
        "list_button_text": text_outside(1, models.LIST_BUTTON_TEXT_MAX_CHARS),
        "sections": INVALID_SECTIONS,
        "interactive_type": _INTERACTIVE_TYPES_INVALID,
        **_HEADER_FOOTER_INVALID,
    },
)

# -- template --

TEMPLATE_NAMES = st.from_regex(models.TEMPLATE_NAME_PATTERN, fullmatch=True).filter(
    lambda name: len(name) <= models.TEMPLATE_NAME_MAX_CHARS
) | sized_text(st.sampled_from([1, models.TEMPLATE_NAME_MAX_CHARS])).map(lambda text: re.sub(r"[^a-z0-9_]", "x", text))
TEMPLATE_PARAMS = st.lists(short_text(), max_size=3) | st.dictionaries(
    short_text(min_size=1, max_size=6), short_text(), max_size=3
)
_TEMPLATE_HEADERS = st.one_of(
    st.just({}),
    fields({"header_type": st.just("text"), "header_params": short_text(min_size=1)}),
    fields({"header_type": st.sampled_from(["image", "video"]), "header_params": HTTP_URLS}),
    fields(
        {"header_type": st.just("document"), "header_params": HTTP_URLS}, {"header_filename": short_text(min_size=1)}
    ),
)
TEMPLATE = near_valid(
    merged(
        fields(
            {
                "message_type": st.just("template"),
                "template_name": TEMPLATE_NAMES,
                "template_language": st.sampled_from(["en", "en_US", "pt_BR", "fil"]),
            },
            {"template_params": TEMPLATE_PARAMS, "content": CONTENT},
        ),
        _TEMPLATE_HEADERS,
    ),
    {
        "template_name": st.sampled_from(
            ["", "Hello", "order-update", "a b", "x" * (models.TEMPLATE_NAME_MAX_CHARS + 1)]
        ),
        "template_language": st.sampled_from(["", "EN", "en-US", "en_us", "english", "e"]),
        "template_params": st.one_of(
            st.lists(JSON_SCALARS, min_size=1, max_size=3),
            st.dictionaries(short_text(max_size=6), JSON_VALUES, min_size=1, max_size=2),
            short_text(),
            st.just({"": "x"}),
        ),
        "header_type": st.sampled_from(["audio", "TEXT", "", *models.TEMPLATE_HEADER_TYPES]),
        "header_params": st.sampled_from(["", "not a url", "ftp://example.com/a.png"]),
        "header_filename": st.sampled_from(["", "invoice.pdf"]),
    },
)

# -- reaction --

VALID_EMOJI = [
    "",
    "👍",
    "👍🏽",
    "❤️",
    "❤",
    "🇺🇸",
    "1️⃣",
    "#⃣",
    "👨\u200d👩\u200d👧",
    "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
]
REACTION = near_valid(
    fields(
        {
            "message_type": st.just("reaction"),
            "reaction_emoji": st.sampled_from(VALID_EMOJI),
            "reacted_to_message_id": short_text(min_size=1) | st.just("wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI"),
        },
        {"content": CONTENT},
    ),
    {
        "reaction_emoji": st.sampled_from(["👍👍", " 👍", "a", ":)", "🇺", "\ufe0f", "👍 "]) | short_text(min_size=1),
        "reacted_to_message_id": st.just(""),
    },
)

# -- contacts --

NAME_TEXT = short_text(min_size=1) | st.sampled_from(["Ann Lee", "Ann", "李"])
_CONTACT_NAMES = st.one_of(
    # Nested, flat, or both with the same values.
    fields({}, {"formatted_name": NAME_TEXT, "last_name": short_text()})
    .map(lambda n: {**n, "first_name": "Ann"})
    .map(lambda n: {"name": n}),
    fields({"formatted_name": NAME_TEXT}, {"first_name": NAME_TEXT, "last_name": short_text()}),
    NAME_TEXT.map(lambda text: {"formatted_name": text, "name": {"formatted_name": text}}),
)
_CONTACT_PARTS = {
    # Real dates, and month ends written as dates, some of which do not exist (1999-02-29, 2024-04-31).
    "birthday": st.dates(min_value=datetime.date(1000, 1, 1)).map(datetime.date.isoformat)
    | st.builds(
        lambda year, month, day: f"{year:04d}-{month:02d}-{day:02d}",
        st.sampled_from([1999, 2000, 2023, 2024]),
        st.sampled_from([1, 2, 4, 12]),
        st.integers(28, 31),
    ),
    "phones": st.lists(
        fields(
            {"phone": short_text(min_size=1) | st.just("+15550001111")}, {"type": short_text(), "wa_id": short_text()}
        ),
        max_size=2,
    ),
    "emails": st.lists(
        fields({"email": st.sampled_from(["ann@example.com", "a@b", "änn\u0430@例え.jp"])}, {"type": short_text()}),
        max_size=2,
    ),
    "addresses": st.lists(
        fields({}, {key: short_text() for key in ("street", "city", "zip", "country_code", "type")}), max_size=2
    ),
    "org": fields({}, {"company": short_text(), "department": short_text(), "title": short_text()}),
    "urls": st.lists(
        fields(
            {
                "url": st.sampled_from(
                    ["https://example.com", "mailto:ann@example.com", "tel:+15551234567", "urn:isbn:0451450523"]
                )
                | HTTP_URLS
            },
            {"type": short_text()},
        ),
        max_size=2,
    ),
}
_CONTACT_VALID = merged(_CONTACT_NAMES, fields({}, _CONTACT_PARTS))
_CONTACT_INVALID: dict[str, st.SearchStrategy[Any]] = {
    # Dates near the calendar's edges: day 29 to 31 of every month, month 0 and 13, day 0 and 32.
    "birthday": st.builds(
        lambda year, month, day: f"{year:04d}-{month:02d}-{day:02d}",
        st.sampled_from([1999, 2000, 2023, 2024]),
        st.integers(0, 13),
        st.sampled_from([0, 29, 30, 31, 32]),
    )
    | st.sampled_from(["1999-1-23", "23/01/1999", "", "1999-01-23T00:00:00"]),
    "phones": st.just([{"phone": ""}]) | st.just([{"type": "WORK"}]),
    "emails": st.sampled_from([[{"email": "@example.com"}], [{"email": "ann@"}], [{"email": "a b@example.com"}]]),
    "urls": st.sampled_from([[{"url": "no scheme"}], [{"url": ""}], [{"type": "Company"}]]),
    "name": st.sampled_from([{}, {"formatted_name": ""}, {"last_name": "Lee"}, {"formatted_name": "Other"}, "Ann"]),
    "formatted_name": st.sampled_from(["", "Other name"]),
    "org": st.just({"ceo": "x"}),
}


@st.composite
def valid_contact_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1 to 3 distinct cards, or (one time in eight) one card repeated up to the limit.

    A list at the limit costs one card to generate but hundreds to validate and send, so it comes up
    only as often as needed to keep the limit covered.
    """
    if draw(st.integers(0, 7)) < 7:
        return draw(st.lists(_CONTACT_VALID, min_size=1, max_size=3))
    card = draw(_CONTACT_VALID)
    return [dict(card) for _ in range(draw(st.sampled_from([models.CONTACTS_MAX - 1, models.CONTACTS_MAX])))]


VALID_CONTACT_LISTS = valid_contact_lists()
INVALID_CONTACT_LISTS = st.one_of(
    st.just([]),
    _CONTACT_VALID.map(lambda card: [dict(card) for _ in range(models.CONTACTS_MAX + 1)]),
    _with_replaced_item(VALID_CONTACT_LISTS, broken(_CONTACT_VALID, _CONTACT_INVALID) | WRONG_TYPES),
)
CONTACTS = near_valid(
    fields({"message_type": st.just("contacts"), "contacts": VALID_CONTACT_LISTS}, {"content": CONTENT}),
    {"contacts": INVALID_CONTACT_LISTS},
)

# -- all together --

NEAR_VALID_MESSAGES = st.one_of(TEXT, MEDIA, LOCATION, BUTTON_MESSAGE, LIST_MESSAGE, TEMPLATE, REACTION, CONTACTS)
ARBITRARY_MESSAGES: st.SearchStrategy[Any] = st.dictionaries(
    st.sampled_from(ALL_MESSAGE_FIELDS) | short_text(max_size=10), JSON_VALUES, max_size=5
)
#: What a caller may pass as a message: mostly near-valid dicts, then arbitrary dicts and non-mappings.
MESSAGES: st.SearchStrategy[Any] = st.one_of(NEAR_VALID_MESSAGES, NEAR_VALID_MESSAGES, ARBITRARY_MESSAGES, JSON_VALUES)
#: Recipient numbers: valid ones in several notations, then ones of wrong length, characters or type.
PHONE_NUMBERS: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["+15551234567", "15551234567", "+1 (555) 123-4567", "+44 20 7946 0958", "+1234567"]),
    st.builds(
        lambda plus, digits, separator: plus + separator.join(digits),
        st.sampled_from(["+", ""]),
        st.lists(st.sampled_from("0123456789"), min_size=5, max_size=17).map("".join),
        st.sampled_from(["", " ", "-"]),
    ),
    st.sampled_from(["", " ", "+", "call me", "+١٥٥٥١٢٣٤٥٦٧", "+15551234567\n", "+15551234567\u3000"]),
    short_text(),
    WRONG_TYPES,
)

# --- Checks -------------------------------------------------------------------------------------------

# Names a problem line may start with besides the fields of the messages: the generic head of a
# non-mapping message and the recipient arguments (the operator's and hook's checks).
EXTRA_HEADS = ("message", "recipient", "conversation_id", "phone_number", "whatsapp_config_id", "customer_id")
# Field names inside a message's parts (buttons[0].title, contacts[0].name.first_name, ...).
NESTED_FIELDS = sorted(
    {
        name
        for model in (
            models.Button,
            models.ListRow,
            models.ListSection,
            models.Contact,
            models.ContactName,
            models.ContactPhone,
            models.ContactEmail,
            models.ContactAddress,
            models.ContactOrg,
            models.ContactUrl,
        )
        for name in model.model_fields
    }
    | set(contact_models._NAME_KEYS)
)


def input_keys(value: Any) -> set[str]:
    """Every mapping key inside ``value``, as text: an error about an unknown key names it as given."""
    keys: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            keys.add(str(key))
            keys |= input_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            keys |= input_keys(item)
    return keys


def _alternation(names: Iterable[str]) -> str:
    # Longest first so that "header_text" is not read as "header" + junk.
    return "|".join(re.escape(name) for name in sorted(set(names) - {""}, key=len, reverse=True))


def field_line_pattern(data: Any, heads: Iterable[str] = ()) -> re.Pattern[str]:
    """What a problem line must look like: a field path, optionally a list of fields, then ``": "``.

    A path is a top-level name followed by ``[index]`` and ``.name`` steps, e.g. ``buttons[1].title`` or
    ``sections[0].rows[2].id``; several fields at fault are listed as ``whatsapp_config_id, customer_id``.
    Names are the models' fields, ``heads`` and, for unknown keys, the keys found in the input itself.
    """
    given = input_keys(data)
    # An unknown key "" is named as given, i.e. by nothing: only then may a name be empty.
    optional = "?" if "" in given else ""
    head = _alternation([*ALL_MESSAGE_FIELDS, *EXTRA_HEADS, *heads, *given])
    step = _alternation([*NESTED_FIELDS, *given])
    path = rf"(?:{head}){optional}(?:\[\d+\]|\.(?:{step}){optional})*"
    return re.compile(rf"{path}(?:, {path})*: \S", re.DOTALL)


def assert_problems_name_fields(
    problems: list[str], data: Any, heads: Iterable[str] = (), *, whole_message_head: bool = False
) -> None:
    """Every line starts with a field path (see :func:`field_line_pattern`).

    :param whole_message_head: whether ``"message: ..."`` may head a line about no single field (the
        operator's ``message=`` argument); for a mapping given to parse_message it would name no field.
    """
    assert problems, "KapsoInvalidMessageError without a problem line"
    pattern = field_line_pattern(data, heads)
    for line in problems:
        assert pattern.match(line), f"problem line does not start with a field path: {line!r}"
        if line.startswith("message: ") and isinstance(data, Mapping) and not whole_message_head:
            assert "message" in data, f"a problem of a mapping blamed on the whole message: {line!r}"


class Schemas:
    """The three request schemas a send body must satisfy, loaded once per module."""

    def __init__(self) -> None:
        main, whatsapp = load_spec(MAIN), load_spec(WHATSAPP)
        self.conversation = {
            MAIN: request_schema(main, CONVERSATION_SEND, "post"),
            WHATSAPP: request_schema(whatsapp, CONVERSATION_SEND, "post"),
        }
        self.phone = request_schema(whatsapp, STANDALONE_SEND, "post")

    def check_conversation_send(self, body: dict[str, Any]) -> None:
        """``body`` (a conversation send, or a phone send without its number) is valid for both files."""
        message = {key: value for key, value in body["message"].items() if key != "phone_number"}
        for name, schema in self.conversation.items():
            # openapi-whatsapp.yaml declares template_params as a string array only, although its own
            # examples send maps; the models accept a map on purpose (documented in models.py), so a map is
            # held only to openapi.yaml.
            if name == WHATSAPP and isinstance(message.get("template_params"), dict):
                continue
            errors = validation_errors(schema, {"message": message})
            assert not errors, f"conversation send not valid against {name}: {errors}\nbody: {body!r}"

    def check_phone_send(self, body: dict[str, Any]) -> None:
        errors = validation_errors(self.phone, body)
        assert not errors, f"phone send not valid against {WHATSAPP}: {errors}\nbody: {body!r}"


#: The near-valid generator of each message type, by name (the test ids).
NEAR_VALID_BY_TYPE: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "text": TEXT,
    "media": MEDIA,
    "location": LOCATION,
    "button": BUTTON_MESSAGE,
    "list": LIST_MESSAGE,
    "template": TEMPLATE,
    "reaction": REACTION,
    "contacts": CONTACTS,
}
#: Inputs per kind: every type on its own, so each gets its share of examples whatever the others cost.
INPUTS_BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    **NEAR_VALID_BY_TYPE,
    "arbitrary-dict": ARBITRARY_MESSAGES,
    "any-json": JSON_VALUES,
}
