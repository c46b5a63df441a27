"""Triggers that wait on Kapso in Airflow's triggerer, without holding a worker slot.

Each trigger lives in the module of its area (:mod:`~kapso_provider.triggers.message_status`,
:mod:`~kapso_provider.triggers.inbound`, :mod:`~kapso_provider.triggers.executions`,
:mod:`~kapso_provider.triggers.replies`); this module exports them all, and it is the classpath every one of
them serializes to (:data:`~kapso_provider.triggers.base.PUBLIC_MODULE`), so the triggerer rebuilds triggers
stored by any release from here. The hook (and with it ``httpx``) is imported only when a trigger runs.
"""

from __future__ import annotations

from kapso_provider.triggers.executions import KapsoAgentExecutionTrigger, KapsoFlowExecutionTrigger
from kapso_provider.triggers.inbound import KapsoInboundMessageTrigger, VariableCursorStore
from kapso_provider.triggers.message_status import KapsoMessageStatusTrigger
from kapso_provider.triggers.replies import KapsoReplyTrigger
from kapso_provider.utils.inbound import (
    InboundCursor,
    check_since,
    compile_text_pattern,
    inbound_matches,
    inbound_payload,
    order_new,
)

__all__ = [
    "InboundCursor",
    "KapsoAgentExecutionTrigger",
    "KapsoFlowExecutionTrigger",
    "KapsoInboundMessageTrigger",
    "KapsoMessageStatusTrigger",
    "KapsoReplyTrigger",
    "VariableCursorStore",
    "check_since",
    "compile_text_pattern",
    "inbound_matches",
    "inbound_payload",
    "order_new",
]
