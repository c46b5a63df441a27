"""How the models report broken rules: one readable line per problem, and the field types that check them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from kapso_provider.models._limits import (
    BIRTHDAY,
    BUTTON_BODY_MAX_CHARS,
    BUTTON_ID_MAX_CHARS,
    BUTTON_TITLE_MAX_CHARS,
    CAPTION_MAX_CHARS,
    EMAIL,
    EMOJI_PATTERN,
    FOOTER_TEXT_MAX_CHARS,
    HEADER_TEXT_MAX_CHARS,
    HTTP_URL,
    LATITUDE_MAX,
    LATITUDE_MIN,
    LIST_BODY_MAX_CHARS,
    LIST_BUTTON_TEXT_MAX_CHARS,
    LIST_ROW_DESCRIPTION_MAX_CHARS,
    LIST_ROW_ID_MAX_CHARS,
    LIST_ROW_TITLE_MAX_CHARS,
    LIST_SECTION_TITLE_MAX_CHARS,
    LONGITUDE_MAX,
    LONGITUDE_MIN,
    SUMMARY_ELLIPSIS,
    TEMPLATE_LANGUAGE_PATTERN,
    TEMPLATE_NAME_MAX_CHARS,
    TEMPLATE_NAME_PATTERN,
    TEXT_MAX_CHARS,
    URI,
    compiled_pattern,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# --- Problem reporting -------------------------------------------------------------------------------
# A rule check yields (relative path, text) pairs. They travel inside one pydantic error of type
# "kapso_rules" so that pydantic prefixes the location (e.g. buttons -> 1) and parse_message can print
# "buttons[1].title: 27 characters, limit 20". Rules on one field run as that field's validator, so a
# broken field never hides the problems of the others; rules across fields run once the fields are valid.
Problems = list[tuple[str, str]]
RULES_ERROR = "kapso_rules"


def rules_error(problems: Problems) -> PydanticCustomError:
    text = "; ".join(f"{path}: {problem}" if path else problem for path, problem in problems)
    return PydanticCustomError(RULES_ERROR, "{text}", {"text": text, "problems": tuple(problems)})


def shown(value: object, width: int = 40) -> str:
    """A value as it appears in an error line: its repr, shortened so huge inputs stay readable."""
    shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 3] + "..."


def _check_chars(problems: Problems, path: str, value: str, minimum: int, maximum: int | None) -> None:
    """Check a string's length in code points."""
    count = len(value)
    if maximum is not None and count > maximum:
        problems.append((path, f"{count} characters, limit {maximum}"))
    elif count < minimum:
        problems.append((path, f"{count} characters, minimum {minimum}"))
    elif minimum > 0 and not value.strip():
        # Kapso refuses a required text that is only white space ("can't be blank").
        problems.append((path, f"only white space ({count} characters), needs visible text"))


def check_count(problems: Problems, path: str, count: int, unit: str, minimum: int, maximum: int) -> None:
    if count > maximum:
        problems.append((path, f"{count} {unit}, limit {maximum}"))
    elif count < minimum:
        problems.append((path, f"{count} {unit}, minimum {minimum}"))


def rule(check: Callable[[Any], Problems]) -> AfterValidator:
    """A field validator from a function returning the problems of the field's (type-checked) value."""

    def validate(value: Any) -> Any:
        problems = check(value)
        if problems:
            raise rules_error(problems)
        return value

    return AfterValidator(validate)


def _chars(minimum: int, maximum: int | None = None) -> AfterValidator:
    """A string of ``minimum`` to ``maximum`` characters."""

    def check(value: str) -> Problems:
        problems: Problems = []
        _check_chars(problems, "", value, minimum, maximum)
        return problems

    return rule(check)


def _within(minimum: int, maximum: int) -> AfterValidator:
    """A number from ``minimum`` to ``maximum``, both included."""

    def check(value: float) -> Problems:
        return [] if minimum <= value <= maximum else [("", f"{value} is outside {minimum}..{maximum}")]

    return rule(check)


def _matching(pattern: str, what: str) -> AfterValidator:
    """A string matching ``pattern`` as a whole; ``what`` completes "'value' is not ..."."""

    def check(value: str) -> Problems:
        return [] if compiled_pattern(pattern).fullmatch(value) else [("", f"{shown(value)} is not {what}")]

    return rule(check)


def _not_bool(value: object) -> object:
    # pydantic would read True as 1.0; a boolean coordinate is always a mistake.
    if isinstance(value, bool):
        raise rules_error([("", "expected a number, got bool")])
    return value


def summary_text(text: str) -> str:
    if len(text) <= TEXT_MAX_CHARS:
        return text
    return text[: TEXT_MAX_CHARS - len(SUMMARY_ELLIPSIS)] + SUMMARY_ELLIPSIS


# Field types with their rules. Optional fields are ``<type> | None = None``; None means "not set".
Content = Annotated[str, _chars(0, TEXT_MAX_CHARS)]
TextBody = Annotated[str, _chars(1, TEXT_MAX_CHARS)]
NonEmpty = Annotated[str, _chars(1)]
HttpUrl = Annotated[str, _matching(HTTP_URL, "an http(s) URL")]
Caption = Annotated[str, _chars(0, CAPTION_MAX_CHARS)]
Latitude = Annotated[float, BeforeValidator(_not_bool), _within(LATITUDE_MIN, LATITUDE_MAX)]
Longitude = Annotated[float, BeforeValidator(_not_bool), _within(LONGITUDE_MIN, LONGITUDE_MAX)]
ButtonId = Annotated[str, _chars(1, BUTTON_ID_MAX_CHARS)]
ButtonTitle = Annotated[str, _chars(1, BUTTON_TITLE_MAX_CHARS)]
ButtonBody = Annotated[str, _chars(1, BUTTON_BODY_MAX_CHARS)]
ListBody = Annotated[str, _chars(1, LIST_BODY_MAX_CHARS)]
HeaderText = Annotated[str, _chars(0, HEADER_TEXT_MAX_CHARS)]
FooterText = Annotated[str, _chars(0, FOOTER_TEXT_MAX_CHARS)]
ListButtonText = Annotated[str, _chars(1, LIST_BUTTON_TEXT_MAX_CHARS)]
SectionTitle = Annotated[str, _chars(0, LIST_SECTION_TITLE_MAX_CHARS)]
RowId = Annotated[str, _chars(1, LIST_ROW_ID_MAX_CHARS)]
RowTitle = Annotated[str, _chars(1, LIST_ROW_TITLE_MAX_CHARS)]
RowDescription = Annotated[str, _chars(0, LIST_ROW_DESCRIPTION_MAX_CHARS)]
TemplateName = Annotated[
    str,
    _chars(1, TEMPLATE_NAME_MAX_CHARS),
    _matching(TEMPLATE_NAME_PATTERN, "made of lowercase letters, digits and underscores"),
]
TemplateLanguage = Annotated[str, _matching(TEMPLATE_LANGUAGE_PATTERN, "a language code like en, en_US or pt_BR")]
# The empty string removes an earlier reaction in WhatsApp's Cloud API, so it is accepted.
ReactionEmoji = Annotated[str, _matching(f"(?:{EMOJI_PATTERN})?", "a single emoji")]
Email = Annotated[str, _matching(EMAIL, "an email address")]
Uri = Annotated[str, _matching(URI, "an absolute URL")]


def _real_date(value: str) -> Problems:
    # The pattern admits 1999-02-29; the OpenAPI files' "date" format, like WhatsApp, does not.
    import datetime

    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return [("", f"{shown(value)} is not a date in the calendar")]
    return []


Birthday = Annotated[str, _matching(BIRTHDAY, "a date like 1999-01-23"), rule(_real_date)]


# --- Base classes ------------------------------------------------------------------------------------


class Model(BaseModel):
    """Common configuration and the cross-field rule hook of every model, messages and their parts alike."""

    # defer_build: the core schema is built when a model is first used, not when DAG files import this
    # module. allow_inf_nan=False: NaN or infinite coordinates would be refused by WhatsApp anyway.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _apply_rules(self) -> Self:
        problems: Problems = []
        self._check(problems)
        if problems:
            raise rules_error(problems)
        return self

    def _check(self, problems: Problems) -> None:
        """Append ``(path relative to this model, text)`` for every broken rule across fields.

        :param problems: the list to append to.
        """
