"""What every Kapso operator shares: its hook, its arguments' types, failing fast, and the earlier-try window.

Imported by DAG files through :mod:`kapso_provider.operators.kapso`, so it imports only Airflow's base
operator: the hook (and with it ``requests``) loads when a task runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Required, TypedDict

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator

from kapso_provider.arguments import is_static
from kapso_provider.exceptions import KapsoArgumentError, KapsoConfigurationError, KapsoRunError
from kapso_provider.utils.mixins import KapsoHookMixin

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
    from datetime import datetime, timedelta
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context


__all__ = [
    "BaseOperatorArguments",
    "KapsoBaseOperator",
    "KapsoHookMixin",
    "KapsoOperatorArguments",
    "earlier_try_since",
]


class BaseOperatorArguments(TypedDict, total=False):
    """The arguments of Airflow's ``BaseOperator``, on every Airflow version the provider supports.

    The Kapso operators take them as ``**kwargs: Unpack[...]`` so that a type checker refuses a misspelt or
    mistyped argument instead of letting ``**kwargs: Any`` pass it on. ``tests/operators/test_base.py``
    fails when an Airflow version of the test matrix has one that is missing here.
    """

    task_id: Required[str]
    owner: str
    email: str | Sequence[str] | None
    email_on_retry: bool
    email_on_failure: bool
    retries: int | None
    retry_delay: timedelta | float
    retry_exponential_backoff: float
    max_retry_delay: timedelta | float | None
    retry_policy: Any
    start_date: datetime | None
    end_date: datetime | None
    depends_on_past: bool
    ignore_first_depends_on_past: bool
    wait_for_past_depends_before_skipping: bool
    wait_for_downstream: bool
    dag: Any
    params: MutableMapping[str, Any] | None
    default_args: dict[str, Any] | None
    priority_weight: int
    weight_rule: Any
    queue: str
    pool: str | None
    pool_slots: int
    sla: timedelta | None
    execution_timeout: timedelta | None
    on_execute_callback: Any
    on_failure_callback: Any
    on_success_callback: Any
    on_retry_callback: Any
    on_skipped_callback: Any
    pre_execute: Callable[..., Any] | None
    post_execute: Callable[..., Any] | None
    trigger_rule: str
    resources: dict[str, Any] | None
    run_as_user: str | None
    task_concurrency: int | None
    map_index_template: str | None
    max_active_tis_per_dag: int | None
    max_active_tis_per_dagrun: int | None
    executor: str | None
    executor_config: dict[str, Any] | None
    do_xcom_push: bool
    multiple_outputs: bool
    inlets: Any
    outlets: Any
    task_group: Any
    doc: str | None
    doc_md: str | None
    doc_json: str | None
    doc_yaml: str | None
    doc_rst: str | None
    task_display_name: str | None
    logger_name: str | None
    allow_nested_operators: bool
    render_template_as_native_obj: bool | None


class KapsoOperatorArguments(BaseOperatorArguments, total=False):
    """Airflow's operator arguments and the connection every Kapso operator talks through."""

    #: The ``kapso`` connection to use; ``kapso_default`` when left out. (templated)
    kapso_conn_id: str


def earlier_try_since(context: Context) -> datetime | None:
    """Where a task retry starts looking for what an earlier try of this task instance did, or ``None``.

    The first try has nothing to look for. A later one looks from this DAG run's start: an earlier try of
    this task instance ran after it, and nothing an earlier DAG run did is younger than it (runs of one DAG
    do not overlap unless ``max_active_runs`` allows it; ``docs/reliability.md`` says what is left then).
    The time is on Airflow's clock; the hooks place it on Kapso's clock, with a margin of a few seconds,
    when they compare it with what Kapso stored.
    """
    ti = context.get("ti")
    if ti is None or ti.try_number <= 1:
        return None
    dag_run = context.get("dag_run")
    started: datetime | None = getattr(dag_run, "start_date", None) or ti.start_date
    return started


class KapsoBaseOperator(KapsoHookMixin, BaseOperator):
    """The base of every Kapso operator: the hook, fail-fast argument errors, the earlier-try window.

    Every argument of a Kapso operator is data, never a file name: ``template_ext`` is empty, so a caption
    ending in ``.json`` stays a caption. An API key given as an argument (``api_key=``, ``token=`` ...) is
    refused with the way to store it in the connection instead.

    :param kapso_conn_id: the ``kapso`` connection to use. (templated in every subclass)
    """

    template_ext: Sequence[str] = ()
    ui_color = "#25d366"

    def __init__(self, *, kapso_conn_id: str = "kapso_default", **kwargs: Unpack[BaseOperatorArguments]) -> None:
        if kwargs.keys() - BaseOperatorArguments.__annotations__.keys():
            # Only then: the connection's rules load when a task runs, not when every DAG file is parsed.
            from kapso_provider.transport.settings import refuse_credentials

            refuse_credentials(type(self).__name__, kapso_conn_id, kwargs)
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id

    def template_values(self) -> dict[str, Any]:
        """The templated arguments but the connection, by name, as they stand (rendered once ``execute`` runs)."""
        return {name: getattr(self, name) for name in self.template_fields if name != "kapso_conn_id"}

    def check_when_static(self, check: Callable[[], object], fields: Iterable[str] | None = None) -> None:
        """Run ``check`` now, so when the DAG file is parsed, if no template can change ``fields`` any more.

        :param fields: the arguments ``check`` reads; by default every templated one but the connection.
            Templated values are checked again after rendering, in ``execute``.
        """
        names = self.template_values().keys() if fields is None else fields
        if all(is_static(getattr(self, name)) for name in names):
            check()

    @contextmanager
    def failing_fast(self) -> Iterator[None]:
        """Turn an argument error into a failure Airflow does not retry: a retry renders the same values."""
        try:
            yield
        except (KapsoArgumentError, KapsoConfigurationError) as exc:
            raise AirflowFailException(str(exc)) from exc

    @contextmanager
    def running(self) -> Iterator[None]:
        """The frame of an ``execute``: how its errors fail the task, and the hook closed at the end.

        An argument error (found before any request, or by an endpoint's own checks) and a run that Kapso
        reports failed end the task without retries, which would meet the same outcome; a run that did not
        finish in time fails it so that a retry finds the run and waits again. Every other error (a Kapso
        API error, the connection) fails it as it is.
        """
        try:
            yield
        except KapsoArgumentError as exc:
            raise AirflowFailException(str(exc)) from exc
        except KapsoRunError as exc:
            raise (AirflowFailException if exc.final else AirflowException)(str(exc)) from exc
        finally:
            self.close_hook()

    def earlier_try_since(self, context: Context) -> datetime | None:
        """See :func:`earlier_try_since`; logs that the task looks before acting again."""
        since = earlier_try_since(context)
        if since is not None:
            self.log.info(
                "Try %d: looking in Kapso for what an earlier try did since %s before acting again",
                context["ti"].try_number,
                since.isoformat(),
            )
        return since
