"""Kapso agent runs (``openapi-kapso-agent.yaml``, ``/platform/v1/kapso-agent/runs``): start, get, pause,
resume, cancel, and the approval of a tool call.

A run never moves by itself on a clock: each read of it (``GET``) takes the next of :attr:`steps`
(``running``, then ``completed`` by default). A step ``waiting_for_approval`` stops there with a pending
approval until a test or a client approves or rejects it; a paused run does not move. Transitions the run's
state does not allow are answered 409, as the file says.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, RuleError, ValidationError
from kapso_provider.testing._http import Response, json_response
from kapso_provider.testing._routing import ResourceGroup, route

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["RUN_STATUSES", "AgentRunsGroup"]

RUN_STATUSES = ("queued", "running", "paused", "waiting_for_approval", "completed", "failed", "cancelled")
_FINAL = ("completed", "failed", "cancelled")
_RUN = "/kapso-agent/runs/{id}"


class AgentRunsGroup(ResourceGroup):
    """Kapso agent runs, reached for tests as ``simulator.agent_runs``.

    Controls: :attr:`steps` (what each read of a new run does), :meth:`add_mode`, :meth:`runs`.

    :param store: the simulator's store.
    :param base_url: the simulator's URL (``http://127.0.0.1:PORT``), for each run's ``status_url``.
    """

    def __init__(self, store: Store, base_url: Callable[[], str]) -> None:
        super().__init__(store)
        self._base_url = base_url
        self._steps: tuple[str, ...] = ()
        self.reset()

    # -- controls for tests -----------------------------------------------------------------------------

    @property
    def steps(self) -> tuple[str, ...]:
        """The statuses a new run takes, one per read: ``running``, ``waiting_for_approval``, ``completed``,
        ``failed``; the last one stays."""
        return self._steps

    @steps.setter
    def steps(self, value: Sequence[str]) -> None:
        allowed = ("running", "waiting_for_approval", "completed", "failed")
        if isinstance(value, str) or not value or any(step not in allowed for step in value):
            raise ValueError(f"steps must be a non-empty list of: {', '.join(allowed)}")
        self._steps = tuple(value)

    def add_mode(self, mode: str, *, requires: str = "prompt") -> None:
        """Let runs start in ``mode``.

        :param mode: its slug.
        :param requires: the input field it needs: ``prompt`` or ``finding_id``.
        """
        if requires not in ("prompt", "finding_id"):
            raise ValueError("requires must be 'prompt' or 'finding_id'")
        with self.lock:
            self._modes[mode] = requires

    def runs(self) -> list[dict[str, Any]]:
        """Every run as the API shows it (copies), oldest first, without moving any."""
        with self.lock:
            return [self._view(run) for run in self._runs.values()]

    def reset(self) -> None:
        """Forget every run and added mode; :attr:`steps` back to ``running``, ``completed``."""
        self._runs: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, list[str]] = {}
        #: Run id -> the status a paused run goes back to.
        self._resume_to: dict[str, str] = {}
        self._modes = {"general": "prompt", "findings-investigator": "finding_id"}
        self._steps = ("running", "completed")

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Runs: start, get, pause, resume, cancel, approve, reject."""
        return [
            route("POST", "/kapso-agent/runs", self._start),
            route("GET", _RUN, self._get),
            route("POST", _RUN + "/pause", self._pause),
            route("POST", _RUN + "/resume", self._resume),
            route("POST", _RUN + "/cancel", self._cancel),
            route("POST", _RUN + "/approvals/{approval_id}/approve", self._approve),
            route("POST", _RUN + "/approvals/{approval_id}/reject", self._reject),
        ]

    # -- internals (callers hold the lock) --------------------------------------------------------------

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError("Run", run_id)
        return run

    def _view(self, run: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(run)
        view["status_url"] = f"{self._base_url()}/platform/v1/kapso-agent/runs/{run['run_id']}"
        return view

    def _move(self, run: dict[str, Any], status: str) -> None:
        stamp = self.store.now()
        run["status"] = status
        if status == "running" and run["started_at"] is None:
            run["started_at"] = stamp
        if status == "waiting_for_approval":
            run["pending_approval"] = {
                "id": str(uuid.uuid4()),
                "status": "pending",
                "tool_name": "send_whatsapp_message",
                "parameters": {},
                "created_at": stamp,
            }
        if status == "completed":
            run["result"] = {"type": "message", "message_id": str(uuid.uuid4()), "content": "Done.", "data": {}}
        if status == "failed":
            run["error_message"] = "The agent run failed"
        if status in _FINAL:
            run["finished_at"] = stamp

    def _answer(self, run: dict[str, Any]) -> Response:
        return json_response(200, {"data": self._view(run)})

    # -- handlers ---------------------------------------------------------------------------------------

    def _start(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        if not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        mode = body.get("mode")
        if not isinstance(mode, str) or not mode:
            raise ValidationError("mode", "is required")
        payload = body.get("input")
        if not isinstance(payload, dict):
            raise ValidationError("input", "is required and must be an object")
        conversation_id = body.get("conversation_id")
        if conversation_id is not None and not isinstance(conversation_id, str):
            raise ValidationError("conversation_id", "must be a string")
        if body.get("metadata") is not None and not isinstance(body["metadata"], dict):
            raise ValidationError("metadata", "must be an object")
        with self.lock:
            if mode not in self._modes:
                raise NotFoundError("Mode", mode)
            required = self._modes[mode]
            if not isinstance(payload.get(required), str) or not payload[required].strip():
                raise RuleError(422, f"input.{required} is required by mode {mode}")
            prompt = payload.get("prompt")
            run: dict[str, Any] = {
                "run_id": str(uuid.uuid4()),
                "conversation_id": conversation_id or str(uuid.uuid4()),
                "status": "queued",
                "mode": mode,
                "title": (prompt or mode)[:60],
                "kind": "continue" if conversation_id else "ask",
                "prompt": prompt,
                "provider_model": None,
                "reasoning_effort": None,
                "error_message": None,
                "ai_cost_microdollars": 0,
                "result": None,
                "pending_approval": None,
                "created_at": self.store.now(),
                "started_at": None,
                "paused_at": None,
                "finished_at": None,
            }
            self._runs[run["run_id"]] = run
            self._pending[run["run_id"]] = list(self._steps)
            return json_response(202, {"data": self._view(run)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            run = self._run(params["id"])
            pending = self._pending[run["run_id"]]
            if run["status"] in ("queued", "running") and pending:
                self._move(run, pending.pop(0) if len(pending) > 1 else pending[0])
                if run["status"] in _FINAL:
                    pending.clear()
            return self._answer(run)

    def _pause(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            run = self._run(params["id"])
            if run["status"] not in ("queued", "running", "waiting_for_approval"):
                raise RuleError(409, f"A {run['status']} run cannot be paused")
            self._resume_to[run["run_id"]] = run["status"]
            self._move(run, "paused")
            run["paused_at"] = self.store.now()
            return self._answer(run)

    def _resume(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            run = self._run(params["id"])
            if run["status"] != "paused":
                raise RuleError(409, f"A {run['status']} run cannot be resumed")
            waiting = self._resume_to.pop(run["run_id"], None) == "waiting_for_approval"
            run["status"] = "waiting_for_approval" if waiting else "running"
            run["paused_at"] = None
            return self._answer(run)

    def _cancel(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            run = self._run(params["id"])
            if run["status"] in _FINAL:
                raise RuleError(409, f"A {run['status']} run cannot be cancelled")
            self._resume_to.pop(run["run_id"], None)
            self._move(run, "cancelled")
            self._pending[run["run_id"]].clear()
            return self._answer(run)

    def _decide(self, params: Mapping[str, str], verdict: str) -> Response:
        with self.lock:
            run = self._run(params["id"])
            approval = run["pending_approval"]
            if approval is None or approval["id"] != params["approval_id"]:
                raise NotFoundError("Approval", params["approval_id"])
            if run["status"] != "waiting_for_approval":
                raise RuleError(409, f"A {run['status']} run has no approval to {verdict}")
            run["pending_approval"] = None
            pending = self._pending[run["run_id"]]
            if pending and pending[0] == "waiting_for_approval":
                pending.pop(0)
            run["status"] = "running"
            return self._answer(run)

    def _approve(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return self._decide(params, "approve")

    def _reject(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return self._decide(params, "reject")
