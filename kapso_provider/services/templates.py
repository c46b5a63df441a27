"""A template sync from Meta into Kapso, started and (optionally) waited for until every account is done.

:class:`~kapso_provider.operators.kapso.KapsoSyncTemplatesOperator` is the Airflow face of this module.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapso_provider.api.v1.templates import SYNC_FINAL_STATUSES
from kapso_provider.arguments import as_bool, as_number
from kapso_provider.exceptions import KapsoRunError
from kapso_provider.validation import check_text, raise_problems

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.transport.policy import WarningLog

__all__ = ["TemplateSync"]


def _runs(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [run for run in answer.get("sync_requests") or [] if isinstance(run, Mapping)]


@dataclass(frozen=True)
class TemplateSync:
    """Which accounts to sync, and how to wait for them.

    :param whatsapp_config_id: sync the account of this WhatsApp number only.
    :param customer_id: sync the accounts of every production number of this customer; without either,
        every production number of the project.
    :param wait: wait until every sync has succeeded or failed.
    :param poll_interval: seconds between two status reads while waiting.
    :param timeout: seconds to wait at most.
    """

    whatsapp_config_id: str | None = None
    customer_id: str | None = None
    wait: bool = True
    poll_interval: float = 30.0
    timeout: float = 1800.0

    @classmethod
    def checked(
        cls,
        *,
        whatsapp_config_id: object,
        customer_id: object,
        wait_for_completion: object,
        poll_interval: object,
        timeout: object,
    ) -> TemplateSync:
        """The sync from rendered operator arguments (``"true"``, ``"15"`` ... included).

        :raises KapsoArgumentError: naming every argument at fault.
        """
        problems: list[str] = []
        check_text(problems, "whatsapp_config_id", whatsapp_config_id)
        check_text(problems, "customer_id", customer_id)
        if whatsapp_config_id is not None and customer_id is not None:
            problems.append("whatsapp_config_id, customer_id: give at most one of them")
        wait = as_bool("wait_for_completion", wait_for_completion, problems)
        interval = as_number("poll_interval", poll_interval, problems, minimum=0, unit="seconds")
        limit = as_number("timeout", timeout, problems, minimum=0, unit="seconds")
        raise_problems(problems)
        return cls(whatsapp_config_id, customer_id, wait, interval, limit)  # type: ignore[arg-type]

    def run(self, hook: KapsoHook, log: WarningLog) -> dict[str, Any]:
        """Start the sync and, when waiting, return the final status answer; else Kapso's answer to the start.

        Kapso runs one sync per Business Account at a time and hands back the running one instead of
        queueing another, so starting twice never doubles the work.

        :raises KapsoRunError: not final when a sync failed (its account, error class and message named) or
            did not finish within the timeout.
        """
        started = hook.sync_templates(whatsapp_config_id=self.whatsapp_config_id, customer_id=self.customer_id)
        runs = _runs(started)
        summary = started.get("summary") or {}
        log.info(
            "Kapso template sync: %d sync request(s) for Business Account(s) %s (%s new, %s already running)",
            len(runs),
            ", ".join(str(run.get("business_account_id")) for run in runs) or "-",
            summary.get("jobs_enqueued", "?"),
            summary.get("already_in_progress", "?"),
        )
        if not self.wait:
            return started
        ids = [str(run["id"]) for run in runs if run.get("id")]
        if not ids:
            raise KapsoRunError(f"Kapso answered the template sync with no sync request id: {runs!r}", final=False)
        status = self._wait(hook, log, ids)
        for run in _runs(status):
            log.info(
                "Business Account %s: %s templates synced (%s created, %s updated, %s removed)",
                run.get("business_account_id"),
                run.get("templates_synced"),
                run.get("templates_created"),
                run.get("templates_updated"),
                run.get("templates_removed"),
            )
        return status

    def _wait(self, hook: KapsoHook, log: WarningLog, ids: list[str]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            status: dict[str, Any] = hook.get_template_sync_status(sync_request_ids=ids)
            current = {str(run.get("id")): run for run in _runs(status)}
            # A run missing from the answer has not been seen to finish: it counts as unfinished.
            states = {run_id: current.get(run_id, {}).get("status", "unknown") for run_id in ids}
            unfinished = [run_id for run_id, state in states.items() if state not in SYNC_FINAL_STATUSES]
            log.info(
                "Kapso template sync: %d of %d finished (%s); %d templates synced so far",
                len(ids) - len(unfinished),
                len(ids),
                ", ".join(f"{run_id}: {state}" for run_id, state in states.items()),
                sum(int(run.get("templates_synced") or 0) for run in current.values()),
            )
            if not unfinished:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KapsoRunError(
                    f"Kapso template sync not finished after {self.timeout:g} s: "
                    + ", ".join(f"{run_id} is {states[run_id]}" for run_id in unfinished),
                    final=False,
                )
            time.sleep(min(self.poll_interval, remaining))
        failed = [current[run_id] for run_id in ids if states[run_id] == "failed"]
        if failed:
            raise KapsoRunError(
                "Kapso template sync failed: "
                + "; ".join(
                    f"Business Account {run.get('business_account_id')} (sync {run.get('id')}): "
                    f"{run.get('error_class') or 'error'}: {run.get('error_message') or 'no error message'}"
                    for run in failed
                ),
                final=False,
            )
        return status
