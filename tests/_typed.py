"""Reading what a ``TypedDict`` of constructor arguments lists, to compare it with a real signature."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


def _text(annotation: Any) -> str:
    # Under ``from __future__ import annotations`` a TypedDict holds ForwardRefs and a signature strings.
    text = getattr(annotation, "__forward_arg__", annotation)
    assert isinstance(text, str), annotation
    return re.sub(r"^(?:Required|NotRequired)\[(.*)\]$", r"\1", text)


def typed_arguments(typed: type, *, besides: type | None = None) -> dict[str, str]:
    """The keys of ``typed`` and their types as source text, without those ``besides`` (a base) lists."""
    left_out = set(besides.__annotations__) if besides is not None else set()
    return {name: _text(value) for name, value in typed.__annotations__.items() if name not in left_out}


def keyword_parameters(init: Callable[..., Any]) -> dict[str, str]:
    """The keyword parameters of ``init`` (not ``self``, not ``**kwargs``) and their types as source text."""
    return {
        name: _text(parameter.annotation)
        for name, parameter in inspect.signature(init).parameters.items()
        if name != "self" and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
    }
