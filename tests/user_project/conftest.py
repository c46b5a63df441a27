"""conftest.py of a DAG repository: a private Airflow home with a migrated metadata DB for the test session.

A sample of docs/testing.md, run by tests/test_packaging.py in a fresh environment with the provider's wheel.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Airflow reads its configuration when it is first imported: set it before any test imports Airflow.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
# A sqlite file: an in-memory DB is not shared with the task runs of dag.test().
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parent / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the session's metadata DB once (a second or two), for the tests that run DAGs."""
    from airflow.utils import db

    db.initdb()


@pytest.fixture
def kapso_conn_id() -> str:
    """The connection our DAGs use: the provider's kapso_server fixture points it at the simulator."""
    return "kapso_whatsapp"
