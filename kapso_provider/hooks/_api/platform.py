"""KapsoHook methods for WhatsApp configs (list, get, health), customers, projects."""

from __future__ import annotations


class PlatformAPI:
    """Kapso API v1: WhatsApp configs (list, get, health), customers, projects.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """
