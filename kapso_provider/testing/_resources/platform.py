"""Simulator endpoints: WhatsApp config health, customers, projects."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup


class PlatformGroup(ResourceGroup):
    """The simulator's WhatsApp config health, customers, projects."""
