"""Which API generation a connection speaks, and where each generation defines its endpoints."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoUnsupportedError

if TYPE_CHECKING:
    from kapso_provider.transport.settings import KapsoConnectionSettings

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
    #: What a user of the other generation is told to do to get an operation this one lacks.
    elsewhere: str = ""
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
            raise KapsoUnsupportedError(
                f"{endpoint}: Kapso's {self.name} has no such operation{self.elsewhere}"
            ) from None


V1 = Generation(
    "API v1",
    tuple(
        f"kapso_provider.api.v1.{name}"
        for name in (
            "messages",
            "conversations",
            "templates",
            "contacts",
            "platform",
            "broadcasts",
            "agents",
            "inbound",
        )
    ),
    elsewhere="; it exists on Kapso's current API (set the connection's extra 'api' to 'current')",
)
CURRENT = Generation(
    "current API",
    tuple(
        f"kapso_provider.api.current.{name}"
        for name in (
            "messages",
            "media",
            # conversations, contacts, customers, templates, broadcasts, webhooks, phone numbers, agent runs
            "conversations",
            "contacts",
            "customers",
            "templates",
            "template_publishing",
            "broadcasts",
            "webhooks",
            "phone_numbers",
            "agents",
            "inbound",
        )
    ),
    elsewhere="; it exists only on Kapso's API v1 (the Legacy API)",
)
GENERATIONS = {"v1": V1, "current": CURRENT}


def generation_of(settings: KapsoConnectionSettings) -> Generation:
    """The generation a parsed connection speaks."""
    return GENERATIONS[settings.generation]
