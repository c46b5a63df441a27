"""Simulator endpoints: agents, agent executions, flows and flow executions.

Written from ``openapi-agents.yaml`` (which adds the status update, ``whatsapp_config_id`` and the
``q[phone_number_eq]`` filter to ``openapi.yaml``'s version of this group), independently of the hook.

Executions never move by themselves on a clock: a test decides how they progress, either with
:meth:`AgentsGroup.finish_execution` or by giving a status sequence that each read of the execution
advances by one step, so tests need no sleeps.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import ApiError, first, json_response, paginate, parse_time
from kapso_provider.testing._routing import ResourceGroup, Route, route
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from kapso_provider.testing._http import Response
    from kapso_provider.testing._store import Store

AGENT_STATUSES = ("started", "running", "paused", "ended", "handoff", "failed", "stopped")
# q[status_eq] of the executions list takes the record's own enum only.
AGENT_FILTER_STATUSES = ("started", "running", "paused", "ended", "handoff")
AGENT_FINAL_STATUSES = ("ended", "handoff", "failed", "stopped")
FLOW_STATUSES = ("draft", "active", "archived")
FLOW_EXECUTION_STATUSES = ("running", "waiting", "ended", "failed")
FLOW_FINAL_STATUSES = ("ended", "failed")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def _object_body(body: Any, *, required: bool = True) -> dict[str, Any]:
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object", status=400)
    return body


def _check_agent_message(value: Any, field: str, *, allow_text: bool) -> None:
    if isinstance(value, str):
        if not allow_text:
            raise ValidationError(field, "must be an object")
        if not value.strip():
            raise ValidationError(field, "can't be blank")
        return
    if not isinstance(value, dict):
        raise ValidationError(field, "must be a string or an object" if allow_text else "must be an object")
    if "type" in value and value["type"] not in ("user_input", "payload"):
        raise ValidationError(f"{field}.type", "must be one of: user_input, payload")
    content = value.get("content")
    if content is not None:
        if not isinstance(content, dict):
            raise ValidationError(f"{field}.content", "must be an object")
        if "text" in content and not isinstance(content["text"], str):
            raise ValidationError(f"{field}.content.text", "must be a string")


def _check_uuid(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValidationError(field, "must be a UUID") from None
    return value


def _optional_object(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body.get(key)
    if value is not None and not isinstance(value, dict):
        raise ValidationError(key, "must be an object")
    return value


def _time_filter(query: Mapping[str, str], name: str) -> datetime | None:
    value = first(query, name)
    return None if value is None else parse_time(value, name)


def _in_window(stamp: str | None, low: datetime | None, high: datetime | None) -> bool:
    if low is None and high is None:
        return True
    if stamp is None:
        return False
    moment = parse_time(stamp, "record")
    return (low is None or moment >= low) and (high is None or moment <= high)


class AgentsGroup(ResourceGroup):
    """The simulator's agents, agent executions, flows and flow executions.

    Control API (for tests): :meth:`add_agent`, :meth:`add_flow`, :meth:`finish_execution`,
    :meth:`set_execution_status`, :attr:`agent_status_sequence` / :attr:`flow_status_sequence` (how each
    new execution progresses per read), :attr:`flow_execution_visible_after` (how many list reads a queued
    flow execution stays invisible), and :meth:`agent_executions` / :meth:`flow_executions` to inspect.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.reset()

    def reset(self) -> None:
        """Forget every agent, flow and execution, and the progression settings."""
        self._agents: dict[str, dict[str, Any]] = {}
        self._flows: dict[str, dict[str, Any]] = {}
        self._agent_executions: dict[str, dict[str, Any]] = {}
        self._flow_executions: dict[str, dict[str, Any]] = {}
        # Private per-execution state that the API never shows: phone number, pending statuses, hidden reads.
        self._phone: dict[str, str] = {}
        self._pending: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._hidden_reads: dict[str, int] = {}
        self._api_triggered: dict[str, bool] = {}
        self.agent_status_sequence: tuple[str, ...] = ()
        self.flow_status_sequence: tuple[str, ...] = ()
        self.flow_execution_visible_after = 0
        self._project_id = str(uuid.uuid4())

    # -- control API ------------------------------------------------------------------------------------

    def add_agent(
        self, *, name: str = "Support agent", description: str = "", agent_id: str | None = None
    ) -> dict[str, Any]:
        """Create an agent; returns its record.

        :param name: its name.
        :param description: its description.
        :param agent_id: its id (a new uuid when ``None``).
        """
        with self.lock:
            stamp = self.store.now()
            record: dict[str, Any] = {
                "id": agent_id or str(uuid.uuid4()),
                "name": name,
                "description": description,
                "project_id": self._project_id,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self._agents[record["id"]] = record
            return copy.deepcopy(record)

    def add_flow(
        self,
        *,
        name: str = "Onboarding flow",
        status: str = "active",
        api_trigger: bool = True,
        description: str | None = None,
        flow_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a flow; returns its record.

        :param name: its name.
        :param status: ``draft``, ``active`` or ``archived``; only active flows can be started.
        :param api_trigger: whether it has an active API trigger (needed to start it through the API).
        :param description: its description.
        :param flow_id: its id (a new uuid when ``None``).
        """
        if status not in FLOW_STATUSES:
            raise ValueError(f"status: must be one of {FLOW_STATUSES}")
        with self.lock:
            stamp = self.store.now()
            record: dict[str, Any] = {
                "id": flow_id or str(uuid.uuid4()),
                "name": name,
                "description": description,
                "status": status,
                "project_id": self._project_id,
                "created_at": stamp,
                "updated_at": stamp,
                "created_by": None,
                "last_executed_at": None,
                "execution_count": 0,
            }
            self._flows[record["id"]] = record
            self._api_triggered[record["id"]] = api_trigger
            return copy.deepcopy(record)

    def agent_executions(self, agent_id: str | None = None) -> list[dict[str, Any]]:
        """Every agent execution (of one agent), oldest first, without advancing any."""
        with self.lock:
            return [
                copy.deepcopy(record)
                for record in self._agent_executions.values()
                if agent_id is None or record["agent_id"] == agent_id
            ]

    def flow_executions(self, flow_id: str | None = None) -> list[dict[str, Any]]:
        """Every flow execution (of one flow), oldest first, hidden ones included, without advancing any."""
        with self.lock:
            return [
                copy.deepcopy(record)
                for record in self._flow_executions.values()
                if flow_id is None or record["flow_id"] == flow_id
            ]

    def set_execution_status(self, execution_id: str, status: str, **fields: Any) -> dict[str, Any]:
        """Set an agent or flow execution's status now (and any other fields); returns the record.

        A final status (agents: ``ended``, ``handoff``, ``failed``, ``stopped``; flows: ``ended``,
        ``failed``) also sets ``ended_at`` and drops the execution's pending steps.
        """
        with self.lock:
            record = self._execution(execution_id)
            self._apply(record, status, fields)
            if self._is_final(record):
                self._pending.pop(execution_id, None)
            return copy.deepcopy(record)

    def finish_execution(self, execution_id: str, status: str = "ended", **fields: Any) -> dict[str, Any]:
        """Finish an execution with a final status; ``fields`` (e.g. ``variables``) are merged in.

        :raises ValueError: for a status that is not final for that kind of execution.
        """
        with self.lock:
            self._execution(execution_id)
            final = AGENT_FINAL_STATUSES if execution_id in self._agent_executions else FLOW_FINAL_STATUSES
            if status not in final:
                raise ValueError(f"status: {status!r} is not final; use one of {final}")
            return self.set_execution_status(execution_id, status, **fields)

    def schedule_execution(self, execution_id: str, steps: Sequence[str | tuple[str, Mapping[str, Any]]]) -> None:
        """Replace an execution's pending steps: each read of it applies the next one."""
        with self.lock:
            self._execution(execution_id)
            self._pending[execution_id] = [self._step(step) for step in steps]

    # -- internals --------------------------------------------------------------------------------------

    @staticmethod
    def _step(step: str | tuple[str, Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
        if isinstance(step, str):
            return step, {}
        return step[0], dict(step[1])

    def _execution(self, execution_id: str) -> dict[str, Any]:
        record = self._agent_executions.get(execution_id) or self._flow_executions.get(execution_id)
        if record is None:
            raise NotFoundError("Execution", execution_id)
        return record

    def _is_final(self, record: dict[str, Any]) -> bool:
        final = AGENT_FINAL_STATUSES if record["id"] in self._agent_executions else FLOW_FINAL_STATUSES
        return record["status"] in final

    def _apply(self, record: dict[str, Any], status: str, fields: Mapping[str, Any]) -> None:
        allowed = AGENT_STATUSES if record["id"] in self._agent_executions else FLOW_EXECUTION_STATUSES
        if status not in allowed:
            raise ValueError(f"status: must be one of {allowed}")
        stamp = self.store.now()
        record["status"] = status
        record.update(copy.deepcopy(dict(fields)))
        if "last_event_at" in record:
            record["last_event_at"] = stamp
        if self._is_final(record) and record.get("ended_at") is None:
            record["ended_at"] = stamp
            if "duration" in record:
                started = parse_time(record["started_at"], "started_at")
                record["duration"] = int((parse_time(stamp, "ended_at") - started).total_seconds())

    def _advance(self, record: dict[str, Any]) -> None:
        """One read of an execution: apply its next pending step, if any."""
        pending = self._pending.get(record["id"])
        if pending:
            status, fields = pending.pop(0)
            self._apply(record, status, fields)

    def _agent(self, agent_id: str) -> dict[str, Any]:
        if agent_id not in self._agents:
            raise NotFoundError("Agent", agent_id)
        return self._agents[agent_id]

    def _flow(self, flow_id: str) -> dict[str, Any]:
        if flow_id not in self._flows:
            raise NotFoundError("Flow", flow_id)
        return self._flows[flow_id]

    def _agent_execution(self, agent_id: str, execution_id: str) -> dict[str, Any]:
        self._agent(agent_id)
        record = self._agent_executions.get(execution_id)
        if record is None or record["agent_id"] != agent_id:
            raise NotFoundError("Execution", execution_id)
        return record

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The endpoints of this group."""
        return [
            route("GET", "/agents", self._list_agents),
            route("GET", "/agents/{agent_id}", self._get_agent),
            route("POST", "/agents/{agent_id}/executions", self._start_agent_execution),
            route("GET", "/agents/{agent_id}/executions", self._list_agent_executions),
            route("GET", "/agents/{agent_id}/executions/{execution_id}", self._get_agent_execution),
            route("PUT", "/agents/{agent_id}/executions/{execution_id}", self._update_agent_execution),
            route("POST", "/agents/{agent_id}/executions/{execution_id}/resume", self._resume_agent_execution),
            route("GET", "/flows", self._list_flows),
            route("GET", "/flows/{flow_id}", self._get_flow),
            route("POST", "/flows/{flow_id}/executions", self._start_flow_execution),
            route("GET", "/flows/{flow_id}/executions", self._list_flow_executions),
            route("GET", "/flow_executions/{execution_id}", self._get_flow_execution),
            route("POST", "/flow_executions/{execution_id}/resume", self._resume_flow_execution),
        ]

    # agents

    def _list_agents(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            return json_response(200, {"data": copy.deepcopy(list(self._agents.values()))})

    def _get_agent(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            return json_response(200, {"data": copy.deepcopy(self._agent(params["agent_id"]))})

    # agent executions

    def _start_agent_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        payload = _object_body(body)
        if "message" in payload:
            _check_agent_message(payload["message"], "message", allow_text=True)
        phone = payload.get("phone_number")
        if phone is not None and (not isinstance(phone, str) or not normalize_phone(phone)):
            raise ValidationError("phone_number", "must be a phone number", status=400)
        config_id = payload.get("whatsapp_config_id")
        with self.lock:
            agent = self._agent(params["agent_id"])
            if config_id is not None:
                self.store.config(_check_uuid(config_id, "whatsapp_config_id"))
            stamp = self.store.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "agent_id": agent["id"],
                "thread_id": str(uuid.uuid4()),
                "status": "started",
                "started_at": stamp,
                "ended_at": None,
                "duration": None,
            }
            self._agent_executions[record["id"]] = record
            if phone is not None:
                self._phone[record["id"]] = normalize_phone(phone)
            self._pending[record["id"]] = [self._step(step) for step in self.agent_status_sequence]
            return json_response(202, {"data": copy.deepcopy(record)})

    def _list_agent_executions(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        status = first(query, "q[status_eq]")
        if status is not None and status not in AGENT_FILTER_STATUSES:
            raise ValidationError("q[status_eq]", f"must be one of: {', '.join(AGENT_FILTER_STATUSES)}")
        phone = first(query, "q[phone_number_eq]")
        windows = {
            "started_at": (_time_filter(query, "q[started_at_gteq]"), _time_filter(query, "q[started_at_lteq]")),
            "ended_at": (_time_filter(query, "q[ended_at_gteq]"), _time_filter(query, "q[ended_at_lteq]")),
        }
        with self.lock:
            agent_id = self._agent(params["agent_id"])["id"]
            records = [record for record in self._agent_executions.values() if record["agent_id"] == agent_id]
            for record in records:
                self._advance(record)
            selected = [
                copy.deepcopy(record)
                for record in records
                if (status is None or record["status"] == status)
                and (phone is None or self._phone.get(record["id"]) == normalize_phone(phone))
                and all(_in_window(record.get(key), *window) for key, window in windows.items())
            ]
            # Newest first, as Rails' index actions usually answer.
            selected.reverse()
            return paginate(selected, query)

    def _get_agent_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._agent_execution(params["agent_id"], params["execution_id"])
            self._advance(record)
            return json_response(200, {"data": copy.deepcopy(record)})

    def _update_agent_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        payload = _object_body(body)
        update = payload.get("agent_execution")
        if not isinstance(update, dict):
            raise ValidationError("agent_execution", "is required", status=400)
        status = update.get("status")
        if status is None:
            raise ValidationError("agent_execution.status", "is required", status=400)
        if status not in AGENT_STATUSES:
            raise ValidationError("agent_execution.status", f"must be one of: {', '.join(AGENT_STATUSES)}")
        with self.lock:
            record = self._agent_execution(params["agent_id"], params["execution_id"])
            self._apply(record, status, {})
            if self._is_final(record):
                self._pending.pop(record["id"], None)
            return json_response(200, {"data": copy.deepcopy(record)})

    def _resume_agent_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        payload = _object_body(body, required=False)
        if "message" in payload:
            _check_agent_message(payload["message"], "message", allow_text=False)
        with self.lock:
            record = self._agent_execution(params["agent_id"], params["execution_id"])
            if record["status"] != "paused":
                raise ApiError(
                    json_response(
                        400,
                        {
                            "error": "Execution cannot be resumed",
                            "status": 400,
                            "message": f"The execution is {record['status']}, not paused",
                        },
                    )
                )
            self._apply(record, "running", {})
            return json_response(200, {"data": copy.deepcopy(record)})

    # flows

    def _list_flows(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        status = first(query, "q[status_eq]")
        if status is not None and status not in FLOW_STATUSES:
            raise ValidationError("q[status_eq]", f"must be one of: {', '.join(FLOW_STATUSES)}")
        with self.lock:
            flows = [flow for flow in self._flows.values() if status is None or flow["status"] == status]
            return json_response(200, {"data": copy.deepcopy(flows)})

    def _get_flow(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            return json_response(200, {"data": copy.deepcopy(self._flow(params["flow_id"]))})

    # flow executions

    def _start_flow_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        payload = _object_body(body)
        phone = payload.get("phone_number")
        if phone is None:
            raise ValidationError("phone_number", "is required")
        if not isinstance(phone, str) or not _E164.fullmatch(phone):
            raise ValidationError("phone_number", "must match ^\\+[1-9]\\d{1,14}$")
        objects = {key: _optional_object(payload, key) for key in ("variables", "context", "initial_data")}
        config_id = payload.get("whatsapp_config_id")
        with self.lock:
            flow = self._flow(params["flow_id"])
            if config_id is not None:
                try:
                    self.store.config(_check_uuid(config_id, "whatsapp_config_id"))
                except NotFoundError:
                    raise self._not_executable("whatsapp_config_id does not belong to this project") from None
            if flow["status"] != "active" or not self._api_triggered.get(flow["id"]):
                raise self._not_executable("Flow must be in active status and have an active API trigger")
            stamp = self.store.now()
            tracking_id = str(uuid.uuid4())
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "flow_id": flow["id"],
                "status": "running",
                "started_at": stamp,
                "ended_at": None,
                "last_event_at": stamp,
                "tracking_id": tracking_id,
                "current_step": None,
                "execution_context": dict(objects["context"] or {}),
                "variables": {**(objects["initial_data"] or {}), **(objects["variables"] or {})},
                "flow": None,
            }
            flow["last_executed_at"] = stamp
            flow["execution_count"] += 1
            record["flow"] = copy.deepcopy(flow)
            self._flow_executions[record["id"]] = record
            self._phone[record["id"]] = normalize_phone(phone)
            self._hidden_reads[record["id"]] = self.flow_execution_visible_after
            self._pending[record["id"]] = [self._step(step) for step in self.flow_status_sequence]
            return json_response(
                202, {"flow_id": flow["id"], "tracking_id": tracking_id, "message": "Flow execution queued"}
            )

    @staticmethod
    def _not_executable(details: str) -> ApiError:
        return ApiError(json_response(422, {"error": "Flow is not active", "details": details}))

    def _list_flow_executions(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        raw_status = first(query, "q[status_eq]")
        status: str | None = None
        if raw_status is not None:
            codes = {str(code): name for code, name in enumerate(FLOW_EXECUTION_STATUSES)}
            if raw_status not in codes:
                raise ValidationError("q[status_eq]", "must be one of: 0, 1, 2, 3")
            status = codes[raw_status]
        low, high = _time_filter(query, "q[started_at_gteq]"), _time_filter(query, "q[started_at_lteq]")
        with self.lock:
            flow_id = self._flow(params["flow_id"])["id"]
            selected = []
            for record in self._flow_executions.values():
                if record["flow_id"] != flow_id:
                    continue
                # A queued execution shows up only after a few reads, as Kapso's queue would delay it.
                if self._hidden_reads.get(record["id"], 0) > 0:
                    self._hidden_reads[record["id"]] -= 1
                    continue
                self._advance(record)
                if (status is None or record["status"] == status) and _in_window(record["started_at"], low, high):
                    selected.append(copy.deepcopy(record))
            selected.reverse()
            return json_response(200, {"data": selected})

    def _flow_execution(self, execution_id: str) -> dict[str, Any]:
        record = self._flow_executions.get(execution_id)
        if record is None or self._hidden_reads.get(execution_id, 0) > 0:
            raise NotFoundError("Flow execution", execution_id)
        return record

    def _get_flow_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._flow_execution(params["execution_id"])
            self._advance(record)
            return json_response(200, {"data": copy.deepcopy(record)})

    def _resume_flow_execution(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        payload = _object_body(body, required=False)
        if "input" in payload and not isinstance(payload["input"], str):
            raise ValidationError("input", "must be a string")
        message = _optional_object(payload, "message")
        with self.lock:
            record = self._flow_execution(params["execution_id"])
            if record["status"] != "waiting":
                raise ApiError(
                    json_response(
                        422,
                        {"error": "Execution cannot be resumed", "message": "The execution is not in a waiting state"},
                    )
                )
            resumed_with = {"input": payload["input"]} if "input" in payload else {}
            if message is not None:
                resumed_with["message"] = message
            record["execution_context"] = {**record["execution_context"], "last_resume": resumed_with}
            self._apply(record, "running", {})
            return json_response(200, {"data": copy.deepcopy(record)})
