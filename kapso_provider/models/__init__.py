"""Payload models of the messages sent through Kapso's API v1.

One frozen pydantic model per message type. Each checks the rules of Kapso's API and of WhatsApp before
anything is sent, and renders the ``message`` object of a send request: ``to_body()`` for
``POST /whatsapp_conversations/{id}/whatsapp_messages``, ``to_body(phone_number=...)`` for
``POST /whatsapp_messages``.

:func:`parse_message` turns a mapping into the right model and reports every broken rule at once as a
:class:`~kapso_provider.exceptions.KapsoInvalidMessageError`, one readable line per problem, e.g.
``"buttons[1].title: 27 characters, limit 20"``. Building a model class directly raises pydantic's
``ValidationError`` instead, whose messages carry the same text.

Where Kapso's two OpenAPI files disagree (``openapi.yaml`` and ``openapi-whatsapp.yaml``) the rendered
body is valid against both whenever one body can be:

- ``content`` is required on every conversation send, even for non-text types. When none is given, a
  readable summary is sent (caption, body text, file name, template name, "📍 place", the emoji, the
  contact names).
- A contact's name is sent both nested (``name: {...}``, required by ``openapi-whatsapp.yaml``) and as the
  flat ``formatted_name``/``first_name``/``last_name`` keys (the only form in ``openapi.yaml``).
- ``template_params`` may be a list of strings (valid against both files) or a map of names to strings
  (valid against ``openapi.yaml`` only).

Characters are counted as Unicode code points (Python's ``len``). Every limit is a constant of this package
(defined in ``models._limits``); the models are in ``models.messages`` and ``models.contacts``.
"""

from __future__ import annotations

from kapso_provider.models._limits import (
    BUTTON_BODY_MAX_CHARS,
    BUTTON_ID_MAX_CHARS,
    BUTTON_TITLE_MAX_CHARS,
    BUTTONS_MAX,
    BUTTONS_MIN,
    CAPTION_MAX_CHARS,
    CONTACTS_MAX,
    CONTACTS_MIN,
    FOOTER_TEXT_MAX_CHARS,
    HEADER_TEXT_MAX_CHARS,
    INTERACTIVE_TYPES,
    LATITUDE_MAX,
    LATITUDE_MIN,
    LIST_BODY_MAX_CHARS,
    LIST_BUTTON_TEXT_MAX_CHARS,
    LIST_ROW_DESCRIPTION_MAX_CHARS,
    LIST_ROW_ID_MAX_CHARS,
    LIST_ROW_TITLE_MAX_CHARS,
    LIST_ROWS_MAX,
    LIST_SECTION_TITLE_MAX_CHARS,
    LIST_SECTIONS_MAX,
    LIST_SECTIONS_MIN,
    LONGITUDE_MAX,
    LONGITUDE_MIN,
    MESSAGE_TYPES,
    TEMPLATE_HEADER_TYPES,
    TEMPLATE_LANGUAGE_PATTERN,
    TEMPLATE_NAME_MAX_CHARS,
    TEMPLATE_NAME_PATTERN,
    TEXT_MAX_CHARS,
)
from kapso_provider.models._parse import (
    parse_message,
)
from kapso_provider.models.contacts import (
    Contact,
    ContactAddress,
    ContactEmail,
    ContactName,
    ContactOrg,
    ContactPhone,
    ContactsMessage,
    ContactUrl,
)
from kapso_provider.models.messages import (
    AudioMessage,
    Button,
    ButtonMessage,
    DocumentMessage,
    ImageMessage,
    KapsoMessage,
    ListMessage,
    ListRow,
    ListSection,
    LocationMessage,
    ReactionMessage,
    TemplateMessage,
    TextMessage,
    VideoMessage,
)

__all__ = [
    "BUTTONS_MAX",
    "BUTTONS_MIN",
    "BUTTON_BODY_MAX_CHARS",
    "BUTTON_ID_MAX_CHARS",
    "BUTTON_TITLE_MAX_CHARS",
    "CAPTION_MAX_CHARS",
    "CONTACTS_MAX",
    "CONTACTS_MIN",
    "FOOTER_TEXT_MAX_CHARS",
    "HEADER_TEXT_MAX_CHARS",
    "INTERACTIVE_TYPES",
    "LATITUDE_MAX",
    "LATITUDE_MIN",
    "LIST_BODY_MAX_CHARS",
    "LIST_BUTTON_TEXT_MAX_CHARS",
    "LIST_ROWS_MAX",
    "LIST_ROW_DESCRIPTION_MAX_CHARS",
    "LIST_ROW_ID_MAX_CHARS",
    "LIST_ROW_TITLE_MAX_CHARS",
    "LIST_SECTIONS_MAX",
    "LIST_SECTIONS_MIN",
    "LIST_SECTION_TITLE_MAX_CHARS",
    "LONGITUDE_MAX",
    "LONGITUDE_MIN",
    "MESSAGE_TYPES",
    "TEMPLATE_HEADER_TYPES",
    "TEMPLATE_LANGUAGE_PATTERN",
    "TEMPLATE_NAME_MAX_CHARS",
    "TEMPLATE_NAME_PATTERN",
    "TEXT_MAX_CHARS",
    "AudioMessage",
    "Button",
    "ButtonMessage",
    "Contact",
    "ContactAddress",
    "ContactEmail",
    "ContactName",
    "ContactOrg",
    "ContactPhone",
    "ContactUrl",
    "ContactsMessage",
    "DocumentMessage",
    "ImageMessage",
    "KapsoMessage",
    "ListMessage",
    "ListRow",
    "ListSection",
    "LocationMessage",
    "ReactionMessage",
    "TemplateMessage",
    "TextMessage",
    "VideoMessage",
    "parse_message",
]
