"""The simulator's endpoint groups beyond its core, one module each."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup, Route, route
from kapso_provider.testing._resources.agents import AgentsGroup
from kapso_provider.testing._resources.assignments import AssignmentsGroup
from kapso_provider.testing._resources.broadcasts import BroadcastsGroup
from kapso_provider.testing._resources.contacts import ContactsGroup
from kapso_provider.testing._resources.platform import PlatformGroup
from kapso_provider.testing._resources.template_admin import TemplateAdminGroup

__all__ = [
    "AgentsGroup",
    "AssignmentsGroup",
    "BroadcastsGroup",
    "ContactsGroup",
    "PlatformGroup",
    "ResourceGroup",
    "Route",
    "TemplateAdminGroup",
    "route",
]
