"""Every Kapso operator, from one import path: ``from kapso_provider.operators.kapso import ...``.

DAG files import this module on every parse, so it and the modules it gathers import only Airflow's base
operator: the hook (and with it ``requests``) and the payload models load when a task runs or an operator
checks its arguments. Each operator lives in the module of its area; this one keeps the public path.
"""

from __future__ import annotations

from kapso_provider.arguments import MESSAGE_FIELDS, RECIPIENT_FIELDS
from kapso_provider.operators._base import KapsoHookMixin
from kapso_provider.operators.ask import KapsoApprovalOperator, KapsoAskOperator, KapsoBranchOnReplyOperator
from kapso_provider.operators.broadcasts import KapsoBroadcastOperator
from kapso_provider.operators.bulk import KapsoBulkSendMessageOperator
from kapso_provider.operators.contacts import KapsoCreateContactNoteOperator
from kapso_provider.operators.conversations import KapsoAssignConversationOperator
from kapso_provider.operators.executions import KapsoRunAgentOperator, KapsoRunFlowOperator
from kapso_provider.operators.messages import BaseKapsoMessageOperator, KapsoSendMessageOperator
from kapso_provider.operators.templates import KapsoSyncTemplatesOperator

__all__ = [
    "MESSAGE_FIELDS",
    "RECIPIENT_FIELDS",
    "BaseKapsoMessageOperator",
    "KapsoApprovalOperator",
    "KapsoAskOperator",
    "KapsoAssignConversationOperator",
    "KapsoBranchOnReplyOperator",
    "KapsoBroadcastOperator",
    "KapsoBulkSendMessageOperator",
    "KapsoCreateContactNoteOperator",
    "KapsoHookMixin",
    "KapsoRunAgentOperator",
    "KapsoRunFlowOperator",
    "KapsoSendMessageOperator",
    "KapsoSyncTemplatesOperator",
]
