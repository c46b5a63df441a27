"""The broadcast operator: a template campaign run by Kapso (the work is :mod:`kapso_provider.services.broadcasts`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.arguments import plain_json
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators._base import KapsoBaseOperator

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context, XComArg

    from kapso_provider.operators._base import KapsoOperatorArguments
    from kapso_provider.services.broadcasts import BroadcastSettings


__all__ = ["KapsoBroadcastOperator"]

# Arguments whose rendered value is converted and checked by ``BroadcastSettings.checked``.
_SETTINGS = ("send", "wait_for_completion", "poll_interval", "timeout", "batch_size", "tolerate_recipient_errors")


class KapsoBroadcastOperator(KapsoBaseOperator):
    """Run a Kapso WhatsApp broadcast: create it, add its recipients in batches, send it, optionally wait.

    A broadcast sends one approved template from one WhatsApp number to many recipients; Kapso does the
    sending itself, at WhatsApp's pace. The number is ``whatsapp_config_id`` on API v1 and
    ``phone_number_id`` on the current API (where the connection's extra ``phone_number_id`` is the default);
    the template is Kapso's template id on API v1 and Meta's template id on the current API. The operator
    creates a draft broadcast named ``name``, adds the recipients in batches of ``batch_size`` (Kapso takes
    at most 1,000 per request), starts the send and, with ``wait_for_completion``, polls until the broadcast
    is final (``completed``: every recipient ``sent``, ``failed`` or, on the current API, ``suppressed``).
    It returns (and pushes to XCom) the broadcast record with its counts: ``status``,
    ``total_recipients``, ``sent_count``, ``delivered_count``, ``read_count``, ``failed_count``,
    ``pending_count`` and the rest of Kapso's ``WhatsappBroadcast``.

    Recipients come from ``recipients`` (a list, e.g. an upstream task's XCom, or a JSON array string) or
    from ``recipients_file`` (JSON lines, read lazily). Each is a phone number in international format or a
    dict with ``phone_number`` (or ``whatsapp_contact_id``) and optionally ``template_parameters``: a list
    of strings for a template with positional parameters, or an object of named values (on API v1
    ``header_url`` / ``header_filename`` for a media header; on the current API, give Meta's template
    ``components`` instead for media headers and buttons). Every recipient is checked before the first
    request.

    Kapso checks each recipient when it is added and may refuse some (an invalid number, parameters that
    do not fit the template) while adding the rest. Up to ``tolerate_recipient_errors`` refusals are logged
    and the broadcast is sent to the others; more fail the task before the send, leaving the draft in Kapso.

    A task retry does not create a second broadcast: it looks for a broadcast with the same name, number
    and template created since the DAG run started (on Kapso's clock), adds only the recipients that
    broadcast lacks, sends it if it is still a draft and waits for it if asked to. Give each run's
    broadcast its own name (e.g. with ``{{ ds }}``) when two runs of a DAG can overlap.

    :param name: the broadcast's name in Kapso. (templated)
    :param whatsapp_template_id: an approved template: Kapso's template id (API v1, linked to the config) or
        Meta's template id (current API). (templated)
    :param whatsapp_config_id: API v1: the WhatsApp config (a production business number) to send from.
        (templated)
    :param phone_number_id: current API: the WhatsApp number to send from; the connection's extra
        ``phone_number_id`` by default. (templated)
    :param recipients: the recipients as a list or a JSON array string; excludes ``recipients_file``.
        (templated)
    :param recipients_file: path of a JSON-lines file with one recipient per line. (templated)
    :param send: start sending once the recipients are in; ``False`` leaves a draft to send from Kapso's
        UI. (templated)
    :param wait_for_completion: after the send, poll until every recipient has an outcome. (templated)
    :param poll_interval: seconds between two polls while waiting. (templated)
    :param timeout: seconds to wait for completion before failing the task (a retry waits again, without
        sending again); ``None`` waits as long as the task may run. (templated)
    :param batch_size: recipients per request, 1 to 1,000. (templated)
    :param tolerate_recipient_errors: recipients Kapso may refuse with the broadcast still sent: a count
        (``int``) or a fraction of the recipients (``float`` from 0 to 1). (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "name",
        "whatsapp_config_id",
        "phone_number_id",
        "whatsapp_template_id",
        "recipients",
        "recipients_file",
        *_SETTINGS,
    )

    def __init__(
        self,
        *,
        name: str,
        whatsapp_template_id: str,
        whatsapp_config_id: str | None = None,
        phone_number_id: str | None = None,
        recipients: Sequence[str | Mapping[str, Any]] | str | XComArg | None = None,
        recipients_file: str | XComArg | None = None,
        send: bool | str = True,
        wait_for_completion: bool | str = False,
        poll_interval: float | str = 30.0,
        timeout: float | str | None = None,
        batch_size: int | str = 1000,
        tolerate_recipient_errors: int | float | str = 0,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.whatsapp_config_id = whatsapp_config_id
        self.phone_number_id = phone_number_id
        self.whatsapp_template_id = whatsapp_template_id
        self.recipients = recipients
        self.recipients_file = recipients_file
        self.send = send
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.batch_size = batch_size
        self.tolerate_recipient_errors = tolerate_recipient_errors
        if (recipients is None) == (recipients_file is None):
            raise KapsoArgumentError("recipients: give exactly one of recipients or recipients_file")
        self.check_when_static(self._settings, _SETTINGS)

    def _settings(self) -> BroadcastSettings:
        from kapso_provider.services.broadcasts import BroadcastSettings

        return BroadcastSettings.checked(**{name: getattr(self, name) for name in _SETTINGS})

    def _items(self) -> Iterator[tuple[str, Any]]:
        from kapso_provider.services.bulk_input import recipient_items

        return recipient_items(self.recipients, self.recipients_file)

    def execute(self, context: Context) -> dict[str, Any]:
        from kapso_provider.services.broadcasts import BroadcastRun, check_recipients

        with self.running():
            run = BroadcastRun(
                self.hook,
                name=self.name,
                whatsapp_config_id=self.whatsapp_config_id or None,
                phone_number_id=self.phone_number_id or None,
                whatsapp_template_id=self.whatsapp_template_id,
                settings=self._settings(),
                log=self.log,
            )
            # Every recipient is checked before the first request: a bad line 90,000 must not leave a
            # half-filled draft behind.
            total = check_recipients(self._items())
            self.log.info("Broadcast %r to %d recipients, %d per request", self.name, total, run.settings.batch_size)
            record = run.run(self._items, total=total, earlier_try_since=self.earlier_try_since(context))
        result: dict[str, Any] = plain_json(record)
        return result
