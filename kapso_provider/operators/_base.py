"""What every Kapso operator shares: its hook, failing fast on bad arguments, and the earlier-try window.

Imported by DAG files through :mod:`kapso_provider.operators.kapso`, so it imports only Airflow's base
operator: the hook (and with it ``requests``) loads when a task runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from kapso_provider.exceptions import KapsoArgumentError, KapsoConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.hooks.kapso import KapsoHook

__all__ = ["KapsoBaseOperator", "KapsoHookMixin", "earlier_try_since"]


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


class KapsoHookMixin:
    """The ``hook`` every Kapso operator talks through, built from ``kapso_conn_id`` on first use.

    First use is in ``execute``, after Airflow rendered the templates, so a templated connection id works;
    the hook (and with it ``requests``) is imported only then.
    """

    kapso_conn_id: str

    @cached_property
    def hook(self) -> KapsoHook:
        """A hook on ``kapso_conn_id``."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

    def close_hook(self) -> None:
        """Close the hook's sessions, if it was built."""
        hook: KapsoHook | None = self.__dict__.get("hook")
        if hook is not None:
            hook.close()


class KapsoBaseOperator(KapsoHookMixin, BaseOperator):
    """The base of every Kapso operator: the hook, fail-fast argument errors, the earlier-try window.

    :param kapso_conn_id: the ``kapso`` connection to use. (templated in every subclass)
    """

    ui_color = "#25d366"

    @contextmanager
    def failing_fast(self) -> Iterator[None]:
        """Turn an argument error into a failure Airflow does not retry: a retry renders the same values."""
        try:
            yield
        except (KapsoArgumentError, KapsoConfigurationError) as exc:
            raise AirflowFailException(str(exc)) from exc

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

    def __init__(self, *, kapso_conn_id: str = "kapso_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
