"""What the inbound-message trigger tests share: the customers' numbers and two reads of the simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE_A = "+15551230001"
PHONE_B = "+15551230002"


def conversation_lists(kapso_server: KapsoServer) -> int:
    """How many times the conversations were listed: one per trigger poll."""
    return sum(1 for r in kapso_server.simulator.requests if r.path == "/whatsapp_conversations")


def set_created_at(kapso_server: KapsoServer, message_id: str, stamp: str) -> None:
    """Give a stored message another ``created_at``: Kapso can hand out the same timestamp twice."""
    store = kapso_server.simulator._store
    with store.lock:
        for record in store.messages:
            if record["id"] == message_id:
                record["created_at"] = record["updated_at"] = stamp
