"""The arguments every Kapso sensor passes on to Airflow's ``BaseSensorOperator``, typed."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import BaseSensorOperator

from kapso_provider.operators._base import BaseOperatorArguments
from kapso_provider.sensors._base import BaseSensorArguments
from tests._typed import keyword_parameters, typed_arguments


def test_the_typed_sensor_arguments_are_this_airflows() -> None:
    # Every supported Airflow takes the same sensor arguments: one missing here is refused by a type checker,
    # one too many is refused by the older Airflow versions when the DAG file is parsed.
    assert set(typed_arguments(BaseSensorArguments, besides=BaseOperatorArguments)) == set(
        keyword_parameters(BaseSensorOperator.__init__)
    )
