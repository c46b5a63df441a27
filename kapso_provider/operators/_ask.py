"""Human in the loop over WhatsApp: ask with reply buttons or a list, wait for the answer, go on with it.

Imported by :mod:`kapso_provider.operators.kapso`, so like it this module imports only Airflow at module
level: the hook (and with it ``requests``), the models and the trigger load when a task runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator, conf

# Not through common.compat.sdk: on Airflow 3.1 it resolves these through airflow.operators.branch and warns
# (DeprecatedImportWarning) on every DAG parse.
try:  # Airflow 3.2+: the task SDK's
    from airflow.sdk.bases.branch import BranchMixIn
    from airflow.sdk.bases.skipmixin import SkipMixin
except ImportError:
    try:  # Airflow 3.0 and 3.1: the standard provider's
        from airflow.providers.standard.operators.branch import BranchMixIn  # type: ignore[assignment]
        from airflow.providers.standard.utils.skipmixin import SkipMixin  # type: ignore[assignment]
    except ImportError:  # Airflow 2.11
        from airflow.models.skipmixin import SkipMixin  # type: ignore[no-redef]
        from airflow.operators.branch import BranchMixIn  # type: ignore[no-redef]

from kapso_provider.arguments import is_static, plain_json
from kapso_provider.exceptions import KapsoArgumentError, KapsoConfigurationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider._replies import ReplySpec, ReplyWatch
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.triggers.kapso import KapsoReplyTrigger

__all__ = ["KapsoApprovalOperator", "KapsoAskOperator", "KapsoBranchOnReplyOperator"]

#: Reply buttons WhatsApp allows on one message; more options go into a list.
_MAX_BUTTONS = 3
#: Rows WhatsApp allows in one list message.
_MAX_ROWS = 10
_BUTTON_TITLE_MAX = 20
_ROW_TITLE_MAX = 24
_ROW_DESCRIPTION_MAX = 72
#: Added to the deferral's own timeout so the trigger's timeout event, with its clear message, comes first.
_DEFERRAL_GRACE_SECONDS = 60.0
#: Placeholders a confirmation text may use, filled in from the answer.
_CONFIRMATION_FIELDS = ("option_id", "option_title", "answered_by", "answered_at")

_Option = tuple[str, str, str | None]  # (key reported as option_id, title, list row description)


def _seconds(field_name: str, value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise KapsoConfigurationError(f"{field_name}: {value!r} must be a positive number of seconds")
    return float(seconds)


def _confirmation_values(answer: Mapping[str, Any]) -> dict[str, str]:
    values = {name: answer.get(name) for name in _CONFIRMATION_FIELDS}
    if values["answered_by"] is None:
        values["answered_by"] = "nobody (no answer in time)"
    return {name: str(value) for name, value in values.items()}


def _format_confirmation(text: str, answer: Mapping[str, Any]) -> str:
    try:
        return text.format_map(_confirmation_values(answer))
    except (KeyError, IndexError, ValueError) as exc:
        raise KapsoConfigurationError(
            f"confirmation_text: cannot fill in {exc}; use only the placeholders "
            + ", ".join("{" + name + "}" for name in _CONFIRMATION_FIELDS)
        ) from None


class _KapsoAskBase(BaseOperator):
    """Sends a question with its options and waits for the answer; subclasses say what the options are.

    :param question: the question, the body of the interactive message. (templated)
    :param conversation_id: the Kapso conversation to ask in. (templated)
    :param phone_number: or the number to ask, in international format; Kapso finds or opens the
        conversation. (templated)
    :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from. (templated)
    :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param interactive_type: ``button`` (up to 3 options) or ``list`` (up to 10); by default buttons when
        the options fit on buttons, else a list. (templated)
    :param header_text: the message's header. (templated)
    :param footer_text: the message's footer. (templated)
    :param list_button_text: the label of the button that opens a list. (templated)
    :param accept_text: also count a typed reply equal to an option's title (or id), ignoring case.
    :param allowed_numbers: the numbers whose answers count (default: the conversation's own number);
        messages from other numbers are ignored and logged. (templated)
    :param timeout: seconds (or a ``timedelta``) from the question to give up waiting; ``None`` waits for
        ever.
    :param default_option: on timeout, go on with this option (its id or title) instead of failing.
        (templated)
    :param reminder_after: seconds (or a ``timedelta``) after the question at which ``reminder_text`` is
        sent once, when no answer came yet.
    :param reminder_text: the reminder. (templated)
    :param confirmation_text: sent after the answer, with ``{option_id}``, ``{option_title}``,
        ``{answered_by}`` and ``{answered_at}`` filled in. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: seconds between two reads of the conversation.
    :param lookback: seconds behind the last message read that are read again for late-visible messages.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "conversation_id",
        "phone_number",
        "whatsapp_config_id",
        "customer_id",
        "question",
        "interactive_type",
        "header_text",
        "footer_text",
        "list_button_text",
        "allowed_numbers",
        "default_option",
        "reminder_text",
        "confirmation_text",
    )
    # Values are data, never file names: a question ending in ".json" must stay a question.
    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        question: str,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        kapso_conn_id: str = "kapso_default",
        interactive_type: str | None = None,
        header_text: str | None = None,
        footer_text: str | None = None,
        list_button_text: str = "Choose",
        accept_text: bool = False,
        allowed_numbers: Sequence[str] | str | None = None,
        timeout: float | timedelta | None = None,
        default_option: str | None = None,
        reminder_after: float | timedelta | None = None,
        reminder_text: str | None = None,
        confirmation_text: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 30.0,
        lookback: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.question = question
        self.conversation_id = conversation_id
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.kapso_conn_id = kapso_conn_id
        self.interactive_type = interactive_type
        self.header_text = header_text
        self.footer_text = footer_text
        self.list_button_text = list_button_text
        self.accept_text = bool(accept_text)
        self.allowed_numbers = allowed_numbers
        self.timeout = _seconds("timeout", timeout)
        self.default_option = default_option
        self.reminder_after = _seconds("reminder_after", reminder_after)
        self.reminder_text = reminder_text
        self.confirmation_text = confirmation_text
        self.deferrable = deferrable
        self.poke_interval = _seconds("poke_interval", poke_interval) or 30.0
        if not lookback >= 0:
            raise KapsoConfigurationError(f"lookback: {lookback!r} must be zero or a positive number of seconds")
        self.lookback = float(lookback)
        if reminder_after is not None and reminder_text is None:
            raise KapsoConfigurationError("reminder_text: required when reminder_after is given")
        if default_option is not None and self.timeout is None:
            raise KapsoConfigurationError("default_option: only taken on timeout, so give a timeout too")

    @cached_property
    def hook(self) -> KapsoHook:
        """A hook on ``kapso_conn_id``, built on first use (after rendering), as every Kapso operator's."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

    # -- what each operator defines --

    def _options(self) -> list[_Option]:
        """The rendered options: ``(key, title, description)``; raises KapsoConfigurationError naming the field."""
        raise NotImplementedError

    def _on_answer(self, context: Context, answer: dict[str, Any]) -> dict[str, Any]:
        """What to do with the answer (skip, branch) before it becomes the task's result."""
        return answer

    # -- the checks --

    def _check_static_arguments(self) -> None:
        """Fail at DAG parse time for arguments no template can change any more."""
        names = [*self.template_fields]
        if all(is_static(getattr(self, name)) for name in names):
            self._check_arguments()

    def _check_arguments(self) -> tuple[list[_Option], str]:
        """The options and the message type to send them as, after every check of the arguments."""
        from kapso_provider.recipients import check_recipient

        check_recipient(
            conversation_id=self.conversation_id or None,
            phone_number=self.phone_number or None,
            whatsapp_config_id=self.whatsapp_config_id or None,
            customer_id=self.customer_id or None,
        )
        options = self._options()
        if not 1 <= len(options) <= _MAX_ROWS:
            raise KapsoConfigurationError(f"options: {len(options)} given, WhatsApp allows 1 to {_MAX_ROWS}")
        seen: dict[str, int] = {}
        for index, (key, title, _) in enumerate(options):
            for name, value in (("id", key), ("title", title)):
                folded = f"{name}:{value.strip().casefold()}"
                if not value.strip():
                    raise KapsoConfigurationError(f"options[{index}].{name}: must not be empty")
                if folded in seen:
                    raise KapsoConfigurationError(
                        f"options[{index}].{name}: {value!r} repeats options[{seen[folded]}].{name} (ignoring case)"
                    )
                seen[folded] = index
        kind = self.interactive_type or None
        if kind is None:
            fits_buttons = len(options) <= _MAX_BUTTONS and all(
                len(title) <= _BUTTON_TITLE_MAX and not description for _, title, description in options
            )
            kind = "button" if fits_buttons else "list"
        if kind not in ("button", "list"):
            raise KapsoConfigurationError(f"interactive_type: {kind!r} must be 'button' or 'list'")
        limit = _BUTTON_TITLE_MAX if kind == "button" else _ROW_TITLE_MAX
        if kind == "button" and len(options) > _MAX_BUTTONS:
            raise KapsoConfigurationError(
                f"options: {len(options)} given, reply buttons allow at most {_MAX_BUTTONS}; use a list"
            )
        for index, (_, title, description) in enumerate(options):
            if len(title) > limit:
                raise KapsoConfigurationError(
                    f"options[{index}].title: {len(title)} characters, limit {limit} for a {kind} option"
                )
            if description and kind == "button":
                raise KapsoConfigurationError(f"options[{index}].description: only list rows have descriptions")
            if description and len(description) > _ROW_DESCRIPTION_MAX:
                raise KapsoConfigurationError(
                    f"options[{index}].description: {len(description)} characters, limit {_ROW_DESCRIPTION_MAX}"
                )
        if self.default_option is not None:
            self._option_index(options, self.default_option, "default_option")
        if self.confirmation_text is not None:
            _format_confirmation(self.confirmation_text, dict.fromkeys(_CONFIRMATION_FIELDS, "x"))
        if isinstance(self.allowed_numbers, str) or self.allowed_numbers is not None:
            from kapso_provider.recipients import phone_number_problem

            for index, number in enumerate(self._allowed_numbers()):
                problem = phone_number_problem(number)
                if problem is not None:
                    raise KapsoConfigurationError(f"allowed_numbers[{index}]: {problem}")
        return options, kind

    @staticmethod
    def _option_index(options: list[_Option], value: str, field_name: str) -> int:
        wanted = str(value).strip().casefold()
        for index, (key, title, _) in enumerate(options):
            if wanted in (key.strip().casefold(), title.strip().casefold()):
                return index
        raise KapsoConfigurationError(
            f"{field_name}: {value!r} is none of the options ({', '.join(repr(key) for key, _, _ in options)})"
        )

    def _allowed_numbers(self) -> list[str]:
        value = self.allowed_numbers
        if value is None or value == "":
            return []
        if isinstance(value, str):
            # A rendered template gives one string: numbers separated by commas.
            return [part.strip() for part in value.split(",") if part.strip()]
        return [str(number) for number in value]

    def _message(self, options: list[_Option], kind: str, ids: list[str]) -> Any:
        from kapso_provider.models import parse_message

        message: dict[str, Any] = {
            "message_type": "interactive",
            "interactive_type": kind,
            "body_text": self.question,
        }
        if self.header_text:
            message["header_text"] = self.header_text
        if self.footer_text:
            message["footer_text"] = self.footer_text
        if kind == "button":
            message["buttons"] = [{"id": ids[i], "title": title} for i, (_, title, _) in enumerate(options)]
        else:
            rows = []
            for i, (_, title, description) in enumerate(options):
                row = {"id": ids[i], "title": title}
                if description:
                    row["description"] = description
                rows.append(row)
            message["list_button_text"] = self.list_button_text
            message["sections"] = [{"rows": rows}]
        return parse_message(message)

    def _prepare(self, context: Context) -> tuple[list[_Option], Any, ReplySpec]:
        """Check the rendered arguments and build the question and what counts as its answer."""
        from kapso_provider._replies import ReplySpec, option_ids, question_key
        from kapso_provider.exceptions import KapsoArgumentError

        try:
            options, kind = self._check_arguments()
            ids = option_ids(question_key(context), len(options))
            message = self._message(options, kind, ids)
        except (KapsoConfigurationError, KapsoArgumentError) as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        spec = ReplySpec(
            option_ids=tuple(ids),
            option_keys=tuple(key for key, _, _ in options),
            option_titles=tuple(title for _, title, _ in options),
            accept_text=self.accept_text,
            allowed_numbers=(),  # the conversation's number is known once the question is sent
        )
        return options, message, spec

    # -- asking once --

    def _recipient(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id or None,
            "phone_number": self.phone_number or None,
            "whatsapp_config_id": self.whatsapp_config_id or None,
            "customer_id": self.customer_id or None,
        }

    def _earlier_question(self, context: Context, message: Any, spec: ReplySpec) -> dict[str, Any] | None:
        """On a retry, the question an earlier try already sent, if any.

        Kapso takes no idempotency key, so, as the send operator's reconciliation does, the conversation
        is read back. The question is recognised by its option ids, which only this task instance of
        this run uses, so another task asking the same words is never taken for it.
        """
        from kapso_provider.arguments import parse_time

        ti = context["ti"]
        if ti.try_number <= 1:
            return None
        dag_run = context["dag_run"]
        started = dag_run.start_date or ti.start_date
        if started is None:
            return None
        since = started - timedelta(seconds=self.hook.retry_policy.clock_skew)
        recipient = self._recipient()
        if recipient["conversation_id"] is not None:
            conversation_ids = [recipient["conversation_id"]]
        else:
            conversation_ids = [
                conversation["id"]
                for conversation in self.hook.list_conversations(
                    phone_number=recipient["phone_number"],
                    whatsapp_config_id=recipient["whatsapp_config_id"],
                    customer_id=recipient["customer_id"],
                )
            ]
        self.log.info("Try %d: looking for the question an earlier try sent", ti.try_number)
        body_text = message.to_message_object()["content"]
        for conversation_id in conversation_ids:
            for record in self.hook.list_messages(conversation_id):
                created_at = parse_time(record.get("created_at"))
                if (
                    record.get("direction") != "outbound"
                    or record.get("message_type") != "interactive"
                    or created_at is None
                    or created_at < since
                ):
                    continue
                sent_ids = _sent_option_ids(record)
                if (sent_ids and sent_ids & set(spec.option_ids)) or (
                    not sent_ids and record.get("content") == body_text
                ):
                    self.log.info("An earlier try sent the question as %s; not asking again", record.get("id"))
                    found: dict[str, Any] = {"whatsapp_conversation_id": conversation_id, **record}
                    return found
        return None

    def _ask(self, context: Context, message: Any, spec: ReplySpec) -> dict[str, Any]:
        """Send the question, or find the one an earlier try sent: its conversation, id, time and number."""
        from kapso_provider.arguments import parse_time

        recipient = self._recipient()
        record = self._earlier_question(context, message, spec) or self.hook.send_message(message, **recipient)
        conversation_id = record.get("whatsapp_conversation_id") or recipient["conversation_id"]
        phone_number = record.get("phone_number")
        if conversation_id is None:
            conversation_id = self._find_conversation(str(record.get("id")))
        if not phone_number:
            phone_number = self.hook.get_conversation(str(conversation_id)).get("phone_number")
        created = parse_time(record.get("created_at")) or datetime.now(UTC)
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        self.log.info(
            "Asked in conversation %s (message %s); waiting for the answer", conversation_id, record.get("id")
        )
        return {
            "conversation_id": str(conversation_id),
            "message_id": str(record.get("id")),
            "created_at": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "phone_number": phone_number,
            "whatsapp_config_id": record.get("whatsapp_config_id") or self.whatsapp_config_id or None,
        }

    def _find_conversation(self, message_id: str) -> str:
        """The conversation a send to a phone number landed in, for an answer that did not say."""
        for conversation in self.hook.list_conversations(
            phone_number=self.phone_number or None, whatsapp_config_id=self.whatsapp_config_id or None
        ):
            if any(record.get("id") == message_id for record in self.hook.list_messages(conversation["id"])):
                return str(conversation["id"])
        raise AirflowException(f"Kapso stored the question as {message_id}, but no conversation of the number holds it")

    # -- waiting --

    def _full_spec(self, spec: ReplySpec, question: Mapping[str, Any]) -> tuple[ReplySpec, list[str]]:
        """The spec with the allowed numbers, and the numbers whose own conversations are read as well."""
        from dataclasses import replace

        from kapso_provider._replies import digits

        own = str(question.get("phone_number") or "")
        allowed = self._allowed_numbers() or [own]
        others = [number for number in allowed if digits(number) != digits(own)]
        return replace(spec, allowed_numbers=tuple(digits(number) for number in allowed)), others

    def _times(self, question: Mapping[str, Any]) -> tuple[float | None, float | None]:
        from kapso_provider._replies import seconds_from

        created_at = str(question["created_at"])
        deadline = None if self.timeout is None else seconds_from(created_at, self.timeout)
        reminder_at = None if self.reminder_after is None else seconds_from(created_at, self.reminder_after)
        return deadline, reminder_at

    def _read(
        self, question: Mapping[str, Any], others: list[str], since: str
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        own = {"id": question["conversation_id"], "phone_number": question.get("phone_number")}
        listed = [(message, own) for message in self.hook.list_messages(str(question["conversation_id"]))]
        for number in others:
            for conversation in self.hook.list_conversations(
                phone_number=number, whatsapp_config_id=question.get("whatsapp_config_id"), last_active_after=since
            ):
                if conversation.get("id") != question["conversation_id"]:
                    listed.extend((message, conversation) for message in self.hook.list_messages(conversation["id"]))
        return listed

    def _trigger(self, question: Mapping[str, Any], spec: ReplySpec, others: list[str]) -> KapsoReplyTrigger:
        from kapso_provider.triggers.kapso import KapsoReplyTrigger

        deadline, reminder_at = self._times(question)
        return KapsoReplyTrigger(
            conversation_id=str(question["conversation_id"]),
            question_message_id=str(question["message_id"]),
            question_created_at=str(question["created_at"]),
            spec=spec.to_json(),
            other_numbers=others,
            whatsapp_config_id=question.get("whatsapp_config_id"),
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            reminder_at=reminder_at,
            reminder_text=self.reminder_text or None,
            lookback=self.lookback,
        )

    def _wait(self, context: Context, question: dict[str, Any], spec: ReplySpec, others: list[str]) -> dict[str, Any]:
        """Read until the answer or the deadline; when deferrable, read once and then defer."""
        from kapso_provider._replies import ReplyWatch

        deadline, reminder_at = self._times(question)
        watch = ReplyWatch(
            spec=spec,
            question_created_at=str(question["created_at"]),
            lookback=self.lookback,
            reminder_text=self.reminder_text or None,
        )
        while True:
            since = watch.cursor.window_start(self.lookback).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            answer = watch.take(self._read(question, others, since), self.log)
            if answer is not None:
                return self._finish(context, question, answer)
            self._maybe_remind(watch, question, reminder_at)
            now = time.time()
            if deadline is not None and now >= deadline:
                return self._timed_out(context, question, spec)
            if self.deferrable:
                # Read once (above) before deferring: an answer already there never reaches the triggerer.
                self.defer(
                    trigger=self._trigger(question, spec, others),
                    method_name="execute_complete",
                    timeout=None
                    if deadline is None
                    else timedelta(seconds=max(0.0, deadline - now) + _DEFERRAL_GRACE_SECONDS),
                )
            wait = self.poke_interval
            for moment in (deadline, None if watch.reminder_sent else reminder_at):
                if moment is not None and moment > now:
                    wait = min(wait, moment - now)
            time.sleep(max(wait, 0.0))

    def _maybe_remind(self, watch: ReplyWatch, question: Mapping[str, Any], reminder_at: float | None) -> None:
        if watch.reminder_due(reminder_at, time.time()):
            self.hook.send_message(
                {"message_type": "text", "content": self.reminder_text},
                conversation_id=str(question["conversation_id"]),
            )
            watch.reminder_sent = True
            self.log.info("No answer yet: sent the reminder")

    # -- the outcome --

    def _timed_out(self, context: Context, question: Mapping[str, Any], spec: ReplySpec) -> dict[str, Any]:
        if self.default_option is None:
            # A retry would find the same question, past the same deadline: fail without retrying.
            raise AirflowFailException(
                f"No answer to the question {question['message_id']} in Kapso conversation "
                f"{question['conversation_id']} within {self.timeout:g} s (timeout). Set default_option to go on "
                "with an option instead."
            )
        index = self._option_index(
            [(key, title, None) for key, title in zip(spec.option_keys, spec.option_titles, strict=True)],
            self.default_option,
            "default_option",
        )
        self.log.info(
            "No answer within %g s: going on with the default option %r", self.timeout, spec.option_titles[index]
        )
        return self._finish(context, question, spec.default_answer(index, datetime.now(UTC)))

    def _finish(self, context: Context, question: Mapping[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = plain_json(answer)
        if self.confirmation_text:
            self._confirm(question, result)
        return self._on_answer(context, result)

    def _confirm(self, question: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
        """Send the confirmation once: a retry or resumption that finds it in the conversation does not resend."""
        from kapso_provider._replies import seconds_from

        assert self.confirmation_text is not None
        try:
            text = _format_confirmation(self.confirmation_text, answer)
        except (KapsoConfigurationError, KapsoArgumentError) as exc:
            raise AirflowFailException(str(exc)) from exc
        message = {"message_type": "text", "content": text}
        conversation_id = str(question["conversation_id"])
        since = datetime.fromtimestamp(seconds_from(str(question["created_at"]), 0.0), UTC)
        if self.hook.find_sent_message(message, since=since, conversation_id=conversation_id) is None:
            self.hook.send_message(message, conversation_id=conversation_id)
            self.log.info("Sent the confirmation")

    def _push_result(self, context: Context, answer: dict[str, Any]) -> None:
        """Push the answer now: on Airflow 3 skipping downstream tasks ends execute() before its return."""
        if self.do_xcom_push:
            context["ti"].xcom_push(key="return_value", value=answer)

    # -- Airflow's entry points --

    def execute(self, context: Context) -> dict[str, Any]:
        """Ask (once, even across retries), then wait for the answer in the worker or the triggerer."""
        _, message, spec = self._prepare(context)
        try:
            question = self._ask(context, message, spec)
            full_spec, others = self._full_spec(spec, question)
            return self._wait(context, question, full_spec, others)
        finally:
            self.hook.close()

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred wait from the trigger's event; the question is never sent again here.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        if not isinstance(event, Mapping) or not isinstance(event.get("question"), Mapping):
            raise AirflowException(f"{type(self).__name__} resumed without a trigger event (got {event!r}).")
        _, _, spec = self._prepare(context)
        question = dict(event["question"])
        status = event.get("status")
        try:
            if status == "answered" and isinstance(event.get("answer"), dict):
                return self._finish(context, question, event["answer"])
            if status == "timeout":
                return self._timed_out(context, question, spec)
        finally:
            self.hook.close()
        raise AirflowException(
            f"Waiting for the answer in Kapso conversation {question.get('conversation_id')} failed: "
            f"{event.get('error') or f'unexpected event {status!r}'}"
        )


def _sent_option_ids(record: Mapping[str, Any]) -> set[str]:
    """The button and row ids a listed outbound interactive message carries (``InteractiveMessageData``)."""
    data = record.get("message_type_data")
    if not isinstance(data, dict):
        return set()
    ids = {str(button.get("id")) for button in data.get("buttons") or [] if isinstance(button, dict)}
    for section in data.get("sections") or []:
        if isinstance(section, dict):
            ids.update(str(row.get("id")) for row in section.get("rows") or [] if isinstance(row, dict))
    return ids


def _parse_options(value: Any, field_name: str) -> list[_Option]:
    """Options given as titles, ``{id: title}``, or dicts with ``title`` (and ``id``, ``description``)."""
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)  # a rendered template, e.g. an upstream task's XCom
        except ValueError:
            raise KapsoConfigurationError(f"{field_name}: not valid JSON ({value[:60]!r})") from None
    if isinstance(value, Mapping):
        return [(str(key), str(title), None) for key, title in value.items()]
    if not isinstance(value, list | tuple):
        raise KapsoConfigurationError(f"{field_name}: expected a list of options, got {type(value).__name__}")
    options: list[_Option] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            options.append((item, item, None))
        elif isinstance(item, Mapping) and isinstance(item.get("title"), str):
            unknown = sorted(set(item) - {"id", "title", "description"})
            if unknown:
                raise KapsoConfigurationError(f"{field_name}[{index}]: unknown key(s) {', '.join(unknown)}")
            description = item.get("description")
            options.append(
                (str(item.get("id") or item["title"]), item["title"], str(description) if description else None)
            )
        else:
            raise KapsoConfigurationError(f"{field_name}[{index}]: expected a title or a dict with 'title'")
    return options


class KapsoAskOperator(_KapsoAskBase):
    """Ask a question on WhatsApp with reply buttons or a list, wait for the answer, and return it.

    Up to 3 options go on reply buttons, up to 10 in a list (chosen automatically, or forced with
    ``interactive_type``). Each option's id is unique to this question (derived from the DAG, the run,
    the task and its map index), so a tap on an older question's button never counts. The answer is the
    first inbound message after the question, from an allowed number, that taps one of its options (or,
    with ``accept_text``, types an option's title). Waiting happens in the triggerer when deferrable,
    else in the worker, reading the conversation every ``poke_interval`` seconds. The question is sent
    once: a retry finds the one an earlier try sent, and resuming after deferral never sends.

    The task's result (XCom ``return_value``) is plain JSON: ``{"option_id", "option_title",
    "answered_by", "answered_at", "timed_out", "message"}`` where ``message`` is Kapso's raw record of
    the inbound answer (``None`` when ``default_option`` was taken on timeout).

    :param options: the options: titles (``["Yes", "No"]``), a mapping ``{id: title}``, or dicts with
        ``title`` and optionally ``id`` and (list rows only) ``description``; a JSON string of one of
        those once rendered. ``option_id`` in the result is the option's id, else its title. (templated)

    The other arguments are those of every ask operator:

    :param question: the question, the body of the interactive message. (templated)
    :param conversation_id: the Kapso conversation to ask in. (templated)
    :param phone_number: or the number to ask, in international format. (templated)
    :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from. (templated)
    :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from. (templated)
    :param kapso_conn_id: the ``kapso`` connection to use. (templated)
    :param interactive_type: ``button`` or ``list``; default: buttons when the options fit. (templated)
    :param header_text: the message's header. (templated)
    :param footer_text: the message's footer. (templated)
    :param list_button_text: the label of the button that opens a list. (templated)
    :param accept_text: also count a typed reply equal to an option's title or id, ignoring case.
    :param allowed_numbers: the numbers whose answers count (default: the conversation's own number);
        a list, or one string of comma-separated numbers. (templated)
    :param timeout: seconds (or a ``timedelta``) after the question to stop waiting.
    :param default_option: on timeout, go on with this option (id or title) instead of failing. (templated)
    :param reminder_after: seconds (or a ``timedelta``) after the question to send ``reminder_text``, once.
    :param reminder_text: the reminder. (templated)
    :param confirmation_text: sent after the answer; ``{option_id}``, ``{option_title}``,
        ``{answered_by}`` and ``{answered_at}`` are filled in. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: seconds between two reads of the conversation (in the worker or the triggerer).
    :param lookback: seconds re-read behind the last message read, for messages that show up late.
    """

    template_fields: Sequence[str] = (*_KapsoAskBase.template_fields, "options")

    def __init__(self, *, options: Sequence[Any] | Mapping[str, str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = options
        self._check_static_arguments()

    def _options(self) -> list[_Option]:
        return _parse_options(self.options, "options")


class KapsoApprovalOperator(_KapsoAskBase, SkipMixin):
    """Ask for an approval on WhatsApp: two reply buttons, approve and reject.

    Approve: the task succeeds and its downstream tasks run. Reject: the task succeeds too, and its
    directly downstream tasks are skipped (tasks further down follow their trigger rules), as Airflow's
    own ``ApprovalOperator`` does. The result is that of :class:`KapsoAskOperator`, with ``option_id``
    ``approve`` or ``reject``.

    :param approve_label: the approve button's title. (templated)
    :param reject_label: the reject button's title. (templated)

    Every other argument is :class:`KapsoAskOperator`'s (``question``, the recipient, ``timeout``,
    ``default_option`` (``approve`` or ``reject``), ``reminder_after``, ``confirmation_text`` ...).
    """

    template_fields: Sequence[str] = (*_KapsoAskBase.template_fields, "approve_label", "reject_label")
    inherits_from_skipmixin = True

    APPROVE = "approve"
    REJECT = "reject"

    def __init__(self, *, approve_label: str = "Approve", reject_label: str = "Reject", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.approve_label = approve_label
        self.reject_label = reject_label
        self._check_static_arguments()

    def _options(self) -> list[_Option]:
        return [(self.APPROVE, self.approve_label, None), (self.REJECT, self.reject_label, None)]

    def _on_answer(self, context: Context, answer: dict[str, Any]) -> dict[str, Any]:
        if answer["option_id"] == self.APPROVE:
            self.log.info("Approved by %s", answer["answered_by"])
            return answer
        self.log.info("Rejected by %s: skipping the downstream tasks", answer["answered_by"])
        self._push_result(context, answer)
        # No branch to follow: every directly downstream task is skipped.
        self.skip_all_except(context["ti"], None)
        return answer


class KapsoBranchOnReplyOperator(_KapsoAskBase, BranchMixIn):
    """Ask on WhatsApp which way to go: each option is a downstream task; the chosen one runs, the others are skipped.

    :param branches: option title -> downstream task id (``{"Replace the part": "order_part", ...}``), or
        dicts with ``task_id``, ``title`` and optionally ``description``; a JSON string of one of those
        once rendered. ``option_id`` in the result is the chosen task id. (templated)

    Every other argument is :class:`KapsoAskOperator`'s; ``default_option`` takes a task id or a title.
    """

    template_fields: Sequence[str] = (*_KapsoAskBase.template_fields, "branches")
    inherits_from_skipmixin = True

    def __init__(self, *, branches: Mapping[str, str] | Sequence[Mapping[str, str]] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.branches = branches
        self._check_static_arguments()

    def _options(self) -> list[_Option]:
        value: Any = self.branches
        if isinstance(value, Mapping):
            # title -> task id, the way a person reads it
            return [(str(task_id), str(title), None) for title, task_id in value.items()]
        if isinstance(value, list | tuple):
            options: list[_Option] = []
            for index, item in enumerate(value):
                if not isinstance(item, Mapping) or not isinstance(item.get("task_id"), str):
                    raise KapsoConfigurationError(f"branches[{index}]: expected a dict with 'task_id' and 'title'")
                unknown = sorted(set(item) - {"task_id", "title", "description"})
                if unknown:
                    raise KapsoConfigurationError(f"branches[{index}]: unknown key(s) {', '.join(unknown)}")
                title = item.get("title") or item["task_id"]
                description = item.get("description")
                options.append((item["task_id"], str(title), str(description) if description else None))
            return options
        return [(key, title, description) for key, title, description in _parse_branches_json(value)]

    def _on_answer(self, context: Context, answer: dict[str, Any]) -> dict[str, Any]:
        task_id = answer["option_id"]
        downstream = set(self.downstream_task_ids)
        if task_id not in downstream:
            raise AirflowFailException(
                f"branches: {task_id!r} is not directly downstream of {self.task_id!r} "
                f"(downstream: {', '.join(sorted(downstream)) or 'none'})"
            )
        self._push_result(context, answer)
        self.do_branch(context, task_id)
        return answer


def _parse_branches_json(value: Any) -> list[_Option]:
    import json

    if not isinstance(value, str):
        raise KapsoConfigurationError(f"branches: expected a mapping or a list, got {type(value).__name__}")
    try:
        parsed = json.loads(value)
    except ValueError:
        raise KapsoConfigurationError(f"branches: not valid JSON ({value[:60]!r})") from None
    if isinstance(parsed, dict):
        return [(str(task_id), str(title), None) for title, task_id in parsed.items()]
    if isinstance(parsed, list):
        return [
            (str(item["task_id"]), str(item.get("title") or item["task_id"]), item.get("description"))
            for item in parsed
            if isinstance(item, dict) and "task_id" in item
        ] or _raise_branches()
    return _raise_branches()


def _raise_branches() -> list[_Option]:
    raise KapsoConfigurationError("branches: expected a mapping title -> task id, or a list of dicts with 'task_id'")
