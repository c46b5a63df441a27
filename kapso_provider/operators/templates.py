"""Operators on templates: publish templates kept in version control to WhatsApp (current API), or sync from Meta
(API v1), and wait (the work is :mod:`kapso_provider.services.templates`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import plain_json
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context, XComArg

    from kapso_provider.operators._base import KapsoOperatorArguments
    from kapso_provider.services.templates import TemplatePublish, TemplateSync


__all__ = ["KapsoSyncTemplatesOperator"]


class KapsoSyncTemplatesOperator(KapsoBaseOperator):
    """Keep WhatsApp templates in step, and by default wait until they are ready.

    **Templates kept in version control** (``templates``, Kapso's current API): each template (``name``,
    ``language_code``, ``category``, ``components``, optionally ``parameter_format``; WhatsApp's component
    objects, e.g. loaded from a JSON file in the DAG's repository) is made the WhatsApp Business Account's:
    created when WhatsApp has none of that name and language, changed when its category differs or its
    components do not say everything the given ones say, left alone otherwise. Created and changed templates
    go to WhatsApp's review; while waiting, the task reads each one's status every ``poll_interval`` seconds
    until WhatsApp approved or rejected it. A rejection fails the task without retries, naming the
    templates. Returns ``{"templates": [...], "summary": {...}}``: per template ``id`` (Meta's template id),
    ``name``, ``language_code``, ``category``, ``status`` (``approved``, ``rejected``, ``pending``) and
    ``action`` (``created``, ``updated``, ``unchanged``); the summary counts them. API v1 cannot publish
    templates this way (it refuses ``publish_template`` when the task runs).

    **Sync from Meta** (no ``templates``, API v1): Kapso queues one sync per WhatsApp Business Account
    (``POST /whatsapp_templates/sync``) and runs at most one at a time per account: when a sync of an account
    is already running, Kapso hands back that one, so starting this task twice never doubles the work. While
    waiting, the task reads the syncs' status (``GET /whatsapp_templates/sync_status``) every
    ``poll_interval`` seconds and logs their progress. It returns, when waiting, the final status answer,
    ``{"sync_requests": [...], "summary": {...}}``, each sync request with its ``status`` (``succeeded``),
    ``templates_synced``, ``templates_created``, ``templates_updated`` and ``templates_removed``; without
    waiting, Kapso's answer to the sync request (``status``, ``sync_requests``, ``summary``). The current API
    has no sync (Kapso keeps its copy of the account's templates in step by itself) and refuses it.

    :param templates: the templates to publish (current API): a list of template objects, or its JSON text.
        (templated)
    :param business_account_id: with ``templates``: the WhatsApp Business Account; the connection's by
        default. (templated)
    :param whatsapp_config_id: sync from Meta (API v1): the account of this WhatsApp number only.
        (templated)
    :param customer_id: sync from Meta (API v1): the accounts of every production number of this customer;
        without either, every production number of the project. (templated)
    :param wait_for_completion: wait until every template is approved or rejected (or every sync has
        succeeded or failed). (templated)
    :param poll_interval: seconds between two status reads while waiting. (templated)
    :param timeout: seconds to wait at most; the task fails (and may retry) when something is still
        pending then. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :raises AirflowException: a template was rejected, a sync failed, or the wait ran out of time.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "templates",
        "business_account_id",
        "whatsapp_config_id",
        "customer_id",
        "wait_for_completion",
        "poll_interval",
        "timeout",
    )

    def __init__(
        self,
        *,
        templates: Sequence[Mapping[str, Any]] | str | XComArg | None = None,
        business_account_id: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        wait_for_completion: bool | str = True,
        poll_interval: float | str = 30.0,
        timeout: float | str = 1800.0,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.templates = templates
        self.business_account_id = business_account_id
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.check_when_static(self._sync)

    def _sync(self) -> TemplatePublish | TemplateSync:
        from kapso_provider.exceptions import KapsoArgumentError
        from kapso_provider.services.templates import TemplatePublish, TemplateSync

        if self.templates is not None:
            given = [name for name in ("whatsapp_config_id", "customer_id") if getattr(self, name) is not None]
            if given:
                raise KapsoArgumentError(
                    [f"{name}: a sync from Meta's (API v1); with templates give business_account_id" for name in given]
                )
            return TemplatePublish.checked(
                templates=self.templates,
                business_account_id=self.business_account_id or None,
                wait_for_completion=self.wait_for_completion,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
            )
        if self.business_account_id is not None:
            raise KapsoArgumentError("business_account_id: only with templates (publishing them to WhatsApp)")
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
