"""Simulator endpoints: agents, agent executions, flows and flow executions."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup


class AgentsGroup(ResourceGroup):
    """The simulator's agents, agent executions, flows and flow executions."""
