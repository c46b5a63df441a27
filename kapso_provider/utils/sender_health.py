"""Whether a WhatsApp number is fit to send from, judged from Kapso's health report; shared by the health
operator and anyone who reads the report. Standard library only, no I/O.

Both API generations answer the same report (``status``, ``checks``, ``timestamp``): ``status`` is
``healthy``, ``degraded``, ``unhealthy`` or ``error``, and each check has ``passed`` (``None`` when Meta's
answer was unknown). What a check's ``details`` hold is shown in Kapso's examples only, so those fields
(``quality_rating``, ``can_send_message``) are read where present and never required.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoArgumentError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["QUALITY_RATINGS", "SENDING_CHECKS", "HealthVerdict", "check_quality", "judge_health"]

#: Meta's quality ratings, worst first.
QUALITY_RATINGS = ("RED", "YELLOW", "GREEN")
#: The checks a send depends on: reaching the number, its connection, its messaging state, its token. The
#: webhook checks matter for inbound messages and statuses, not for sending.
SENDING_CHECKS = ("phone_number_access", "phone_number_connection", "messaging_health", "token_validity")
#: Meta's messaging states (``messaging_health``), from free to stopped.
_MESSAGING = ("AVAILABLE", "LIMITED", "BLOCKED")


@dataclass(frozen=True)
class HealthVerdict:
    """What a health report says about sending.

    :param problems: why the number is not fit to send from, one line each; empty when it is.
    :param warnings: what is wrong but does not stop a send (a webhook check, a degraded status allowed).
    """

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _check_text(name: str, check: Mapping[str, Any]) -> str:
    reason = check.get("error") or (check.get("details") or {}).get("status") or "failed"
    return f"{name}: {reason}"


def _failed(check: object) -> bool:
    return isinstance(check, dict) and check.get("passed") is False


def _messaging_state(check: Mapping[str, Any]) -> str | None:
    raw = check.get("details")
    details: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    for value in (check.get("overall_status"), details.get("can_send_message")):
        if isinstance(value, str) and value.upper() in _MESSAGING:
            return value.upper()
    return None


def _quality(checks: Mapping[str, Any]) -> str | None:
    access = checks.get("phone_number_access")
    details = access.get("details") if isinstance(access, dict) else None
    rating = details.get("quality_rating") if isinstance(details, dict) else None
    return rating.upper() if isinstance(rating, str) and rating.upper() in QUALITY_RATINGS else None


def check_quality(name: str, value: object) -> str | None:
    """``value`` as a quality rating (``RED``, ``YELLOW``, ``GREEN``, any case), or ``None``.

    :raises KapsoArgumentError: naming ``name`` for anything else.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.upper() in QUALITY_RATINGS:
        return value.upper()
    raise KapsoArgumentError(f"{name}: must be one of {', '.join(QUALITY_RATINGS)} (or None), got {value!r}")


def judge_health(
    report: Mapping[str, Any],
    *,
    min_quality_rating: str | None = "YELLOW",
    allow_limited: bool = False,
    allow_degraded: bool = True,
) -> HealthVerdict:
    """Judge a health report: a number is fit to send from unless one of these holds.

    - ``status`` is ``unhealthy``, or ``error`` (the check itself failed: nothing is known);
    - ``status`` is ``degraded`` and ``allow_degraded`` is off;
    - a check a send depends on (:data:`SENDING_CHECKS`: access, connection, messaging, token) did not pass;
    - the messaging state is ``BLOCKED``, or ``LIMITED`` without ``allow_limited``;
    - the quality rating is below ``min_quality_rating`` (when the report shows one).

    :param report: the health report (``get_phone_number_health``).
    :param min_quality_rating: the lowest rating accepted (``YELLOW`` refuses ``RED``); ``None`` accepts any.
    :param allow_limited: accept a number Meta limits (``LIMITED``).
    :param allow_degraded: accept ``degraded`` (failing webhook checks, say) as long as the sending checks pass.
    """
    verdict = HealthVerdict()
    status = report.get("status")
    raw_checks = report.get("checks")
    checks: Mapping[str, Any] = raw_checks if isinstance(raw_checks, dict) else {}
    if status == "error":
        verdict.problems.append(f"the health check itself failed: {report.get('error') or 'no error text'}")
    elif status == "unhealthy":
        verdict.problems.append("Kapso reports the number unhealthy")
    elif status not in ("healthy", "degraded"):
        verdict.problems.append(f"Kapso reports an unknown status {status!r}")
    failed = {name: _check_text(name, check) for name, check in checks.items() if _failed(check)}
    verdict.problems.extend(text for name, text in failed.items() if name in SENDING_CHECKS)
    others = [text for name, text in failed.items() if name not in SENDING_CHECKS]
    if status == "degraded" and not allow_degraded:
        verdict.problems.append("Kapso reports the number degraded" + (f" ({'; '.join(others)})" if others else ""))
    else:
        verdict.warnings.extend(others)
    messaging = checks.get("messaging_health")
    state = _messaging_state(messaging) if isinstance(messaging, dict) else None
    if state == "BLOCKED" or (state == "LIMITED" and not allow_limited):
        verdict.problems.append(f"messaging_health: Meta says the number can send {state}")
    quality = _quality(checks)
    minimum = check_quality("min_quality_rating", min_quality_rating)
    if minimum is not None and quality is not None and QUALITY_RATINGS.index(quality) < QUALITY_RATINGS.index(minimum):
        verdict.problems.append(f"quality_rating: {quality}, below the {minimum} this task requires")
    return verdict
