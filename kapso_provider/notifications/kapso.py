"""A notifier that sends a WhatsApp message through Kapso from Airflow's task and DAG callbacks.

DAG files import this module on every parse, so it imports only Airflow's base notifier: the hooks (and
with them ``requests`` and ``httpx``) and the payload models load when a notification is sent or an
argument is checked.
"""

from __future__ import annotations

import copy
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.notifier import BaseNotifier

from kapso_provider.arguments import (
    MESSAGE_FIELDS,
    RECIPIENT_FIELDS,
    SEND_ARGUMENTS,
    SEND_OPTION_FIELDS,
    KapsoSendArguments,
    RecipientArguments,
    SendArguments,
    keyword_parameters,
    refuse_unknown,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.models import KapsoMessage

__all__ = ["KapsoNotifier", "send_kapso_notification"]

# The positional arguments of Airflow 2's sla_miss_callback, and of the same call shape that Airflow 3's
# BaseNotifier still accepts (without ``slas``): the only callbacks that do not pass one context.
_SLA_MISS_ARGUMENTS = ("dag", "task_list", "blocking_task_list", "slas", "blocking_tis")
_SLA_MISS_ARGUMENTS_NO_SLAS = ("dag", "task_list", "blocking_task_list", "blocking_tis")
# Context keys that only some callbacks get; rendered as None where absent.
_OPTIONAL_CONTEXT_KEYS = ("exception", "reason")


def _fit_rendered_message(message: dict[str, Any]) -> list[str]:
    """Adapt rendered runtime text that WhatsApp would refuse, in place; returns what was changed.

    A callback renders values nobody controls (an exception's text, a log URL). Losing the whole alert
    because of them is worse than sending it adapted, so two rules are applied instead of failing:

    - a text message's ``content`` longer than WhatsApp's limit is cut, ending with an ellipsis;
    - template parameters may not hold line breaks, tabs or more than four spaces in a row (WhatsApp
      refuses the send, error 132018), so such white space becomes single spaces.
    """
    from kapso_provider.models import TEXT_MAX_CHARS

    changed = []
    content = message.get("content")
    if message.get("message_type", "text") == "text" and isinstance(content, str) and len(content) > TEXT_MAX_CHARS:
        message["content"] = content[: TEXT_MAX_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
        changed.append(f"content cut from {len(content)} to {TEXT_MAX_CHARS} characters")

    def flatten(value: Any) -> Any:
        if isinstance(value, str) and ("\n" in value or "\r" in value or "\t" in value or "     " in value):
            return " ".join(value.split())
        return value

    params = message.get("template_params")
    if isinstance(params, list | tuple):
        flat: Any = [flatten(value) for value in params]
    elif isinstance(params, Mapping):
        flat = {name: flatten(value) for name, value in params.items()}
    else:
        flat = params
    if flat != params:
        message["template_params"] = flat
        changed.append("template_params: line breaks, tabs and long runs of spaces turned into single spaces")
    return changed


class KapsoNotifier(KapsoSendArguments, BaseNotifier):
    """Send a WhatsApp message through Kapso when a task or a DAG run changes state.

    Use it as ``on_failure_callback``, ``on_retry_callback``, ``on_success_callback`` (and any other
    ``on_*_callback``) of a task or a DAG. Name the recipient with exactly one of ``conversation_id`` or
    ``phone_number``. Give the message as :class:`~kapso_provider.operators.kapso.KapsoSendMessageOperator`
    takes it: field by field (``message_type`` defaulting to ``text``) or whole as ``message``. Alerts
    often go out when the customer-service window is closed (24 hours after the recipient last wrote);
    only ``message_type="template"`` messages reach a recipient then.

    Every argument is templated with the callback's context, e.g.
    ``content="{{ ti.task_id }} failed: {{ exception }} - {{ ti.log_url }}"``. Arguments without
    templates are checked when the notifier is built (so when the DAG file is parsed); rendered ones
    right before the send, before any request. Each call renders a copy: one notifier can serve several
    tasks and callbacks, and the context Airflow passes is left as it was.

    Rendered runtime text that WhatsApp would refuse is adapted rather than lost: a text longer than
    4096 characters is cut (ending with "…") and line breaks, tabs and long runs of spaces inside
    ``template_params`` become single spaces.

    A notification that cannot be sent (an invalid rendered value, or Kapso answering with an error) is
    logged at ERROR level with the HTTP status and Kapso's error text, then raised. Airflow catches
    exceptions from callbacks, logs them and carries on: the task's or DAG run's own state and log are
    unaffected, and Airflow 3's deadline callbacks record the notification as failed.

    ``notifier(context)`` sends through :class:`~kapso_provider.hooks.kapso.KapsoHook` (what task and DAG
    callbacks call); ``await notifier`` (context given to the constructor, as Airflow 3's triggerer does
    for deadline alerts) and :meth:`async_notify` send through
    :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook`.

    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param context: the context of an awaited notification; Airflow 3's triggerer passes it. Callbacks
        get theirs as the call's argument instead.

    The recipient (``conversation_id``, ``phone_number``, ``whatsapp_config_id``, ``customer_id``, and on
    the current API ``phone_number_id``), ``reply_to_message_id`` and ``biz_opaque_callback_data`` (current
    API) and the message arguments (``message``, ``message_type``, ``content``, ``template_name``,
    ``template_language``, ``template_params`` and the rest of the message's fields), all templated, are those of
    :class:`~kapso_provider.arguments.KapsoSendArguments`.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        *RECIPIENT_FIELDS,
        *SEND_OPTION_FIELDS,
        "message",
        *MESSAGE_FIELDS,
    )
    # Values are data, never file names: a caption ending in ".json" must stay a caption.
    template_ext: Sequence[str] = ()

    @keyword_parameters(SendArguments)
    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        context: Context | None = None,
        **kwargs: Unpack[SendArguments],
    ) -> None:
        if kwargs.keys() - set(SEND_ARGUMENTS):
            from kapso_provider.transport.settings import refuse_credentials

            refuse_credentials(type(self).__name__, kapso_conn_id, kwargs)
            refuse_unknown(type(self).__name__, kwargs, (*SEND_ARGUMENTS, "kapso_conn_id", "context"))
        # The message and recipient go to KapsoSendArguments; Airflow 2's BaseNotifier takes no context, so
        # it is kept here for both lines.
        super().__init__(**kwargs)
        self.context = context if context is not None else {}  # type: ignore[typeddict-item]
        self.kapso_conn_id = kapso_conn_id
        self.check_static_send()

    # -- rendering --

    def _rendered(self, context: Context) -> KapsoNotifier:
        """A copy of this notifier with every templated argument rendered with ``context``.

        Airflow's own ``BaseNotifier`` renders in place, so a notifier shared by several tasks (or called
        for a retry and then a failure in one process) would send the first rendering again. Rendering a
        copy, with a copy of the context, leaves both the notifier and Airflow's context untouched.
        """
        context = copy.copy(context)
        # Airflow renders with StrictUndefined: a key that one callback kind has and another lacks (no
        # exception on success, no reason on task callbacks) would lose the whole alert.
        for key in _OPTIONAL_CONTEXT_KEYS:
            if key not in context:
                context[key] = None  # type: ignore[literal-required]
        # As Airflow's notifiers do: the arguments' own values are in the context too.
        context.update((name, getattr(self, name)) for name in self.template_fields)  # type: ignore[typeddict-item]
        dag = context.get("dag")
        rendered = copy.copy(self)
        # Under dag.test(), Airflow 3 hands DAG-level callbacks the scheduler's SerializedDAG, which has no
        # template environment; its fields still render, in a plain environment.
        jinja_env = rendered.get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)
        rendered.render_template_fields(context, jinja_env=jinja_env)
        return rendered

    def _logged_rendering(self, context: Context, mode: str) -> KapsoNotifier:
        """:meth:`_rendered`, with a failure (say a misspelt variable) logged like a failed send."""
        try:
            return self._rendered(context)
        except Exception as exc:
            self._log_failure(exc, mode, "could not render its arguments: ")
            raise

    def _prepared(self) -> tuple[KapsoMessage, RecipientArguments]:
        """The rendered message, adapted to WhatsApp's rules, as a checked model; and the recipient.

        :raises KapsoInvalidMessageError: a rendered argument breaks a rule; nothing was sent.
        """
        message = self.message_object()
        for change in _fit_rendered_message(message):
            self.log.warning("Kapso notification adapted to WhatsApp's rules: %s", change)
        return self.checked_send(message)

    # -- sending --

    def _log_sent(self, record: Mapping[str, Any], recipient: Mapping[str, Any], mode: str) -> None:
        # The phone number is personal data: the log names the conversation or only the kind of recipient.
        to = f"conversation {recipient['conversation_id']}" if recipient["conversation_id"] else "a phone number"
        self.log.info(
            "Kapso notification sent (%s) to %s: message %s, status %s",
            mode,
            to,
            record.get("id"),
            record.get("status"),
        )

    def _log_failure(self, exc: Exception, mode: str, what: str = "") -> None:
        # The provider's exceptions carry the HTTP status and Kapso's text (and never the API key); one
        # line says it all, Airflow adds the traceback when it catches the callback's exception.
        self.log.error("Kapso notification not sent (%s): %s%s: %s", mode, what, type(exc).__name__, exc)

    def notify(self, context: Context) -> None:
        """Send the notification through :class:`~kapso_provider.hooks.kapso.KapsoHook` (sync).

        Expects rendered arguments: calling the notifier (``notifier(context)``) renders them first.

        :param context: the callback's context.
        :raises KapsoError: the notification could not be sent; logged at ERROR level first.
        """
        from kapso_provider.hooks.kapso import KapsoHook

        try:
            message, recipient = self._prepared()
            hook = KapsoHook(kapso_conn_id=self.kapso_conn_id)
            try:
                record = hook.send_message(message, **recipient, **self.send_options())
            finally:
                hook.close()
        except Exception as exc:
            self._log_failure(exc, "sync")
            raise
        self._log_sent(record, recipient, "sync")

    async def async_notify(self, context: Context) -> None:
        """Send the notification through :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook` (async).

        Expects rendered arguments: awaiting the notifier (``await notifier``) renders them first.

        :param context: the context of the notification.
        :raises KapsoError: the notification could not be sent; logged at ERROR level first.
        """
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        try:
            message, recipient = self._prepared()
            hook = KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id)
            try:
                record = await hook.send_message(message, **recipient, **self.send_options())
            finally:
                await hook.aclose()
        except Exception as exc:
            self._log_failure(exc, "async")
            raise
        self._log_sent(record, recipient, "async")

    def __call__(self, *args: Any) -> None:
        """Render a copy of the notifier with the callback's context and send it (sync).

        Task and DAG callbacks pass one argument, the context; Airflow 2's ``sla_miss_callback`` passes
        the DAG, the task lists and the SLAs, which become the context.
        """
        if len(args) == 1:
            context = args[0]
        elif len(args) in (len(_SLA_MISS_ARGUMENTS), len(_SLA_MISS_ARGUMENTS_NO_SLAS)):
            names = _SLA_MISS_ARGUMENTS if len(args) == len(_SLA_MISS_ARGUMENTS) else _SLA_MISS_ARGUMENTS_NO_SLAS
            context = dict(zip(names, args, strict=True))
        else:
            raise TypeError(f"KapsoNotifier takes a callback context, got {len(args)} arguments")
        self._logged_rendering(context, "sync").notify(context)

    async def _send_awaited(self) -> None:
        await self._logged_rendering(self.context, "async").async_notify(self.context)

    def __await__(self) -> Generator[Any, None, None]:
        """Render a copy of the notifier with the constructor's ``context`` and send it (async)."""
        return self._send_awaited().__await__()


#: The same class under the name Airflow's own notifiers use for their shortcut.
send_kapso_notification = KapsoNotifier
