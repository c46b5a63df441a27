"""KapsoHook methods for agents and agent executions, flows and flow executions."""

from __future__ import annotations


class AgentsAPI:
    """Kapso API v1: agents and agent executions, flows and flow executions.

    Mixed into :class:`~kapso_provider.hooks.kapso.KapsoHook`.
    """
