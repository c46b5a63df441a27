"""Human in the loop over WhatsApp: ask with reply buttons or a list, wait for the answer, go on with it.

The operators render and check their arguments and hand the work to
:class:`~kapso_provider.services.ask.AskService`. Imported by :mod:`kapso_provider.operators.kapso`, so like
it this module imports only Airflow at module level: the hook (and with it ``requests``), the models and
the trigger load when a task runs (or, for arguments no template changes, when they are checked).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Required

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, conf

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
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators._base import KapsoBaseOperator, KapsoOperatorArguments
from kapso_provider.utils.replies import ReplySpec, fill_confirmation, option_ids, question_key, seconds_from
from kapso_provider.utils.waiting import deferral_timeout
from kapso_provider.validation import phone_number_problem, seconds

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.models import KapsoMessage
    from kapso_provider.services.ask import Option, Question
    from kapso_provider.triggers.kapso import KapsoReplyTrigger

__all__ = ["AskArguments", "KapsoApprovalOperator", "KapsoAskOperator", "KapsoBranchOnReplyOperator"]

_RECIPIENT_FIELDS = ("conversation_id", "phone_number", "whatsapp_config_id", "customer_id")


def _optional_seconds(name: str, value: float | timedelta | None) -> float | None:
    return None if value is None else seconds(name, value)


class AskArguments(KapsoOperatorArguments, total=False):
    """What every ask operator takes besides its options: Airflow's arguments, the connection, the question.

    See :class:`KapsoAskOperator` for what each means.
    """

    question: Required[str]
    conversation_id: str | None
    phone_number: str | None
    whatsapp_config_id: str | None
    customer_id: str | None
    interactive_type: str | None
    header_text: str | None
    footer_text: str | None
    list_button_text: str
    accept_text: bool
    allowed_numbers: Sequence[str] | str | None
    timeout: float | timedelta | None
    default_option: str | None
    reminder_after: float | timedelta | None
    reminder_text: str | None
    confirmation_text: str | None
    deferrable: bool
    poke_interval: float
    lookback: float


class _KapsoAskBase(KapsoBaseOperator):
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
        ``{answered_by}`` and ``{answered_at}`` replaced; every other brace stays as written. (templated)
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

    def __init__(
        self,
        *,
        question: str,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
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
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.question = question
        self.conversation_id = conversation_id
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id
        self.customer_id = customer_id
        self.interactive_type = interactive_type
        self.header_text = header_text
        self.footer_text = footer_text
        self.list_button_text = list_button_text
        self.accept_text = bool(accept_text)
        self.allowed_numbers = allowed_numbers
        self.timeout = _optional_seconds("timeout", timeout)
        self.default_option = default_option
        self.reminder_after = _optional_seconds("reminder_after", reminder_after)
        self.reminder_text = reminder_text
        self.confirmation_text = confirmation_text
        self.deferrable = deferrable
        self.poke_interval = seconds("poke_interval", poke_interval)
        self.lookback = seconds("lookback", lookback, zero_allowed=True)
        if reminder_after is not None and reminder_text is None:
            raise KapsoArgumentError("reminder_text: required when reminder_after is given")
        if default_option is not None and self.timeout is None:
            raise KapsoArgumentError("default_option: only taken on timeout, so give a timeout too")

    # -- what each operator defines --

    def _options(self) -> list[Option]:
        """The rendered options; raises KapsoArgumentError naming the field."""
        raise NotImplementedError

    def _on_answer(self, context: Context, answer: dict[str, Any]) -> dict[str, Any]:
        """What to do with the answer (skip, branch) before it becomes the task's result."""
        return answer

    # -- the checks --

    def _check_static_arguments(self) -> None:
        """Fail at DAG parse time for arguments no template can change any more."""
        if all(is_static(getattr(self, name)) for name in self.template_fields):
            self._question("")

    def _question(self, key: str) -> tuple[KapsoMessage, ReplySpec]:
        """The question to send and what answers it, after every check of the rendered arguments.

        :param key: what makes the question unique (:func:`~kapso_provider.utils.replies.question_key`); the
            option ids derive from it.
        """
        from kapso_provider.recipients import check_recipient
        from kapso_provider.services.ask import build_question

        check_recipient(**self._recipient())
        options = self._options()
        ids = option_ids(key, len(options))
        message = build_question(
            self.question,
            options,
            ids=ids,
            interactive_type=self.interactive_type or None,
            header_text=self.header_text or None,
            footer_text=self.footer_text or None,
            list_button_text=self.list_button_text,
        )
        if self.default_option is not None:
            _option_index(options, self.default_option, "default_option")
        for index, number in enumerate(self._allowed_numbers()):
            problem = phone_number_problem(number)
            if problem is not None:
                raise KapsoArgumentError(f"allowed_numbers[{index}]: {problem}")
        spec = ReplySpec(
            option_ids=tuple(ids),
            option_keys=tuple(option.key for option in options),
            option_titles=tuple(option.title for option in options),
            accept_text=self.accept_text,
            allowed_numbers=(),  # the number asked is known once the question is sent
        )
        return message, spec

    def _prepare(self, context: Context) -> tuple[KapsoMessage, ReplySpec]:
        with self.failing_fast():
            return self._question(question_key(context))

    def _recipient(self) -> dict[str, Any]:
        return {name: getattr(self, name) or None for name in _RECIPIENT_FIELDS}

    def _allowed_numbers(self) -> list[str]:
        value = self.allowed_numbers
        if value is None or value == "":
            return []
        if isinstance(value, str):
            # A rendered template gives one string: numbers separated by commas.
            return [part.strip() for part in value.split(",") if part.strip()]
        return [str(number) for number in value]

    def _moments(self, question: Question) -> tuple[float | None, float | None]:
        """The deadline and the reminder's time, as Unix timestamps, counted from the question."""
        deadline = None if self.timeout is None else seconds_from(question.created_at, self.timeout)
        reminder_at = None if self.reminder_after is None else seconds_from(question.created_at, self.reminder_after)
        return deadline, reminder_at

    # -- Airflow's entry points --

    def execute(self, context: Context) -> dict[str, Any]:
        """Ask (once, even across retries), then wait for the answer in the worker or the triggerer."""
        from kapso_provider.services.ask import AskService, allowing
        from kapso_provider.utils.replies import ReplyWatch

        message, spec = self._prepare(context)
        service = AskService(self.hook, log=self.log)
        try:
            question = service.ask(message, self._recipient(), spec, since=self.earlier_try_since(context))
            spec, others = allowing(spec, question, self._allowed_numbers())
            deadline, reminder_at = self._moments(question)
            watch = ReplyWatch(
                spec=spec,
                question_created_at=question.created_at,
                lookback=self.lookback,
                reminder_text=self.reminder_text or None,
            )
            waited = service.wait(
                question,
                watch,
                other_numbers=others,
                poke_interval=self.poke_interval,
                deadline=deadline,
                reminder_at=reminder_at,
                read_once=self.deferrable,
            )
        finally:
            self.close_hook()
        if waited.status == "waiting":
            self.defer(
                trigger=self._trigger(question, spec, others),
                method_name="execute_complete",
                timeout=_timedelta(deferral_timeout(deadline, datetime.now(UTC).timestamp())),
            )
        return self._finish(context, question, spec, waited.answer)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred wait from the trigger's event; the question is never sent again here.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        from kapso_provider.services.ask import Question

        if not isinstance(event, Mapping) or not isinstance(event.get("question"), Mapping):
            raise AirflowException(f"{type(self).__name__} resumed without a trigger event (got {event!r}).")
        _, spec = self._prepare(context)
        question = Question.from_json(event["question"])
        status = event.get("status")
        if status == "answered" and isinstance(event.get("answer"), dict):
            return self._finish(context, question, spec, event["answer"])
        if status == "timeout":
            return self._finish(context, question, spec, None)
        raise AirflowException(
            f"Waiting for the answer in Kapso conversation {question.conversation_id} failed: "
            f"{event.get('error') or f'unexpected event {status!r}'}"
        )

    def _trigger(self, question: Question, spec: ReplySpec, others: list[str]) -> KapsoReplyTrigger:
        from kapso_provider.triggers.kapso import KapsoReplyTrigger

        deadline, reminder_at = self._moments(question)
        return KapsoReplyTrigger(
            conversation_id=question.conversation_id,
            question_message_id=question.message_id,
            question_created_at=question.created_at,
            spec=spec.to_json(),
            other_numbers=others,
            whatsapp_config_id=question.whatsapp_config_id,
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            reminder_at=reminder_at,
            reminder_text=self.reminder_text or None,
            lookback=self.lookback,
        )

    # -- the outcome --

    def _finish(
        self, context: Context, question: Question, spec: ReplySpec, answer: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The task's result: the answer, or on timeout the default option (else a failure); confirmed once."""
        if answer is None:
            answer = self._default_answer(question, spec)
        result: dict[str, Any] = plain_json(answer)
        if self.confirmation_text:
            from kapso_provider.services.ask import AskService

            text = fill_confirmation(self.confirmation_text, result)
            try:
                AskService(self.hook, log=self.log).confirm(question, text, since=self.earlier_try_since(context))
            finally:
                self.close_hook()
        return self._on_answer(context, result)

    def _default_answer(self, question: Question, spec: ReplySpec) -> dict[str, Any]:
        if self.default_option is None:
            # A retry would find the same question, past the same deadline: fail without retrying.
            raise AirflowFailException(
                f"No answer to the question {question.message_id} in Kapso conversation "
                f"{question.conversation_id} within {self.timeout:g} s (timeout). Set default_option to go on "
                "with an option instead."
            )
        from kapso_provider.services.ask import Option

        options = [Option(key, title) for key, title in zip(spec.option_keys, spec.option_titles, strict=True)]
        index = _option_index(options, self.default_option, "default_option")
        self.log.info(
            "No answer within %g s: going on with the default option %r", self.timeout, spec.option_titles[index]
        )
        return spec.default_answer(index, datetime.now(UTC))

    def _push_result(self, context: Context, answer: dict[str, Any]) -> None:
        """Push the answer now: on Airflow 3 skipping downstream tasks ends execute() before its return."""
        if self.do_xcom_push:
            context["ti"].xcom_push(key="return_value", value=answer)


def _timedelta(value: float | None) -> timedelta | None:
    return None if value is None else timedelta(seconds=value)


def _option_index(options: Sequence[Option], value: str, field_name: str) -> int:
    wanted = str(value).strip().casefold()
    for index, option in enumerate(options):
        if wanted in (option.key.strip().casefold(), option.title.strip().casefold()):
            return index
    raise KapsoArgumentError(
        f"{field_name}: {value!r} is none of the options ({', '.join(repr(option.key) for option in options)})"
    )


def _json_value(value: Any, field_name: str) -> Any:
    """A rendered template (an upstream task's XCom, say) is text: decode it."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise KapsoArgumentError(f"{field_name}: not valid JSON ({value[:60]!r})") from None


def _parse_options(value: Any) -> list[Option]:
    """Options given as titles, ``{id: title}``, or dicts with ``title`` (and ``id``, ``description``)."""
    from kapso_provider.services.ask import Option

    value = _json_value(value, "options")
    if isinstance(value, Mapping):
        return [Option(str(key), str(title)) for key, title in value.items()]
    if not isinstance(value, list | tuple):
        raise KapsoArgumentError(f"options: expected a list of options, got {type(value).__name__}")
    options: list[Option] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            options.append(Option(item, item))
            continue
        if not isinstance(item, Mapping) or not isinstance(item.get("title"), str):
            raise KapsoArgumentError(f"options[{index}]: expected a title or a dict with 'title'")
        options.append(_option_of(item, index, "options", key_name="id"))
    return options


def _option_of(item: Mapping[str, Any], index: int, field_name: str, *, key_name: str) -> Option:
    """One option given as a dict with ``title``, its key (``id`` or ``task_id``) and ``description``."""
    from kapso_provider.services.ask import Option

    unknown = sorted(set(item) - {key_name, "title", "description"})
    if unknown:
        raise KapsoArgumentError(f"{field_name}[{index}]: unknown key(s) {', '.join(unknown)}")
    title = str(item.get("title") or item[key_name])
    description = item.get("description")
    return Option(str(item.get(key_name) or title), title, str(description) if description else None)


def _parse_branches(value: Any) -> list[Option]:
    """Branches given as ``{title: task_id}``, or dicts with ``task_id`` (and ``title``, ``description``)."""
    from kapso_provider.services.ask import Option

    value = _json_value(value, "branches")
    if isinstance(value, Mapping):
        # title -> task id, the way a person reads it
        return [Option(str(task_id), str(title)) for title, task_id in value.items()]
    if not isinstance(value, list | tuple):
        raise KapsoArgumentError(
            f"branches: expected a mapping title -> task id, or a list of dicts with 'task_id', "
            f"got {type(value).__name__}"
        )
    options: list[Option] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("task_id"), str):
            raise KapsoArgumentError(f"branches[{index}]: expected a dict with 'task_id' and 'title'")
        options.append(_option_of(item, index, "branches", key_name="task_id"))
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
        ``{answered_by}`` and ``{answered_at}`` are replaced, every other brace stays as written. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: seconds between two reads of the conversation (in the worker or the triggerer).
    :param lookback: seconds re-read behind the last message read, for messages that show up late.
    """

    template_fields: Sequence[str] = (*_KapsoAskBase.template_fields, "options")

    def __init__(self, *, options: Sequence[Any] | Mapping[str, str] | str, **kwargs: Unpack[AskArguments]) -> None:
        super().__init__(**kwargs)
        self.options = options
        self._check_static_arguments()

    def _options(self) -> list[Option]:
        return _parse_options(self.options)


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

    def __init__(
        self, *, approve_label: str = "Approve", reject_label: str = "Reject", **kwargs: Unpack[AskArguments]
    ) -> None:
        super().__init__(**kwargs)
        self.approve_label = approve_label
        self.reject_label = reject_label
        self._check_static_arguments()

    def _options(self) -> list[Option]:
        from kapso_provider.services.ask import Option

        return [Option(self.APPROVE, self.approve_label), Option(self.REJECT, self.reject_label)]

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

    def __init__(
        self, *, branches: Mapping[str, str] | Sequence[Mapping[str, str]] | str, **kwargs: Unpack[AskArguments]
    ) -> None:
        super().__init__(**kwargs)
        self.branches = branches
        self._check_static_arguments()

    def _options(self) -> list[Option]:
        return _parse_branches(self.branches)

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
