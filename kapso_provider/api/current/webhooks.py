"""Current API: the webhooks Kapso delivers to (register, list, read, update, test, delete) and their
delivery log, on the Platform API. Current API only: API v1 has no webhook endpoints the provider uses.

A webhook is *number-scoped* (``phone_number_id`` given: message and conversation events of that number, at
``/whatsapp/phone_numbers/{phone_number_id}/webhooks``) or *project-scoped* (no ``phone_number_id``: project
events only, at ``/whatsapp/webhooks``, which also lists, reads and changes webhooks of every scope). The
scope is always the caller's choice: the connection's phone number id is never assumed here.

Every record these endpoints return has its ``secret_key`` and the values of its custom ``headers``
replaced by ``"***"``: a DAG that audits its webhooks must not copy their secrets into XCom or a log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from kapso_provider.api.current._calls import mapped, query_flag
from kapso_provider.api.current._wire import cursor_pages, platform_path
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Pager,
    check_page_size,
    data_object,
    nothing,
    numbered_pages,
)
from kapso_provider.transport.settings import is_loopback
from kapso_provider.transport.wire import Request
from kapso_provider.validation import (
    check_choice,
    check_text,
    optional_bool,
    raise_problems,
    require_uuid,
)

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_webhook",
    "delete_webhook",
    "get_webhook",
    "list_webhook_deliveries",
    "list_webhooks",
    "send_webhook_test",
    "update_webhook",
)

WEBHOOK_KINDS = ("kapso", "meta")
PAYLOAD_VERSIONS = ("v1", "v2")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
DELIVERY_PERIODS = ("24h", "7d", "30d")
#: Events only a number-scoped webhook receives (Kapso's webhook docs; the file's descriptions agree).
NUMBER_EVENT_PREFIXES = ("whatsapp.message.", "whatsapp.conversation.")
#: The ranges Kapso's docs give for the buffering and inactivity settings.
_RANGES = {"buffer_window_seconds": (1, 60), "max_buffer_size": (1, 100), "inactivity_minutes": (1, 1440)}
_HIDDEN = "***"


def _webhook_path(webhook_id: str | None, phone_number_id: str | None, *rest: str) -> str:
    segments: list[tuple[str, str] | str] = ["whatsapp"]
    if phone_number_id is not None:
        segments += ["phone_numbers", ("phone_number_id", phone_number_id)]
    segments.append("webhooks")
    if webhook_id is not None:
        segments.append(("webhook_id", require_uuid("webhook_id", webhook_id)))
    return platform_path(*segments, *rest)


def redacted(record: dict[str, Any]) -> dict[str, Any]:
    """A webhook record with its secret and custom header values hidden."""
    shown = dict(record)
    if shown.get("secret_key") is not None:
        shown["secret_key"] = _HIDDEN
    if isinstance(shown.get("headers"), Mapping):
        shown["headers"] = dict.fromkeys(shown["headers"], _HIDDEN)
    return shown


def _webhook(body: Any, req: Request) -> dict[str, Any]:
    return redacted(data_object(body, req))


def _check_url(problems: list[str], url: object) -> None:
    if not isinstance(url, str):
        return
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme not in ("https", "http") or not host:
        problems.append(f"url: must be an absolute https:// URL, got {url[:80]!r}")
    elif parts.scheme == "http" and not is_loopback(host):
        problems.append(
            f"url: {url[:80]!r} is plain http: deliveries carry message contents and their signature, so give an "
            "https:// URL (http is accepted for loopback test servers only)"
        )


def _check_events(problems: list[str], name: str, events: object) -> list[str] | None:
    if events is None:
        return None
    if isinstance(events, str) or not isinstance(events, Sequence):
        problems.append(f"{name}: must be a list of event names, e.g. ['whatsapp.message.received']")
        return None
    for index, event in enumerate(events):
        check_text(problems, f"{name}[{index}]", event)
    return list(events)


def _settings(
    problems: list[str],
    *,
    url: str | None,
    events: Sequence[str] | None,
    kind: str | None,
    secret_key: str | None,
    active: bool | None,
    headers: Mapping[str, str] | None,
    buffer_enabled: bool | None,
    buffer_window_seconds: int | None,
    max_buffer_size: int | None,
    buffer_events: Sequence[str] | None,
    inactivity_minutes: int | None,
    payload_version: str | None,
) -> dict[str, Any]:
    """The ``whatsapp_webhook`` fields that are given, each checked; problems are appended."""
    check_text(problems, "url", url)
    _check_url(problems, url)
    check_choice(problems, "kind", kind, WEBHOOK_KINDS)
    check_choice(problems, "payload_version", payload_version, PAYLOAD_VERSIONS)
    check_text(problems, "secret_key", secret_key)
    for name, flag in (("active", active), ("buffer_enabled", buffer_enabled)):
        try:
            optional_bool(name, flag)
        except KapsoArgumentError as exc:
            problems.extend(exc.problems)
    numbers = {
        "buffer_window_seconds": buffer_window_seconds,
        "max_buffer_size": max_buffer_size,
        "inactivity_minutes": inactivity_minutes,
    }
    for name, value in numbers.items():
        low, high = _RANGES[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
            problems.append(f"{name}: must be a whole number from {low} to {high}, got {value!r}")
    if headers is not None and (
        not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values())
    ):
        problems.append("headers: must be a mapping of header names to text values")
    if kind == "meta" and (buffer_enabled or buffer_events or buffer_window_seconds or max_buffer_size):
        problems.append("kind: a 'meta' webhook forwards Meta's payload as it comes and cannot buffer")
    fields = {
        "url": url,
        "kind": kind,
        "secret_key": secret_key,
        "active": active,
        "events": _check_events(problems, "events", events),
        "headers": dict(headers) if isinstance(headers, Mapping) else None,
        "buffer_enabled": buffer_enabled,
        "buffer_events": _check_events(problems, "buffer_events", buffer_events),
        "payload_version": payload_version,
        **numbers,
    }
    return {key: value for key, value in fields.items() if value is not None}


def list_webhooks(
    *,
    phone_number_id: str | None = None,
    kind: str | None = None,
    url_contains: str | None = None,
    active: bool | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield webhooks, most recent first: those of one number, or without ``phone_number_id`` every webhook of
    the project (both scopes). Secrets hidden (see the module).

    :param phone_number_id: only the webhooks of this WhatsApp phone number id.
    :param kind: ``kapso`` or ``meta``.
    :param url_contains: part of the URL (with ``phone_number_id`` only: the project list has no such filter).
    :param active: only active (``True``) or paused (``False``) webhooks (with ``phone_number_id`` only).
    :param per_page: records per request, 1 to 100.
    :raises KapsoArgumentError: for a filter the chosen list lacks, before any request.
    """
    problems: list[str] = []
    check_choice(problems, "kind", kind, WEBHOOK_KINDS)
    check_text(problems, "phone_number_id", phone_number_id)
    check_text(problems, "url_contains", url_contains)
    if phone_number_id is None:
        given = [name for name, value in (("url_contains", url_contains), ("active", active)) if value is not None]
        problems += [f"{name}: the project's webhook list has no such filter; give phone_number_id" for name in given]
    raise_problems(problems)
    filters = {"kind": kind, "url_contains": url_contains, "active": query_flag(optional_bool("active", active))}
    return mapped(numbered_pages(_webhook_path(None, phone_number_id), filters, per_page=per_page), redacted)


def get_webhook(webhook_id: str, *, phone_number_id: str | None = None) -> Call[dict[str, Any]]:
    """Return one webhook, secrets hidden (see the module).

    :param webhook_id: the webhook's id (a UUID).
    :param phone_number_id: the number it belongs to; without it the project path reads any webhook.
    """
    return Call(Request("GET", _webhook_path(webhook_id, phone_number_id)), _webhook)


def create_webhook(
    *,
    url: str,
    events: Sequence[str] | None = None,
    phone_number_id: str | None = None,
    kind: str | None = None,
    secret_key: str | None = None,
    active: bool | None = None,
    headers: Mapping[str, str] | None = None,
    buffer_enabled: bool | None = None,
    buffer_window_seconds: int | None = None,
    max_buffer_size: int | None = None,
    buffer_events: Sequence[str] | None = None,
    inactivity_minutes: int | None = None,
    payload_version: str | None = None,
) -> Call[dict[str, Any]]:
    """Register a webhook and return its record, secrets hidden (see the module).

    With ``phone_number_id``: ``POST /whatsapp/phone_numbers/{phone_number_id}/webhooks`` (message and
    conversation events; ``secret_key`` required). Without: ``POST /whatsapp/webhooks`` (project events only).
    Not retried after an ambiguous failure: list the webhooks to learn whether it was registered.

    :param url: where Kapso delivers: ``https://`` (``http://`` to a loopback address only, for tests).
    :param events: the events to deliver, e.g. ``["whatsapp.message.received"]``; at least one for a
        ``kapso`` webhook; ``meta`` webhooks take none.
    :param phone_number_id: the WhatsApp phone number id whose events to deliver.
    :param kind: ``kapso`` (Kapso's payload, the default) or ``meta`` (Meta's payload forwarded as is; needs
        ``phone_number_id``).
    :param secret_key: the secret Kapso signs deliveries with (HMAC-SHA256); keep it in a connection or a
        secrets backend, never in DAG code.
    :param active: ``False`` registers it paused.
    :param headers: custom headers sent with every delivery.
    :param buffer_enabled: batch messages before delivery (``kapso`` webhooks only).
    :param buffer_window_seconds: how long a batch waits, 1 to 60 (Kapso's default 5).
    :param max_buffer_size: the most messages per batch, 1 to 100.
    :param buffer_events: the events to batch.
    :param inactivity_minutes: minutes of silence before ``whatsapp.conversation.inactive``, 1 to 1440.
    :param payload_version: ``v2`` (Kapso's default) or ``v1`` (legacy).
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    problems: list[str] = []
    if url is None:
        problems.append("url: is required")
    check_text(problems, "phone_number_id", phone_number_id)
    fields = _settings(
        problems,
        url=url,
        events=events,
        kind=kind,
        secret_key=secret_key,
        active=active,
        headers=headers,
        buffer_enabled=buffer_enabled,
        buffer_window_seconds=buffer_window_seconds,
        max_buffer_size=max_buffer_size,
        buffer_events=buffer_events,
        inactivity_minutes=inactivity_minutes,
        payload_version=payload_version,
    )
    if kind == "meta" and phone_number_id is None:
        problems.append("kind: a 'meta' webhook forwards one number's payloads; give phone_number_id")
    if kind != "meta" and not fields.get("events"):
        problems.append("events: a 'kapso' webhook needs at least one event, e.g. ['whatsapp.message.received']")
    if phone_number_id is None:
        problems += [
            f"events: {event!r} reaches number-scoped webhooks only; give phone_number_id"
            for event in fields.get("events", [])
            if isinstance(event, str) and event.startswith(NUMBER_EVENT_PREFIXES)
        ]
    elif secret_key is None:
        problems.append("secret_key: a number-scoped webhook needs one (Kapso never generates it)")
    raise_problems(problems)
    req = Request("POST", _webhook_path(None, phone_number_id), json={"whatsapp_webhook": fields})
    return Call(req, _webhook)


def update_webhook(
    webhook_id: str,
    *,
    phone_number_id: str | None = None,
    url: str | None = None,
    events: Sequence[str] | None = None,
    secret_key: str | None = None,
    active: bool | None = None,
    headers: Mapping[str, str] | None = None,
    buffer_enabled: bool | None = None,
    buffer_window_seconds: int | None = None,
    max_buffer_size: int | None = None,
    buffer_events: Sequence[str] | None = None,
    inactivity_minutes: int | None = None,
    payload_version: str | None = None,
) -> Call[dict[str, Any]]:
    """Change a webhook (``PATCH``); only the given fields are sent. Returns the record, secrets hidden.

    A webhook's ``kind`` cannot change. Setting values is idempotent, so an ambiguous failure is retried.

    :param webhook_id: the webhook's id (a UUID).
    :param phone_number_id: the number it belongs to; without it the project path changes any webhook.
    :param url: a new delivery URL.
    :param events: the new event list (replaces the old one).
    :param secret_key: a new signing secret.
    :param active: ``False`` pauses deliveries, ``True`` resumes them.
    :param headers: new custom headers (replace the old ones).
    :param buffer_enabled: see :meth:`create_webhook`.
    :param buffer_window_seconds: see :meth:`create_webhook`.
    :param max_buffer_size: see :meth:`create_webhook`.
    :param buffer_events: see :meth:`create_webhook`.
    :param inactivity_minutes: see :meth:`create_webhook`.
    :param payload_version: see :meth:`create_webhook`.
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    problems: list[str] = []
    check_text(problems, "phone_number_id", phone_number_id)
    changes = _settings(
        problems,
        url=url,
        events=events,
        kind=None,
        secret_key=secret_key,
        active=active,
        headers=headers,
        buffer_enabled=buffer_enabled,
        buffer_window_seconds=buffer_window_seconds,
        max_buffer_size=max_buffer_size,
        buffer_events=buffer_events,
        inactivity_minutes=inactivity_minutes,
        payload_version=payload_version,
    )
    if not changes and not problems:
        problems.append("update_webhook: give at least one field to change")
    raise_problems(problems)
    path = _webhook_path(webhook_id, phone_number_id)
    return Call(Request("PATCH", path, json={"whatsapp_webhook": changes}, retry_ambiguous=True), _webhook)


def delete_webhook(webhook_id: str, *, phone_number_id: str | None = None) -> Call[None]:
    """Delete a webhook (Kapso answers ``204``). Not retried after an ambiguous failure (a second attempt
    would answer 404 and hide the first one's success).

    :param webhook_id: the webhook's id (a UUID).
    :param phone_number_id: the number it belongs to; without it the project path deletes any webhook.
    :raises KapsoNotFoundError: no such webhook.
    """
    return Call(Request("DELETE", _webhook_path(webhook_id, phone_number_id)), nothing)


def send_webhook_test(webhook_id: str, *, event_type: str | None = None) -> Call[dict[str, Any]]:
    """Have Kapso deliver a test event to a webhook now (``POST /whatsapp/webhooks/{id}/test``).

    Returns ``{"success": true|false}``: whether the delivery reached the URL. The file documents this path
    for project webhooks; as the project path reads and changes webhooks of every scope, any id is taken.

    :param webhook_id: the webhook's id (a UUID).
    :param event_type: the event to simulate; one the webhook subscribes to (Kapso picks one by default).
    """
    problems: list[str] = []
    check_text(problems, "event_type", event_type)
    raise_problems(problems)
    body = None if event_type is None else {"event_type": event_type}
    return Call(Request("POST", _webhook_path(webhook_id, None, "test"), json=body), data_object)


def list_webhook_deliveries(
    *,
    webhook_id: str | None = None,
    status: str | None = None,
    event: str | None = None,
    errors_only: bool | None = None,
    period: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield Kapso's log of webhook deliveries, newest first (``GET /webhook_deliveries``, cursor paging).

    Each record has ``event``, ``status``, ``response_status`` (what the URL answered), ``attempt_count``,
    the ``*_at`` times, ``webhook_id`` and ``phone_number_id``.

    :param webhook_id: only deliveries of this webhook (a UUID).
    :param status: ``pending``, ``delivered`` or ``failed``.
    :param event: only this event, e.g. ``whatsapp.message.received``.
    :param errors_only: only deliveries that failed at least once.
    :param period: how far back: ``24h`` (Kapso's default), ``7d`` or ``30d``.
    :param per_page: records per request (``limit``), 1 to 100.
    :raises KapsoArgumentError: for a filter value Kapso cannot take, before any request.
    """
    problems: list[str] = []
    if webhook_id is not None:
        try:
            require_uuid("webhook_id", webhook_id)
        except KapsoArgumentError as exc:
            problems.extend(exc.problems)
    check_choice(problems, "status", status, DELIVERY_STATUSES)
    check_choice(problems, "period", period, DELIVERY_PERIODS)
    check_text(problems, "event", event)
    raise_problems(problems)
    check_page_size("per_page", per_page)
    filters = {
        "webhook_id": webhook_id,
        "status": status,
        "event": event,
        "errors_only": query_flag(optional_bool("errors_only", errors_only)),
        "period": period,
    }
    return cursor_pages(platform_path("webhook_deliveries"), filters, limit=per_page)
