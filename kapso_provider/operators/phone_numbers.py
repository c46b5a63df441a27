"""The operator that stops a DAG before a send when the sending WhatsApp number is not fit to send from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import plain_json
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.operators._base import KapsoOperatorArguments


__all__ = ["KapsoPhoneNumberHealthOperator"]


class KapsoPhoneNumberHealthOperator(KapsoBaseOperator):
    """Check the sending WhatsApp number with Kapso's health check, and fail the task when it cannot send.

    Put it before a bulk send or a broadcast: a number Meta blocked, whose token expired, or whose quality
    dropped fails the DAG here, before thousands of sends fail one by one. The task fails when

    - Kapso reports the number ``unhealthy``, or the check itself ``error`` (then the task may retry: the
      report is cached for 3 minutes);
    - a check a send depends on did not pass: phone number access, connection, messaging health, token;
    - Meta says the number can send ``BLOCKED`` (or ``LIMITED``, unless ``allow_limited``);
    - its quality rating is below ``min_quality_rating``;
    - Kapso reports it ``degraded`` and ``allow_degraded`` is off (by default a degraded number whose sending
      checks pass is only warned about: the webhook checks fail, which matter for inbound messages).

    On API v1 the number is a WhatsApp config (``whatsapp_config_id``, required); on the current API a phone
    number id (``phone_number_id``, the connection's by default). Returns (and pushes to XCom) the report:
    ``status``, ``checks``, ``timestamp``.

    :param phone_number_id: current API: the number to check; the connection's by default. (templated)
    :param whatsapp_config_id: API v1: the WhatsApp config to check. (templated)
    :param min_quality_rating: the lowest quality rating accepted, ``RED``, ``YELLOW`` (default: ``RED`` fails)
        or ``GREEN``; ``None`` accepts any. (templated)
    :param allow_limited: accept a number Meta limits (``LIMITED``). (templated)
    :param allow_degraded: accept a ``degraded`` report whose sending checks pass. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "phone_number_id",
        "whatsapp_config_id",
        "min_quality_rating",
        "allow_limited",
        "allow_degraded",
    )

    def __init__(
        self,
        *,
        phone_number_id: str | None = None,
        whatsapp_config_id: str | None = None,
        min_quality_rating: str | None = "YELLOW",
        allow_limited: bool | str = False,
        allow_degraded: bool | str = True,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.phone_number_id = phone_number_id
        self.whatsapp_config_id = whatsapp_config_id
        self.min_quality_rating = min_quality_rating
        self.allow_limited = allow_limited
        self.allow_degraded = allow_degraded
        self.check_when_static(self._settings, ("min_quality_rating", "allow_limited", "allow_degraded"))

    def _settings(self) -> dict[str, Any]:
        from kapso_provider.arguments import as_bool
        from kapso_provider.utils.sender_health import check_quality
        from kapso_provider.validation import raise_problems

        problems: list[str] = []
        settings = {
            "allow_limited": as_bool("allow_limited", self.allow_limited, problems),
            "allow_degraded": as_bool("allow_degraded", self.allow_degraded, problems),
        }
        raise_problems(problems)
        return {**settings, "min_quality_rating": check_quality("min_quality_rating", self.min_quality_rating)}

    def execute(self, context: Context) -> dict[str, Any]:
        from kapso_provider.exceptions import KapsoRunError
        from kapso_provider.utils.sender_health import judge_health

        with self.running():
            settings = self._settings()
            report = self.hook.get_phone_number_health(
                self.phone_number_id or None, whatsapp_config_id=self.whatsapp_config_id or None
            )
            verdict = judge_health(report, **settings)
            for warning in verdict.warnings:
                self.log.warning("The sending number: %s", warning)
            if verdict.problems:
                raise KapsoRunError(
                    "The sending WhatsApp number is not fit to send from: " + "; ".join(verdict.problems),
                    # A failed check may pass on the next try; a verdict on the number will not change soon.
                    final=report.get("status") != "error",
                )
            self.log.info("The sending number is %s (checked %s)", report.get("status"), report.get("timestamp"))
        result: dict[str, Any] = plain_json(report)
        return result
