"""API v1 agents and agent executions, flows and flow executions.

The contract is ``openapi-agents.yaml`` (the newer, more specific file for this group) where it differs from
``openapi.yaml``: only it has ``PUT /agents/{agent_id}/executions/{execution_id}`` (status update), the
``whatsapp_config_id`` of a start and the ``q[phone_number_eq]`` filter of the executions list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kapso_provider.arguments import parse_time
from kapso_provider.exceptions import KapsoArgumentError, KapsoServerError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Flow,
    FlowContext,
    Item,
    ListingSteps,
    Pager,
    Steps,
    collect,
    data_list,
    data_object,
    numbered_pages,
    request,
    scan,
)
from kapso_provider.transport.sending import window_start
from kapso_provider.transport.wire import Request
from kapso_provider.validation import is_uuid, path_segment, require_aware_datetime, require_text

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "find_agent_execution",
    "find_flow_execution",
    "get_agent",
    "get_agent_execution",
    "get_flow",
    "get_flow_execution",
    "list_agent_executions",
    "list_agents",
    "list_flow_executions",
    "list_flows",
    "resume_agent_execution",
    "resume_flow_execution",
    "start_agent_execution",
    "start_flow_execution",
    "update_agent_execution_status",
)

#: Statuses ``q[status_eq]`` of the agent executions list accepts (both files).
AGENT_EXECUTION_FILTER_STATUSES = ("started", "running", "paused", "ended", "handoff")
#: Statuses the status update accepts: ``openapi-agents.yaml`` adds ``failed`` and ``stopped`` to the
#: record's own enum, so a record can carry them too.
AGENT_EXECUTION_STATUSES = (*AGENT_EXECUTION_FILTER_STATUSES, "failed", "stopped")
#: The flow executions list filters by an integer code (both files): 0=running, 1=waiting, 2=ended, 3=failed.
FLOW_EXECUTION_STATUS_CODES = {"running": 0, "waiting": 1, "ended": 2, "failed": 3}
FLOW_STATUSES = ("draft", "active", "archived")
_MESSAGE_TYPES = ("user_input", "payload")
# The start of a flow execution declares this pattern for phone_number (E.164 with its "+").
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


def _optional_string(name: str, value: object) -> str | None:
    return None if value is None else require_text(name, value)


def _require_uuid(name: str, value: object) -> str:
    # The files declare flow and flow execution ids (path) and whatsapp_config_id (body) as format: uuid.
    text = require_text(name, value)
    if not is_uuid(text):
        raise KapsoArgumentError(f"{name}: must be a UUID (Kapso's id), got {value!r}")
    return text


def _optional_object(name: str, value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise KapsoArgumentError(f"{name}: must be an object (a mapping), got {type(value).__name__}")
    return dict(value)


def _time_param(name: str, value: str | datetime | None) -> str | None:
    """An ISO-8601 date-time for a ``q[..._gteq]`` filter; naive datetimes are refused (ambiguous zone)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise KapsoArgumentError(f"{name}: a datetime must be timezone-aware, got {value!r}")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    text = require_text(name, value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise KapsoArgumentError(f"{name}: must be an ISO-8601 date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        raise KapsoArgumentError(f"{name}: must include a time zone, got {value!r}")
    return text


def agent_message(value: object, *, name: str = "message", allow_text: bool = True) -> str | dict[str, Any]:
    """An agent message as the start (and resume) bodies take it, checked before any request.

    :param value: text, or a structured message ``{"type": "user_input" | "payload", "content": {...}}``.
    :param name: the argument's name, quoted in errors.
    :param allow_text: whether plain text is sent as it is (the start's legacy string form); the resume
        takes only the structured form, so text becomes ``{"type": "user_input", "content": {"text": ...}}``.
    :raises KapsoArgumentError: for anything else.
    """
    if isinstance(value, str):
        text = require_text(name, value)
        return text if allow_text else {"type": "user_input", "content": {"text": text}}
    if not isinstance(value, Mapping):
        raise KapsoArgumentError(
            f"{name}: must be text or an object with 'type' and 'content', got {type(value).__name__}"
        )
    message = dict(value)
    unknown = sorted(set(message) - {"type", "content"})
    if unknown:
        raise KapsoArgumentError(f"{name}: unknown field(s) {', '.join(unknown)}; use 'type' and 'content'")
    if message.get("type") is not None and message["type"] not in _MESSAGE_TYPES:
        raise KapsoArgumentError(f"{name}.type: must be one of {', '.join(_MESSAGE_TYPES)}, got {message['type']!r}")
    content = message.get("content")
    if content is not None and not isinstance(content, Mapping):
        raise KapsoArgumentError(f"{name}.content: must be an object, got {type(content).__name__}")
    if isinstance(content, Mapping):
        if "text" in content and not isinstance(content["text"], str):
            raise KapsoArgumentError(f"{name}.content.text: must be a string, got {content['text']!r}")
        message["content"] = dict(content)
    return message


def check_flow_phone_number(value: object, *, name: str = "phone_number") -> str:
    """``value`` when it matches the E.164 pattern the flow execution start declares (``+`` and digits).

    :raises KapsoArgumentError: otherwise.
    """
    text = require_text(name, value)
    if not _E164.fullmatch(text):
        raise KapsoArgumentError(
            f"{name}: must be an international number like +15551234567 (a '+' and up to 15 digits), got {value!r}"
        )
    return text


def _agent_path(agent_id: str) -> str:
    return f"/agents/{path_segment('agent_id', agent_id)}"


def _agent_execution_path(agent_id: str, execution_id: str) -> str:
    return f"{_agent_path(agent_id)}/executions/{path_segment('execution_id', execution_id)}"


def _flow_path(flow_id: str) -> str:
    return f"/flows/{path_segment('flow_id', _require_uuid('flow_id', flow_id))}"


def _flow_execution_path(execution_id: str) -> str:
    return f"/flow_executions/{path_segment('execution_id', _require_uuid('execution_id', execution_id))}"


def _single_page(req: Request) -> Pager[dict[str, Any]]:
    """A listing the files declare no page parameters for: one request, made when iteration starts."""

    def run(context: FlowContext) -> ListingSteps[dict[str, Any]]:
        body = yield from request(context, req)
        for record in data_list(body, req):
            yield Item(record)

    return Pager(run)


def _tracking_answer(body: Any, req: Request) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("tracking_id"), str):
        raise KapsoServerError(status=None, method=req.method, path=req.path, error_text="answer has no 'tracking_id'")
    return body


# -- agents --


def list_agents() -> Pager[dict[str, Any]]:
    """Yield the project's agents.

    Neither file declares a filter or page parameter for ``GET /agents``, so this is one request, made
    when iteration starts; sending ``page``/``per_page`` would break the contract.
    """
    return _single_page(Request("GET", "/agents"))


def get_agent(agent_id: str) -> Call[dict[str, Any]]:
    """Return one agent.

    :param agent_id: the agent's id.
    """
    return Call(Request("GET", _agent_path(agent_id)), data_object)


# -- agent executions --


def start_agent_execution(
    agent_id: str,
    *,
    message: str | Mapping[str, Any],
    phone_number: str | None = None,
    whatsapp_config_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Start an execution of an agent and return its record (Kapso answers 202, usually ``started``).

    A start is a write that no request can make idempotent: a failure after which Kapso may have acted
    is not retried (look for the execution with :meth:`list_agent_executions` first).

    :param agent_id: the agent's id.
    :param message: the first message: text, or ``{"type": "user_input" | "payload", "content": {...}}``.
    :param phone_number: the WhatsApp number the execution talks to, e.g. ``+15551234567``.
    :param whatsapp_config_id: the WhatsApp number to talk from (a UUID; ``openapi-agents.yaml`` only).
    """
    body: dict[str, Any] = {"message": agent_message(message)}
    phone = _optional_string("phone_number", phone_number)
    if phone is not None:
        body["phone_number"] = phone
    if whatsapp_config_id is not None:
        body["whatsapp_config_id"] = _require_uuid("whatsapp_config_id", whatsapp_config_id)
    return Call(Request("POST", f"{_agent_path(agent_id)}/executions", json=body), data_object)


def list_agent_executions(
    agent_id: str,
    *,
    status: str | None = None,
    phone_number: str | None = None,
    started_after: str | datetime | None = None,
    started_before: str | datetime | None = None,
    ended_after: str | datetime | None = None,
    ended_before: str | datetime | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield an agent's executions matching every given filter, one page at a time as iterated.

    :param agent_id: the agent's id.
    :param status: ``started``, ``running``, ``paused``, ``ended`` or ``handoff`` (``q[status_eq]``).
    :param phone_number: the number the executions talk to (``q[phone_number_eq]``, sent as digits
        only, the normalized form ``openapi-agents.yaml`` asks for).
    :param started_after: ISO-8601 time or aware datetime (``q[started_at_gteq]``).
    :param started_before: ``q[started_at_lteq]``.
    :param ended_after: ``q[ended_at_gteq]``.
    :param ended_before: ``q[ended_at_lteq]``.
    :param per_page: records per request, 1 to 100.
    """
    if status is not None and status not in AGENT_EXECUTION_FILTER_STATUSES:
        raise KapsoArgumentError(f"status: must be one of {', '.join(AGENT_EXECUTION_FILTER_STATUSES)}, got {status!r}")
    phone = _optional_string("phone_number", phone_number)
    filters = {
        "q[status_eq]": status,
        "q[phone_number_eq]": None if phone is None else re.sub(r"\D", "", phone),
        "q[started_at_gteq]": _time_param("started_after", started_after),
        "q[started_at_lteq]": _time_param("started_before", started_before),
        "q[ended_at_gteq]": _time_param("ended_after", ended_after),
        "q[ended_at_lteq]": _time_param("ended_before", ended_before),
    }
    params = {key: value for key, value in filters.items() if value is not None}
    return numbered_pages(f"{_agent_path(agent_id)}/executions", params, per_page=per_page)


def find_agent_execution(agent_id: str, *, phone_number: str, since: datetime) -> Flow[dict[str, Any] | None]:
    """The newest execution of the agent for ``phone_number`` started at or after ``since``, or ``None``.

    This is how a task retry finds the execution an earlier try started: Kapso takes no idempotency key
    for a start, and an execution records the number it talks to and nothing else of the start's.
    ``since`` is placed on Kapso's clock (measured from the ``Date`` header of its answers) less the retry
    policy's ``clock_skew``; when no answer has told Kapso's clock yet, the agent is read first, because
    the list's ``q[started_at_gteq]`` filter leaves with the first request.

    :param agent_id: the agent's id.
    :param phone_number: the number the execution talks to.
    :param since: when the earlier try began, on this machine's clock (timezone-aware).
    :raises KapsoArgumentError: for a bad argument, before any request.
    """
    path = _agent_path(agent_id)
    phone = require_text("phone_number", phone_number)
    began = require_aware_datetime("since", since)

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        if not context.clock.known:
            yield from request(context, Request("GET", path))
        window = window_start(context, began)
        listing = list_agent_executions(agent_id, phone_number=phone, started_after=window)
        started = [(parse_time(record.get("started_at")), record) for record in (yield from collect(context, listing))]
        # The filter is Kapso's; the window is checked again here, where it is known to be applied.
        candidates = [(at, record) for at, record in started if at is not None and at >= window]
        return max(candidates, key=lambda candidate: candidate[0])[1] if candidates else None

    return Flow(run)


def get_agent_execution(agent_id: str, execution_id: str) -> Call[dict[str, Any]]:
    """Return one agent execution.

    :param agent_id: the agent's id.
    :param execution_id: the execution's id.
    """
    return Call(Request("GET", _agent_execution_path(agent_id, execution_id)), data_object)


def resume_agent_execution(
    agent_id: str, execution_id: str, *, message: str | Mapping[str, Any] | None = None
) -> Call[dict[str, Any]]:
    """Resume a ``paused`` agent execution and return its record. A write: not retried when ambiguous.

    :param agent_id: the agent's id.
    :param execution_id: the execution's id.
    :param message: what to resume with: text (sent as a ``user_input`` message) or
        ``{"type": ..., "content": {...}}``; ``None`` sends no body.
    """
    body = None if message is None else {"message": agent_message(message, allow_text=False)}
    return Call(Request("POST", f"{_agent_execution_path(agent_id, execution_id)}/resume", json=body), data_object)


def update_agent_execution_status(agent_id: str, execution_id: str, status: str) -> Call[dict[str, Any]]:
    """Set an agent execution's status (e.g. ``stopped`` or ``ended``) and return its record.

    ``PUT /agents/{agent_id}/executions/{execution_id}`` exists in ``openapi-agents.yaml`` only
    (``openapi.yaml`` has no status update; the conversations' ``agent_executions`` endpoints are
    read-only). Setting a status is idempotent, so an ambiguous failure is retried like a read.

    :param agent_id: the agent's id.
    :param execution_id: the execution's id.
    :param status: one of ``started``, ``running``, ``paused``, ``ended``, ``handoff``, ``failed``,
        ``stopped``.
    """
    if status not in AGENT_EXECUTION_STATUSES:
        raise KapsoArgumentError(f"status: must be one of {', '.join(AGENT_EXECUTION_STATUSES)}, got {status!r}")
    body = {"agent_execution": {"status": status}}
    return Call(
        Request("PUT", _agent_execution_path(agent_id, execution_id), json=body, retry_ambiguous=True), data_object
    )


# -- flows --


def list_flows(*, status: str | None = None) -> Pager[dict[str, Any]]:
    """Yield the project's flows.

    The files declare only ``q[status_eq]`` for ``GET /flows`` (no page parameters), so this is one
    request, made when iteration starts.

    :param status: ``draft``, ``active`` or ``archived``.
    """
    if status is not None and status not in FLOW_STATUSES:
        raise KapsoArgumentError(f"status: must be one of {', '.join(FLOW_STATUSES)}, got {status!r}")
    return _single_page(Request("GET", "/flows", params={"q[status_eq]": status}))


def get_flow(flow_id: str) -> Call[dict[str, Any]]:
    """Return one flow.

    :param flow_id: the flow's id (a UUID).
    """
    return Call(Request("GET", _flow_path(flow_id)), data_object)


# -- flow executions --


def start_flow_execution(
    flow_id: str,
    *,
    phone_number: str,
    variables: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    initial_data: Mapping[str, Any] | None = None,
    whatsapp_config_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Queue an execution of a flow (it needs an active API trigger); returns Kapso's acknowledgement.

    The answer is ``{"flow_id", "tracking_id", "message"}``, not an execution: the execution appears
    later, carrying the same ``tracking_id`` (see :meth:`find_flow_execution`). A write: not retried
    when ambiguous.

    :param flow_id: the flow's id (a UUID).
    :param phone_number: the customer's number, ``+`` and digits (required by both files).
    :param variables: variables to pass to the flow.
    :param context: additional context for the execution.
    :param initial_data: initial data to pass to the flow.
    :param whatsapp_config_id: the WhatsApp number to run on (a UUID; ``openapi-agents.yaml`` only).
    """
    path = f"{_flow_path(flow_id)}/executions"
    body: dict[str, Any] = {"phone_number": check_flow_phone_number(phone_number)}
    for name, value in (("variables", variables), ("context", context), ("initial_data", initial_data)):
        checked = _optional_object(name, value)
        if checked is not None:
            body[name] = checked
    if whatsapp_config_id is not None:
        body["whatsapp_config_id"] = _require_uuid("whatsapp_config_id", whatsapp_config_id)
    return Call(Request("POST", path, json=body), _tracking_answer)


def list_flow_executions(
    flow_id: str,
    *,
    status: str | None = None,
    started_after: str | datetime | None = None,
    started_before: str | datetime | None = None,
) -> Pager[dict[str, Any]]:
    """Yield a flow's executions matching every given filter.

    The files declare no page parameters here, so this is one request, made when iteration starts:
    narrow it with ``started_after``.

    :param flow_id: the flow's id (a UUID).
    :param status: ``running``, ``waiting``, ``ended`` or ``failed`` (sent as the integer code
        ``q[status_eq]`` takes).
    :param started_after: ISO-8601 time or aware datetime (``q[started_at_gteq]``).
    :param started_before: ``q[started_at_lteq]``.
    """
    if status is not None and status not in FLOW_EXECUTION_STATUS_CODES:
        raise KapsoArgumentError(f"status: must be one of {', '.join(FLOW_EXECUTION_STATUS_CODES)}, got {status!r}")
    path = f"{_flow_path(flow_id)}/executions"
    params = {
        "q[status_eq]": None if status is None else FLOW_EXECUTION_STATUS_CODES[status],
        "q[started_at_gteq]": _time_param("started_after", started_after),
        "q[started_at_lteq]": _time_param("started_before", started_before),
    }
    return _single_page(Request("GET", path, params=params))


def find_flow_execution(
    flow_id: str, tracking_id: str, *, started_after: str | datetime | None = None
) -> Flow[dict[str, Any] | None]:
    """The execution a start queued, found by the ``tracking_id`` the start answered, or ``None`` yet.

    :param flow_id: the flow's id.
    :param tracking_id: the ``tracking_id`` of :meth:`start_flow_execution`'s answer.
    :param started_after: a time before the start, to keep the list short.
    """
    listing = list_flow_executions(flow_id, started_after=started_after)

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        return (yield from scan(context, listing, lambda record: record.get("tracking_id") == tracking_id))

    return Flow(run)


def get_flow_execution(execution_id: str) -> Call[dict[str, Any]]:
    """Return one flow execution.

    :param execution_id: the execution's id (a UUID).
    """
    return Call(Request("GET", _flow_execution_path(execution_id)), data_object)


def resume_flow_execution(
    execution_id: str,
    *,
    input: str | None = None,
    message: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Resume a ``waiting`` flow execution and return its record. A write: not retried when ambiguous.

    :param execution_id: the execution's id (a UUID).
    :param input: text to resume with.
    :param message: structured data to resume with, e.g. ``{"button_id": "confirm"}``.
    """
    body: dict[str, Any] = {}
    text = _optional_string("input", input)
    if text is not None:
        body["input"] = text
    structured = _optional_object("message", message)
    if structured is not None:
        body["message"] = structured
    return Call(Request("POST", f"{_flow_execution_path(execution_id)}/resume", json=body or None), data_object)


# -- execution outcomes, shared by the operators (sync) and the triggers (async) --

#: Final statuses that count as success, per kind of execution. ``handoff`` is final for an agent: it handed
#: the conversation to a person, which is an outcome the agent chose, not an error.
COMPLETED_STATUSES: dict[str, tuple[str, ...]] = {"agent": ("ended", "handoff"), "flow": ("ended",)}
#: Final statuses that count as failure. ``failed`` and ``stopped`` appear for agents only in the status
#: update's enum of ``openapi-agents.yaml`` (the record's enum lacks them): they are handled all the same.
FAILED_STATUSES: dict[str, tuple[str, ...]] = {"agent": ("failed", "stopped"), "flow": ("failed",)}


def execution_outcome(kind: str, record: Mapping[str, Any]) -> str:
    """``completed``, ``failed`` or ``running`` (any other status, ``paused``/``waiting`` included).

    :param kind: ``agent`` or ``flow``.
    :param record: an execution record.
    """
    status = record.get("status")
    if status in COMPLETED_STATUSES[kind]:
        return "completed"
    if status in FAILED_STATUSES[kind]:
        return "failed"
    return "running"
