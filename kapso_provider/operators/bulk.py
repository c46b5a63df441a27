"""The bulk send operator: one message design to many recipients from one task."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from kapso_provider.arguments import (
    MESSAGE_FIELDS,
)
from kapso_provider.operators._base import earlier_try_since
from kapso_provider.operators.messages import BaseKapsoMessageOperator

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context, XComArg

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.operators.messages import MessageOperatorArguments


__all__ = ["KapsoBulkSendMessageOperator"]


class KapsoBulkSendMessageOperator(BaseKapsoMessageOperator):
    """Send one message design to many recipients from one task, at Kapso's rate limit, once each.

    Recipients come from ``recipients`` (a list, e.g. an upstream task's XCom, or a JSON array string) or
    from ``recipients_file`` (JSON lines, read lazily). Each item is a phone number (or, with
    ``recipient_field="conversation_id"``, a conversation id) or a dict with ``phone_number`` or
    ``conversation_id``, optionally ``whatsapp_config_id``/``customer_id``, and values for the message's
    ``${name}`` placeholders: ``content="Hi ${name}, see you at ${time}"`` or
    ``template_params={"name": "${name}"}``. Airflow's Jinja templates render first, once for the task;
    placeholders fill per recipient. Every recipient and its message is checked before the first request.

    Sends run ``max_concurrency`` at a time, spaced to stay under ``max_requests_per_minute`` and the
    limit Kapso reports in ``X-RateLimit-*`` headers. A send whose answer was lost is looked up before it
    is repeated, and on a task retry every recipient is looked up first, so a retry sends only what earlier
    tries did not. Progress (done, failed, rate, time left) is logged every ``progress_interval`` seconds.

    The task fails when more sends failed than ``tolerate_failures`` allows, naming the first failures.
    It returns (and pushes to XCom) a summary that stays small for any number of recipients:
    ``total``, ``sent``, ``already_sent``, ``failed``, ``not_attempted``, ``elapsed_seconds``,
    ``messages_per_minute``, ``failures`` (the first 100, each with index, recipient and error) and
    ``message_ids`` (one per recipient, in input order, for runs of at most 1,000 recipients; ``None``
    beyond; use ``results_file`` for every recipient's result).

    The message arguments are those of :class:`~kapso_provider.arguments.KapsoMessageArguments`.

    :param recipients: the recipients as a list or a JSON array string; excludes ``recipients_file``.
        (templated)
    :param recipients_file: path of a JSON-lines file with one recipient per line. (templated)
    :param recipient_field: what a plain string recipient is: ``phone_number`` (default) or
        ``conversation_id``.
    :param whatsapp_config_id: the WhatsApp number to send from, for phone recipients that name none.
        (templated)
    :param customer_id: the customer whose WhatsApp number to send from, for phone recipients that name
        none. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param max_concurrency: sends in flight at once, 1 to 64.
    :param max_requests_per_minute: a ceiling on the request rate below Kapso's own limit (which is
        learned from its answers), e.g. to leave room for other work on the same API key.
    :param tolerate_failures: failed sends that still let the task succeed: a count (``int``) or a
        fraction of the recipients (``float`` from 0 to 1).
    :param progress_interval: seconds between progress lines in the task log.
    :param max_consecutive_failures: stop early after this many failed sends in a row (a systematic error
        such as an unknown template); ``None`` never stops.
    :param results_file: path of a JSON-lines file to write every recipient's result to. (templated)
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "recipients",
        "recipients_file",
        "whatsapp_config_id",
        "customer_id",
        "results_file",
        "message",
        *MESSAGE_FIELDS,
    )
    template_ext: Sequence[str] = ()

    def __init__(
        self,
        *,
        recipients: Sequence[str | Mapping[str, Any]] | str | XComArg | None = None,
        recipients_file: str | XComArg | None = None,
        recipient_field: str = "phone_number",
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        max_concurrency: int = 16,
        max_requests_per_minute: float | None = None,
        tolerate_failures: int | float = 0,
        progress_interval: float = 30.0,
        max_consecutive_failures: int | None = 100,
        results_file: str | None = None,
        **kwargs: Unpack[MessageOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.recipients = recipients
        self.recipients_file = recipients_file
        self.recipient_field = recipient_field
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.max_concurrency = max_concurrency
        self.max_requests_per_minute = max_requests_per_minute
        self.tolerate_failures = tolerate_failures
        self.progress_interval = progress_interval
        self.max_consecutive_failures = max_consecutive_failures
        self.results_file = results_file
        self._check_settings()
        if self.message_is_static():
            from kapso_provider.services.bulk_input import MessageDesign

            MessageDesign(self.message_object())

    def _check_settings(self) -> None:
        from kapso_provider.exceptions import KapsoInvalidMessageError

        problems = []
        if (self.recipients is None) == (self.recipients_file is None):
            problems.append("recipients: give exactly one of recipients or recipients_file")
        if self.recipient_field not in ("phone_number", "conversation_id"):
            problems.append(
                f"recipient_field: must be 'phone_number' or 'conversation_id', got {self.recipient_field!r}"
            )
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int):
            problems.append(f"max_concurrency: must be an int from 1 to 64, got {self.max_concurrency!r}")
        elif not 1 <= self.max_concurrency <= 64:
            problems.append(f"max_concurrency: {self.max_concurrency} is outside 1..64")
        if self.max_requests_per_minute is not None and not self.max_requests_per_minute > 0:
            problems.append(f"max_requests_per_minute: must be positive, got {self.max_requests_per_minute!r}")
        tolerate = self.tolerate_failures
        if isinstance(tolerate, bool) or not isinstance(tolerate, int | float) or tolerate < 0:
            problems.append(f"tolerate_failures: must be a count >= 0 or a fraction 0..1, got {tolerate!r}")
        elif isinstance(tolerate, float) and tolerate > 1:
            problems.append(f"tolerate_failures: a float is a fraction of the recipients, 0..1; got {tolerate}")
        if not self.progress_interval > 0:
            problems.append(f"progress_interval: must be positive seconds, got {self.progress_interval!r}")
        if self.max_consecutive_failures is not None and self.max_consecutive_failures < 1:
            problems.append(f"max_consecutive_failures: must be at least 1, got {self.max_consecutive_failures}")
        if problems:
            raise KapsoInvalidMessageError(problems)

    @cached_property
    def hook(self) -> KapsoHook:
        """The task's hook, shared by every sending thread; it paces requests evenly at the rate limit."""
        from kapso_provider.services.bulk import bulk_hook

        return bulk_hook(self.kapso_conn_id, max_requests_per_minute=self.max_requests_per_minute)

    def _entries(self) -> Iterator[tuple[str, Any]]:
        from kapso_provider.services.bulk_input import recipient_entries

        return recipient_entries(self.recipients, self.recipients_file)

    def _tolerated(self, total: int) -> int:
        if isinstance(self.tolerate_failures, float):
            return int(self.tolerate_failures * total)
        return self.tolerate_failures

    def execute(self, context: Context) -> dict[str, Any]:
        from kapso_provider.services.bulk import MessageDesign, send_bulk
        from kapso_provider.services.bulk_checkpoint import store_for

        try:
            # Every entry is checked before the first request: a bad line 90,000 must not stop a run that
            # already messaged 89,999 people. A retry renders the same values, so it cannot help. The window
            # of lookups is the module function's: the checkpoint tells the log what a retry reads.
            with self.failing_fast():
                summary = send_bulk(
                    hook=self.hook,
                    entries=self._entries,
                    design=MessageDesign(self.message_object()),
                    recipient_field=self.recipient_field,
                    defaults={"whatsapp_config_id": self.whatsapp_config_id, "customer_id": self.customer_id},
                    max_concurrency=self.max_concurrency,
                    earlier_try_since=earlier_try_since(context),
                    progress_interval=self.progress_interval,
                    max_consecutive_failures=self.max_consecutive_failures,
                    results_file=self.results_file,
                    log=self.log,
                    checkpoint_store=store_for(context),
                )
        finally:
            self.close_hook()

        unfinished = summary.failed + summary.not_attempted
        total = summary.total
        if unfinished > self._tolerated(total):
            listed = "; ".join(f"{f['recipient']}: {f['error']}" for f in summary.failures[:10])
            raise AirflowException(
                f"{summary.failed} of {total} sends failed and {summary.not_attempted} were not attempted "
                f"(tolerated: {self._tolerated(total)}). First failures: {listed or 'none'}"
            )
        return summary.to_json()
