"""Simulator endpoints: conversation assignments, conversation end and reactivate, mark as read."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup


class AssignmentsGroup(ResourceGroup):
    """The simulator's conversation assignments, conversation end and reactivate, mark as read."""
