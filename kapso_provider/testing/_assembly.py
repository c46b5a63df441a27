"""How the simulator's parts fit: one store, the business rules, and every API generation's endpoint groups
built on them, in the order their routes are tried.

v1 is served below ``/api/v1``; the WhatsApp Cloud API proxy below ``/meta/whatsapp/v24.0`` and the
Platform API below ``/platform/v1`` (Kapso's current APIs, ``api.kapso.ai`` in production).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kapso_provider.testing._broadcasts import BroadcastBook
from kapso_provider.testing._current.agent_runs import AgentRunsGroup
from kapso_provider.testing._current.media import MediaBook
from kapso_provider.testing._current.meta_accounts import MetaAccountsGroup
from kapso_provider.testing._current.meta_messages import MetaMessagesGroup
from kapso_provider.testing._current.platform_broadcasts import PlatformBroadcastsGroup
from kapso_provider.testing._current.platform_contacts import PlatformContactsGroup
from kapso_provider.testing._current.platform_customers import PlatformCustomersGroup
from kapso_provider.testing._current.platform_messages import PlatformMessagesGroup
from kapso_provider.testing._current.platform_numbers import HealthLimiter, PlatformNumbersGroup
from kapso_provider.testing._current.platform_webhooks import PlatformWebhooksGroup
from kapso_provider.testing._policy import Policy
from kapso_provider.testing._routing import Router
from kapso_provider.testing._styles import META, PLATFORM, V1
from kapso_provider.testing._v1 import (
    AgentsGroup,
    AssignmentsGroup,
    BroadcastsGroup,
    ConfigsGroup,
    ContactsGroup,
    ConversationsGroup,
    PlatformGroup,
    TemplateAdminGroup,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.testing._inbound_replies import ReplyScheduler
    from kapso_provider.testing._routing import ResourceGroup
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._styles import ErrorStyle

__all__ = ["API_PREFIX", "META_PREFIX", "PLATFORM_PREFIX", "Parts", "assemble"]

API_PREFIX = "/api/v1"
META_PREFIX = "/meta/whatsapp/v24.0"
PLATFORM_PREFIX = "/platform/v1"


@dataclass(frozen=True)
class Parts:
    """The simulator's parts that hold state, and its APIs."""

    assignments: AssignmentsGroup
    platform: PlatformGroup
    template_admin: TemplateAdminGroup
    contacts: ContactsGroup
    agents: AgentsGroup
    broadcasts: BroadcastBook
    webhooks: PlatformWebhooksGroup
    agent_runs: AgentRunsGroup
    media: MediaBook
    policy: Policy
    health: HealthLimiter
    groups: tuple[ResourceGroup, ...]
    apis: tuple[Router, ...]

    def reset(self) -> None:
        """Forget what every part holds (callers hold the store's lock)."""
        for group in self.groups:
            group.reset()
        self.broadcasts.reset()
        self.media.clear()
        self.policy.reset()


def assemble(store: Store, replies: ReplyScheduler, base_url: Callable[[], str]) -> Parts:
    """Build every part on one store.

    :param store: the store.
    :param replies: the armed replies, which sends and listings drive.
    :param base_url: the simulator's URL, for the links its answers carry.
    """
    policy = Policy(store)
    media = MediaBook()
    configs = ConfigsGroup(store)
    assignments = AssignmentsGroup(store)
    templates = TemplateAdminGroup(store, replies)
    contacts = ContactsGroup(store)
    broadcasts = BroadcastBook(store)
    webhooks = PlatformWebhooksGroup(store)
    agent_runs = AgentRunsGroup(store, base_url)
    platform_v1 = PlatformGroup(store, configs)
    agents = AgentsGroup(store)
    v1: list[ResourceGroup] = [
        assignments,
        platform_v1,
        templates,
        contacts,
        agents,
        BroadcastsGroup(broadcasts),
        configs,
        ConversationsGroup(store, replies, policy),
    ]
    meta: list[ResourceGroup] = [
        MetaMessagesGroup(store, policy, replies),
        MetaAccountsGroup(store, templates, media, assignments.active_assignee),
    ]
    numbers = PlatformNumbersGroup(store, configs, media)
    platform: list[ResourceGroup] = [
        PlatformMessagesGroup(store, assignments, replies),
        PlatformContactsGroup(contacts, policy),
        PlatformCustomersGroup(platform_v1),
        PlatformBroadcastsGroup(broadcasts),
        webhooks,
        numbers,
        agent_runs,
    ]

    def router(name: str, prefix: str, groups: list[ResourceGroup], style: ErrorStyle) -> Router:
        return Router(name, prefix, [endpoint for group in groups for endpoint in group.routes()], style)

    apis = (
        router("v1", API_PREFIX, v1, V1),
        router("meta", META_PREFIX, meta, META),
        router("platform", PLATFORM_PREFIX, platform, PLATFORM),
    )
    return Parts(
        assignments=assignments,
        platform=platform_v1,
        template_admin=templates,
        contacts=contacts,
        agents=agents,
        broadcasts=broadcasts,
        webhooks=webhooks,
        agent_runs=agent_runs,
        media=media,
        policy=policy,
        health=numbers.health_limiter,
        groups=(*v1, *meta, *platform),
        apis=apis,
    )
