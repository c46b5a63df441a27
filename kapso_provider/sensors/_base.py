"""The arguments every Kapso sensor passes on to Airflow's ``BaseSensorOperator``, typed.

Only the sensor modules' type annotations use this module, so DAG files do not import it when they are
parsed; it imports nothing heavier than :mod:`kapso_provider.operators._base`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kapso_provider.operators._base import BaseOperatorArguments

if TYPE_CHECKING:
    from datetime import timedelta

__all__ = ["BaseSensorArguments"]


class BaseSensorArguments(BaseOperatorArguments, total=False):
    """The arguments of Airflow's ``BaseSensorOperator`` and ``BaseOperator``, on every supported Airflow.

    The Kapso sensors take them as ``**kwargs: Unpack[...]``, so that a type checker refuses a misspelt or
    mistyped argument. ``tests/sensors/test_base.py`` fails when an Airflow version of the test matrix has
    a sensor argument that is missing here.

    ``timeout`` is typed as 2.11 and 3.1 take it: Airflow 3.3 also takes ``None`` there (its default, the
    ``[sensors] default_timeout``), which the older versions refuse; leave the argument out instead.
    """

    poke_interval: timedelta | float
    timeout: timedelta | float
    soft_fail: bool
    mode: str
    exponential_backoff: bool
    max_wait: timedelta | float | None
    silent_fail: bool
    never_fail: bool
