"""Every limit the message models check, and the patterns they match, as named constants.

WhatsApp Cloud API limits unless noted; Kapso forwards the message to it. Kept apart from the models so that
DAG files and docs can read a limit without importing pydantic.
"""

from __future__ import annotations

import re

#: The ``message_type`` values of Kapso's API v1, in the order of the files' enum.
MESSAGE_TYPES: tuple[str, ...] = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "template",
    "location",
    "interactive",
    "reaction",
    "contacts",
)
#: The ``interactive_type`` values; each selects its own model.
INTERACTIVE_TYPES: tuple[str, ...] = ("button", "list")
#: The ``header_type`` values of a template send.
TEMPLATE_HEADER_TYPES: tuple[str, ...] = ("text", "image", "video", "document")


# --- Limits (WhatsApp Cloud API limits unless noted; Kapso forwards the message to it) -----------------
#: Body of a text message, and any ``content`` given explicitly.
TEXT_MAX_CHARS = 4096
#: Caption of an image, video or document.
CAPTION_MAX_CHARS = 1024
#: Reply buttons of an interactive button message.
BUTTONS_MIN = 1
BUTTONS_MAX = 3
BUTTON_ID_MAX_CHARS = 256
BUTTON_TITLE_MAX_CHARS = 20
#: ``body_text`` of an interactive button message.
BUTTON_BODY_MAX_CHARS = 1024
#: ``body_text`` of an interactive list message.
LIST_BODY_MAX_CHARS = 4096
#: ``header_text`` and ``footer_text`` of interactive messages.
HEADER_TEXT_MAX_CHARS = 60
FOOTER_TEXT_MAX_CHARS = 60
#: The button that opens a list.
LIST_BUTTON_TEXT_MAX_CHARS = 20
LIST_SECTIONS_MIN = 1
LIST_SECTIONS_MAX = 10
#: Rows of a list, counted over all its sections.
LIST_ROWS_MAX = 10
LIST_SECTION_TITLE_MAX_CHARS = 24
LIST_ROW_ID_MAX_CHARS = 200
LIST_ROW_TITLE_MAX_CHARS = 24
LIST_ROW_DESCRIPTION_MAX_CHARS = 72
LATITUDE_MIN = -90
LATITUDE_MAX = 90
LONGITUDE_MIN = -180
LONGITUDE_MAX = 180
TEMPLATE_NAME_MAX_CHARS = 512
#: Template names as Meta stores them: lowercase letters, digits and underscores.
TEMPLATE_NAME_PATTERN = r"[a-z0-9_]+"
#: Language codes as Meta names them: ``en``, ``fil``, ``en_US``, ``pt_BR``.
TEMPLATE_LANGUAGE_PATTERN = r"[a-z]{2,3}(?:_[A-Z]{2})?"
#: Contact cards in one contacts message (``openapi-whatsapp.yaml``: ``minItems: 1``, ``maxItems: 257``).
CONTACTS_MIN = 1
CONTACTS_MAX = 257

# Summaries are capped like a text body, so a generated ``content`` never breaks the explicit limit.
SUMMARY_ELLIPSIS = "…"

# Patterns are kept as source text and compiled on first use (see compiled_pattern): most DAG runs need few.
HTTP_URL = r"(?i:https?)://[^\s/?#]+\S*"
# What JSON Schema's "uri" format asks for: a scheme and something after it.
URI = r"[A-Za-z][A-Za-z0-9+.-]*:\S+"
EMAIL = r"[^@\s]+@[^@\s]+"
BIRTHDAY = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"

# One emoji as WhatsApp accepts it in a reaction: a pictograph with its optional presentation selector
# or skin tone and tag sequence (subdivision flags), ZWJ sequences of those (families, professions), a
# flag (two regional indicators) or a keycap. Written out rather than taken from a Unicode library to keep
# the import cheap; it is deliberately a little permissive (any code point of the emoji blocks counts).
_EMOJI_BASE = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07"
    "\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_ELEMENT = f"[{_EMOJI_BASE}](?:\ufe0f|[\U0001f3fb-\U0001f3ff])*(?:[\U000e0020-\U000e007e]+\U000e007f)?"
EMOJI_PATTERN = f"[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3|{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*"
_compiled: dict[str, re.Pattern[str]] = {}


def compiled_pattern(source: str) -> re.Pattern[str]:
    compiled = _compiled.get(source)
    if compiled is None:
        compiled = _compiled[source] = re.compile(source)
    return compiled
