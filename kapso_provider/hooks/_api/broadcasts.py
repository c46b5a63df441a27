"""KapsoHook methods for broadcasts and their recipients."""

from __future__ import annotations


class BroadcastsAPI:
    """Kapso API v1: broadcasts and their recipients.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """
