"""Resource mixins of :class:`~kapso_provider.hooks.kapso.KapsoHook`, one module per group of v1 endpoints.

They hold no state and make no request of their own: every method builds a path, a query and a body and
hands them to the hook's request layer (:class:`~kapso_provider.hooks._api._base.KapsoTransport`).
"""

from __future__ import annotations

from kapso_provider.hooks._api.agents import AgentsAPI
from kapso_provider.hooks._api.broadcasts import BroadcastsAPI
from kapso_provider.hooks._api.contacts import ContactsAPI
from kapso_provider.hooks._api.conversations import ConversationsAPI
from kapso_provider.hooks._api.platform import PlatformAPI
from kapso_provider.hooks._api.templates import TemplatesAPI

__all__ = ["AgentsAPI", "BroadcastsAPI", "ContactsAPI", "ConversationsAPI", "PlatformAPI", "TemplatesAPI"]
