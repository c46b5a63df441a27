"""The two refusals every part of the simulator raises: an unknown id (404) and a bad body (422)."""

from __future__ import annotations

__all__ = ["NotFoundError", "ValidationError"]


class NotFoundError(KeyError):
    """An id the simulator does not know.

    :param resource: human name of the resource ("Conversation").
    :param resource_id: the id asked for.
    """

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} not found: {resource_id}")
        self.resource = resource
        self.resource_id = resource_id

    def __str__(self) -> str:
        return str(self.args[0])


class ValidationError(Exception):
    """A body Kapso would refuse; ``str()`` is ``"<field>: <problem>"``.

    :param field: dotted path of the offending field (``message.content``).
    :param problem: what is wrong with it.
    :param status: HTTP status Kapso answers with (422 unless the files say otherwise).
    """

    def __init__(self, field: str, problem: str, *, status: int = 422) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.status = status
