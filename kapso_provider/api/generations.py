"""Which API generation a connection speaks, and where each generation defines its endpoints."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoUnsupportedError

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True)
class Generation:
    """One of Kapso's API generations: a name and the modules that define its endpoints.

    :param name: how docs and errors call it, e.g. ``"API v1"``.
    :param modules: the modules of :mod:`kapso_provider.api` holding its endpoint definitions.
    """

    name: str
    modules: tuple[str, ...]
    _definitions: dict[str, Callable[..., Any]] = field(default_factory=dict, compare=False, repr=False)

    def definition(self, endpoint: str) -> Callable[..., Any]:
        """The function that defines ``endpoint`` on this generation.

        :raises KapsoUnsupportedError: this generation has no such endpoint.
        """
        if not self._definitions:
            for module_name in self.modules:
                module = importlib.import_module(module_name)
                for name in getattr(module, "ENDPOINTS", ()):
                    self._definitions[name] = getattr(module, name)
        try:
            return self._definitions[endpoint]
        except KeyError:
            raise KapsoUnsupportedError(f"{endpoint}: Kapso's {self.name} has no such operation") from None


V1 = Generation(
    "API v1",
    tuple(
        f"kapso_provider.api.v1.{name}"
        for name in ("messages", "conversations", "templates", "contacts", "platform", "broadcasts", "agents")
    ),
)
