"""Triggers that wait on Kapso in Airflow's triggerer, without holding a worker slot.

Each trigger lives in the module of its area (``message_status``, ``inbound``, ``executions`` and
``replies`` of ``kapso_provider.triggers``); this module exports them all, and it is the classpath every one
of them serializes to (``PUBLIC_MODULE`` of :mod:`kapso_provider.triggers.base`), so the triggerer rebuilds
triggers stored by any release from here. The hook (and with it ``httpx``) is imported only when a trigger
runs.
"""

from __future__ import annotations

from kapso_provider.triggers.executions import (
    KapsoAgentExecutionTrigger,
    KapsoAgentRunTrigger,
    KapsoFlowExecutionTrigger,
)
from kapso_provider.triggers.inbound import KapsoInboundMessageTrigger, VariableCursorStore
from kapso_provider.triggers.message_status import KapsoMessageStatusTrigger
from kapso_provider.triggers.replies import KapsoReplyTrigger
from kapso_provider.utils.inbound import InboundCursor

# Importable from here as before; they live in kapso_provider.utils.inbound now.
from kapso_provider.utils.inbound import check_since as check_since
from kapso_provider.utils.inbound import compile_text_pattern as compile_text_pattern
from kapso_provider.utils.inbound import inbound_matches as inbound_matches
from kapso_provider.utils.inbound import inbound_payload as inbound_payload
from kapso_provider.utils.inbound import order_new as order_new

__all__ = [
    "InboundCursor",
    "KapsoAgentExecutionTrigger",
    "KapsoAgentRunTrigger",
    "KapsoFlowExecutionTrigger",
    "KapsoInboundMessageTrigger",
    "KapsoMessageStatusTrigger",
    "KapsoReplyTrigger",
    "VariableCursorStore",
]
