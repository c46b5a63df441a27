"""The simulator's Kapso API v1 (``/api/v1``), one module per group of endpoints."""

from __future__ import annotations

from kapso_provider.testing._v1.agents import AgentsGroup
from kapso_provider.testing._v1.assignments import AssignmentsGroup
from kapso_provider.testing._v1.broadcasts import BroadcastsGroup
from kapso_provider.testing._v1.configs import ConfigsGroup
from kapso_provider.testing._v1.contacts import ContactsGroup
from kapso_provider.testing._v1.conversations import ConversationsGroup
from kapso_provider.testing._v1.platform import PlatformGroup
from kapso_provider.testing._v1.templates import TemplateAdminGroup

__all__ = [
    "AgentsGroup",
    "AssignmentsGroup",
    "BroadcastsGroup",
    "ConfigsGroup",
    "ContactsGroup",
    "ConversationsGroup",
    "PlatformGroup",
    "TemplateAdminGroup",
]
