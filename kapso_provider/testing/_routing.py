"""Routes of the simulator's APIs, written as the path templates of Kapso's OpenAPI files.

A route's template (``/whatsapp_conversations/{conversation_id}``) is both what requests are matched
against and the key under which strict mode finds the endpoint's documented answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from kapso_provider.testing._errors import ValidationError

if TYPE_CHECKING:
    import threading

    from kapso_provider.testing._http import Response
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._styles import ErrorStyle

__all__ = ["Handler", "ResourceGroup", "Route", "Router", "object_field", "route"]

#: A handler gets the path parameters (percent-decoded), the query and the decoded body, and returns the
#: answer; it may raise ``ValidationError`` (422), ``NotFoundError`` (404) or ``ApiError`` (any answer).
Handler = Callable[[Mapping[str, str], Mapping[str, str], Any], "Response"]

_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _compile(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    for found in _PARAMETER.finditer(template):
        parts.append(re.escape(template[position : found.start()]))
        parts.append(f"(?P<{found[1]}>[^/]+)")
        position = found.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts))


@dataclass(frozen=True)
class Route:
    """One endpoint: an HTTP method on a path template of Kapso's files.

    :param method: HTTP method.
    :param template: the path template below the API's prefix, as the files write it.
    :param handler: what answers it.
    :param documented_as: the files' exact templates of the endpoint, where parameter names alone tell
        endpoints apart (the proxy's ``/{phone_number_id}`` and ``/{media_id}``); strict mode reads those.
    :param raw_body: hand the handler the raw request (``RecordedRequest``) instead of decoded JSON, for
        bodies that are not JSON (a multipart upload).
    """

    method: str
    template: str
    handler: Handler
    documented_as: tuple[str, ...] | None = None
    raw_body: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _compile(self.template))

    def parameters(self, path: str) -> dict[str, str] | None:
        """The decoded path parameters when ``path`` is this route's, else ``None``.

        :param path: the request path below the API's prefix.
        """
        found = self.pattern.fullmatch(path)
        return None if found is None else {name: unquote(value) for name, value in found.groupdict().items()}


def route(
    method: str,
    template: str,
    handler: Handler,
    *,
    documented_as: tuple[str, ...] | None = None,
    raw_body: bool = False,
) -> Route:
    """A route for ``method`` on the paths of ``template``.

    :param method: HTTP method.
    :param template: path template with ``{name}`` parameters.
    :param handler: what answers it.
    :param documented_as: see :class:`Route`.
    :param raw_body: see :class:`Route`.
    """
    return Route(method, template, handler, documented_as, raw_body)


class Router:
    """The routes of one API, tried in order (more specific templates first).

    :param name: the API's short name (``v1``, ``meta``, ``platform``), as faults and recorded requests
        name it.
    :param prefix: the API's path prefix (``/api/v1``), which its files' templates are below.
    :param routes: the routes.
    :param style: how the API words its errors.
    """

    def __init__(self, name: str, prefix: str, routes: list[Route], style: ErrorStyle) -> None:
        self.name = name
        self.prefix = prefix
        self.routes = routes
        self.style = style

    def serves(self, path: str) -> bool:
        """Whether a request path is below this API's prefix.

        :param path: the whole request path.
        """
        return path == self.prefix or path.startswith(self.prefix + "/")

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route answering ``method`` on ``path`` and its parameters, or ``None``.

        :param method: HTTP method.
        :param path: the request path below the API's prefix, without a trailing slash.
        """
        for candidate in self.routes:
            if candidate.method != method:
                continue
            parameters = candidate.parameters(path)
            if parameters is not None:
                return candidate, parameters
        return None


class ResourceGroup:
    """One group of endpoints with its own state, built on the store's public interface.

    Handlers run on the server's threads: hold :attr:`lock` while reading or changing the group's state.

    :param store: the simulator's store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def lock(self) -> threading.RLock:
        """The store's one re-entrant lock, shared by every group."""
        return self.store.lock

    def routes(self) -> list[Route]:
        """The endpoints this group answers."""
        return []

    def reset(self) -> None:
        """Forget this group's state (called by :meth:`KapsoSimulator.reset`, under the lock)."""


def object_field(body: Any, name: str) -> dict[str, Any]:
    """The object ``body[name]`` of a request, or a ``ValidationError`` naming what is missing.

    :param body: the decoded request body.
    :param name: the wrapping key (``"whatsapp_conversation"``).
    """
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    value = body.get(name)
    if value is None:
        raise ValidationError(name, "is required")
    if not isinstance(value, dict):
        raise ValidationError(name, "must be an object")
    return value
