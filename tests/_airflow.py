"""Running real DAGs in tests, the same way on Airflow 2.11 and 3.x."""

from __future__ import annotations

import os
from functools import cache
from typing import Any


@cache
def _dag_bag() -> Any:
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow >= 3.1
    except ImportError:
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    # Examples are off through AIRFLOW__CORE__LOAD_EXAMPLES; 3.3's DagBag no longer takes include_examples.
    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def get_dag(dag_id: str) -> Any:
    """The DAG ``dag_id`` from the session's DAGs folder; fails on any import error in that folder."""
    bag = _dag_bag()
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id!r} in {sorted(bag.dag_ids)}"
    return dag


def run_dag_file_dag(dag_id: str, **kwargs: Any) -> Any:
    """Run one DAG run in-process with ``dag.test()``; returns the DAG run (state asserted by callers)."""
    return get_dag(dag_id).test(**kwargs)


def xcom_return_value(dag_run: Any, task_id: str, map_index: int | None = None) -> Any:
    """The ``return_value`` XCom a task pushed in ``dag_run``."""
    ti = dag_run.get_task_instance(task_id, map_index=-1 if map_index is None else map_index)
    assert ti is not None, f"no task instance {task_id!r}"
    if map_index is None:
        return ti.xcom_pull(task_ids=task_id)
    return ti.xcom_pull(task_ids=task_id, map_indexes=map_index)


def task_states(dag_run: Any) -> dict[str, str]:
    """Task id (with ``[i]`` for mapped indexes) -> state, for readable assertion failures."""
    states = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        states[key] = str(ti.state)
    return states
