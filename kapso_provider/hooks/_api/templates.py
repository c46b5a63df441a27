"""KapsoHook methods for templates: list, get, create, update, submit, sync and sync status."""

from __future__ import annotations


class TemplatesAPI:
    """Kapso API v1: templates: list, get, create, update, submit, sync and sync status.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """
