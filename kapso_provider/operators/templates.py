"""Operators on templates: sync from Meta and wait for it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from kapso_provider.arguments import (
    as_bool,
    as_number,
    is_static,
    plain_json,
)
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators._base import KapsoHookMixin
from kapso_provider.validation import check_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context


__all__ = ["KapsoSyncTemplatesOperator"]


class KapsoSyncTemplatesOperator(KapsoHookMixin, BaseOperator):
    """Sync WhatsApp templates from Meta into Kapso and, by default, wait until the sync has finished.

    Kapso queues one sync per WhatsApp Business Account (``POST /whatsapp_templates/sync``) and runs at most
    one at a time per account: when a sync of an account is already running, Kapso hands back that one,
    so starting this task twice never doubles the work. While waiting, the task reads the syncs' status
    (``GET /whatsapp_templates/sync_status``) every ``poll_interval`` seconds and logs their progress.

    Returns (and pushes to XCom) plain JSON: when waiting, the final status answer,
    ``{"sync_requests": [...], "summary": {...}}``, each sync request with its ``status`` (``succeeded``),
    ``templates_synced``, ``templates_created``, ``templates_updated`` and ``templates_removed``; without
    waiting, Kapso's answer to the sync request (``status``, ``sync_requests``, ``summary``).

    :param whatsapp_config_id: sync the account of this WhatsApp number only. (templated)
    :param customer_id: sync the accounts of every production number of this customer; without either,
        every production number of the project. (templated)
    :param wait_for_completion: wait until every sync has succeeded or failed. (templated)
    :param poll_interval: seconds between two status reads while waiting. (templated)
    :param timeout: seconds to wait at most; the task fails when a sync is still running then. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :raises AirflowException: a sync failed (its account, error class and message are named) or did not
        finish within ``timeout``.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "whatsapp_config_id",
        "customer_id",
        "wait_for_completion",
        "poll_interval",
        "timeout",
    )
    # Values are data, never file names.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        wait_for_completion: bool | str = True,
        poll_interval: float | str = 30.0,
        timeout: float | str = 1800.0,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.kapso_conn_id = kapso_conn_id
        if all(is_static(getattr(self, name)) for name in self.template_fields):
            self._settings()

    def _settings(self) -> tuple[bool, float, float]:
        """The checked arguments: wait or not, poll interval and timeout in seconds.

        :raises KapsoInvalidMessageError: naming every bad argument.
        """
        from kapso_provider.exceptions import KapsoInvalidMessageError

        problems: list[str] = []
        check_text(problems, "whatsapp_config_id", self.whatsapp_config_id)
        check_text(problems, "customer_id", self.customer_id)
        if self.whatsapp_config_id is not None and self.customer_id is not None:
            problems.append("whatsapp_config_id, customer_id: give at most one of them")
        wait = as_bool("wait_for_completion", self.wait_for_completion, problems)
        poll_interval = as_number("poll_interval", self.poll_interval, problems, minimum=0, unit="seconds")
        timeout = as_number("timeout", self.timeout, problems, minimum=0, unit="seconds")
        if problems:
            raise KapsoInvalidMessageError(problems)
        return wait, poll_interval, timeout

    def execute(self, context: Context) -> dict[str, Any]:

        try:
            wait, poll_interval, timeout = self._settings()
        except KapsoArgumentError as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        try:
            started = self.hook.sync_templates(whatsapp_config_id=self.whatsapp_config_id, customer_id=self.customer_id)
            runs = [run for run in started.get("sync_requests") or [] if isinstance(run, Mapping)]
            summary = started.get("summary") or {}
            self.log.info(
                "Kapso template sync: %d sync request(s) for Business Account(s) %s (%s new, %s already running)",
                len(runs),
                ", ".join(str(run.get("business_account_id")) for run in runs) or "-",
                summary.get("jobs_enqueued", "?"),
                summary.get("already_in_progress", "?"),
            )
            if not wait:
                result: dict[str, Any] = plain_json(started)
                return result
            return self._wait(runs, poll_interval=poll_interval, timeout=timeout)
        finally:
            self.hook.close()

    def _wait(self, runs: list[Mapping[str, Any]], *, poll_interval: float, timeout: float) -> dict[str, Any]:

        from kapso_provider.api.v1.templates import SYNC_FINAL_STATUSES

        ids = [str(run["id"]) for run in runs if run.get("id")]
        if not ids:
            raise AirflowException(f"Kapso answered the template sync with no sync request id: {runs!r}")
        deadline = time.monotonic() + timeout
        while True:
            status = self.hook.get_template_sync_status(sync_request_ids=ids)
            current = {str(run.get("id")): run for run in status.get("sync_requests") or [] if isinstance(run, Mapping)}
            # A run missing from the answer has not been seen to finish: it counts as unfinished.
            unfinished = [run_id for run_id in ids if current.get(run_id, {}).get("status") not in SYNC_FINAL_STATUSES]
            self.log.info(
                "Kapso template sync: %d of %d finished (%s); %d templates synced so far",
                len(ids) - len(unfinished),
                len(ids),
                ", ".join(f"{run_id}: {current.get(run_id, {}).get('status', 'unknown')}" for run_id in ids),
                sum(int(run.get("templates_synced") or 0) for run in current.values()),
            )
            if not unfinished:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AirflowException(
                    f"Kapso template sync not finished after {timeout:g} s: "
                    + ", ".join(
                        f"{run_id} is {current.get(run_id, {}).get('status', 'unknown')}" for run_id in unfinished
                    )
                )
            time.sleep(min(poll_interval, remaining))
        failed = [current[run_id] for run_id in ids if current[run_id].get("status") == "failed"]
        if failed:
            raise AirflowException(
                "Kapso template sync failed: "
                + "; ".join(
                    f"Business Account {run.get('business_account_id')} (sync {run.get('id')}): "
                    f"{run.get('error_class') or 'error'}: {run.get('error_message') or 'no error message'}"
                    for run in failed
                )
            )
        for run in current.values():
            self.log.info(
                "Business Account %s: %s templates synced (%s created, %s updated, %s removed)",
                run.get("business_account_id"),
                run.get("templates_synced"),
                run.get("templates_created"),
                run.get("templates_updated"),
                run.get("templates_removed"),
            )
        result: dict[str, Any] = plain_json(status)
        return result
