"""KapsoHook methods for conversation end and reactivate, mark as read, conversation assignments."""

from __future__ import annotations


class ConversationsAPI:
    """Kapso API v1: conversation end and reactivate, mark as read, conversation assignments.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """
