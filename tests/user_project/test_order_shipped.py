"""Run a DAG of the repository in a pytest test, against the Kapso simulator of the provider's pytest plugin."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3.1+
except ImportError:  # Airflow 2.11
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer


# [START howto_testing_run_a_dag]
def test_order_shipped_tells_the_customer(airflow_db: None, kapso_server: KapsoServer) -> None:
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors
    dag_run = bag.get_dag("order_shipped").test()  # every task, in this process, against the simulator

    assert dag_run.state == "success"
    (message,) = kapso_server.simulator.messages()
    assert message["phone_number"] == "+15551234567"
    assert message["content"] == "Your order A-1001 has shipped."
    # [END howto_testing_run_a_dag]
