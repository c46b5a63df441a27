"""The shape of one group of v1 endpoints that the simulator answers beyond its core (messages, sends)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kapso_provider.testing._http import Response
    from kapso_provider.testing._simulator import KapsoSimulator
    from kapso_provider.testing._store import Store

#: A handler gets the path match, the query and the decoded JSON body, and returns the answer; it may raise
#: ``ValidationError`` (422), ``NotFoundError`` (404) or ``ApiError`` (any answer).
Handler = Callable[[re.Match[str], Mapping[str, str], Any], "Response"]
Route = tuple[str, "re.Pattern[str]", Handler]


class ResourceGroup:
    """One group of endpoints with its own state, reached from the simulator as an attribute.

    Routes are matched before the core's, in the order given, against the path below ``/api/v1``.
    Handlers run on the server's threads: hold ``self.lock`` while reading or changing state.

    :param simulator: the simulator this group belongs to.
    """

    def __init__(self, simulator: KapsoSimulator) -> None:
        self.simulator = simulator

    @property
    def store(self) -> Store:
        """The core's state: conversations, messages, templates, configs; shares :attr:`lock`."""
        return self.simulator._store

    @property
    def lock(self) -> Any:
        """The simulator's one re-entrant lock."""
        return self.simulator._store.lock

    def routes(self) -> list[Route]:
        """The endpoints this group answers: ``(method, compiled path pattern, handler)``."""
        return []

    def reset(self) -> None:
        """Forget this group's state (called by :meth:`KapsoSimulator.reset`, under the lock)."""


def route(method: str, pattern: str, handler: Handler) -> Route:
    """A route for ``method`` on the paths that fully match ``pattern``."""
    return (method, re.compile(pattern), handler)
