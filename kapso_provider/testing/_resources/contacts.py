"""Simulator endpoints: contacts and their notes."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup


class ContactsGroup(ResourceGroup):
    """The simulator's contacts and their notes."""
