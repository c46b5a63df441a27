"""Where a run that Kapso carries out stands, per kind of run: shared by the run operators (sync) and their
triggers (async). Standard library only at import time.

``agent`` and ``flow`` are API v1's executions (:func:`kapso_provider.api.v1.agents.execution_outcome`);
``agent_run`` is the current API's Kapso agent run (:func:`kapso_provider.api.current.agents.run_outcome`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["execution_outcome"]


def execution_outcome(kind: str, record: Mapping[str, Any]) -> str:
    """``completed``, ``failed`` or ``running`` for a run's record.

    :param kind: ``agent``, ``flow`` or ``agent_run``.
    :param record: the run's record as Kapso answers it.
    """
    if kind == "agent_run":
        from kapso_provider.api.current.agents import run_outcome

        return run_outcome(record)
    from kapso_provider.api.v1.agents import execution_outcome as v1_outcome

    return v1_outcome(kind, record)
