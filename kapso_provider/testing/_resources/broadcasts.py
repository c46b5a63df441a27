"""Simulator endpoints: broadcasts and their recipients."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup


class BroadcastsGroup(ResourceGroup):
    """The simulator's broadcasts and their recipients."""
