"""Operators on templates: sync from Meta and wait for it (the work is :mod:`kapso_provider.services.templates`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import plain_json
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.operators._base import KapsoOperatorArguments
    from kapso_provider.services.templates import TemplateSync


__all__ = ["KapsoSyncTemplatesOperator"]


class KapsoSyncTemplatesOperator(KapsoBaseOperator):
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

    def __init__(
        self,
        *,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        wait_for_completion: bool | str = True,
        poll_interval: float | str = 30.0,
        timeout: float | str = 1800.0,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.check_when_static(self.template_fields, self._sync)

    def _sync(self) -> TemplateSync:
        from kapso_provider.services.templates import TemplateSync

        return TemplateSync.checked(
            whatsapp_config_id=self.whatsapp_config_id,
            customer_id=self.customer_id,
            wait_for_completion=self.wait_for_completion,
            poll_interval=self.poll_interval,
            timeout=self.timeout,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        with self.running():
            answer = self._sync().run(self.hook, self.log)
        result: dict[str, Any] = plain_json(answer)
        return result
