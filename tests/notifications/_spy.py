"""What the notifier tests share: a record of Airflow's calls to notifiers, and awaiting one."""

from __future__ import annotations

import asyncio
import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from kapso_provider.notifications.kapso import KapsoNotifier


class CallbackSpy:
    """Every call Airflow made to a KapsoNotifier: the notifier and the context it passed."""

    def __init__(self) -> None:
        self.calls: list[tuple[KapsoNotifier, Any]] = []

    def context_of(self, content_start: str) -> tuple[KapsoNotifier, Any]:
        """The call whose notifier's (unrendered) content or template name starts with ``content_start``."""

        def starts(notifier: KapsoNotifier) -> bool:
            fields = notifier.message_fields()
            return (fields.get("content") or fields.get("template_name") or "").startswith(content_start)

        (call,) = [(notifier, context) for notifier, context in self.calls if starts(notifier)]
        return call


def awaited(notifier: KapsoNotifier, context: Any) -> None:
    """``await notifier`` with ``context`` as its attribute, the way Airflow 3's triggerer awaits one."""
    replay = copy.copy(notifier)
    replay.context = context

    async def main(awaitable: Awaitable[None]) -> None:
        await awaitable

    asyncio.run(main(replay))
