"""KapsoHook methods for contacts and their notes."""

from __future__ import annotations


class ContactsAPI:
    """Kapso API v1: contacts and their notes.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """
