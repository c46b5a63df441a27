"""The refusals every part of the simulator raises: an unknown id (404), a bad body (422), a broken rule.

Each API generation words them in its own style (``_styles.py``), so one endpoint group can serve several.
"""

from __future__ import annotations

__all__ = ["NotFoundError", "RuleError", "ValidationError"]


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


class RuleError(Exception):
    """A request Kapso refuses for the state of things, not its shape ("Conversation is already assigned").

    :param status: HTTP status (409, 422, ...).
    :param text: what is wrong.
    :param code: a numeric code, for the styles that carry one (Meta's).
    :param title: v1's short ``error`` name (``text`` when ``None``).
    """

    def __init__(self, status: int, text: str, *, code: int | None = None, title: str | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.code = code
        self.title = title or text
