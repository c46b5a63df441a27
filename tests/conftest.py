"""Test-session setup: a private Airflow home with a sqlite file DB, set before anything imports Airflow.

The ``kapso_server`` fixture (a running simulator plus the ``kapso_default`` connection) comes from the
package's own pytest plugin, the same one users get.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer
    from tests._message_strategies import Schemas

# The key-leak fixtures (leak_check, execute_spy), used by the leak tests of several folders.
pytest_plugins = ["tests._leaks"]

REPO_ROOT = Path(__file__).resolve().parent.parent
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="kapso-provider-tests-"))
# One DAGs folder for the whole session: Airflow 3.3's dag.test() only runs DAGs found in it, so the
# example DAGs and the tests' own DAG files are linked in side by side.
DAGS_FOLDER = _AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir()
for source in [
    *sorted((REPO_ROOT / "example_dags").glob("*.py")),
    *sorted((REPO_ROOT / "tests" / "dags").glob("*.py")),
]:
    if source.name != "__init__.py":
        (DAGS_FOLDER / source.name).symlink_to(source)

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
# A connection from a developer's shell must never leak into a test (nor reach real Kapso).
for name in list(os.environ):
    if name.startswith("AIRFLOW_CONN_"):
        del os.environ[name]


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    """The send requests of Kapso's v1 OpenAPI files, for the property tests' bodies."""
    from tests._message_strategies import Schemas

    return Schemas()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's metadata DB, created once (about 1-2 s)."""
    from airflow.utils import db

    db.initdb()
    return _AIRFLOW_HOME / "airflow.db"


@pytest.fixture
def run_dag(airflow_db: Path, kapso_server: KapsoServer) -> Any:
    """Run a DAG from the DAGs folder with ``dag.test()`` against the simulator; returns the DAG run."""
    from tests._airflow import run_dag_file_dag

    return run_dag_file_dag


class SendValidators:
    """Checks a send body against the request schemas of Kapso's OpenAPI files."""

    _CONVERSATION_SEND = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"

    def __init__(self) -> None:
        from tests._openapi import load_spec, request_schema

        self._specs = {name: load_spec(name) for name in ("openapi.yaml", "openapi-whatsapp.yaml")}
        self._conversation = {
            name: request_schema(spec, self._CONVERSATION_SEND, "post") for name, spec in self._specs.items()
        }
        self._phone = request_schema(self._specs["openapi-whatsapp.yaml"], "/whatsapp_messages", "post")
        # The reference page's file is the one a user reads: its message object is the operator's contract.
        self.conversation_send_properties = sorted(
            self._conversation["openapi.yaml"]["properties"]["message"]["properties"]
        )

    def conversation_send(self, body: dict[str, Any]) -> None:
        """The body, without the phone number a phone send adds, is valid for a conversation send in both files."""
        from tests._openapi import validate

        message = {key: value for key, value in body["message"].items() if key != "phone_number"}
        for schema in self._conversation.values():
            validate(schema, {"message": message})

    def phone_send(self, body: dict[str, Any]) -> None:
        """The body is valid for ``POST /whatsapp_messages`` (only in ``openapi-whatsapp.yaml``)."""
        from tests._openapi import validate

        validate(self._phone, body)


@pytest.fixture(scope="session")
def openapi_send_validators() -> SendValidators:
    return SendValidators()


@pytest.fixture
def kapso_current_server(kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> KapsoServer:
    """``kapso_server`` with its connection speaking Kapso's current API.

    The host is the simulator's root (the proxy and the Platform API live below it), the extra says
    ``api: current`` and names the simulator's default number (``phone_number_id``) and its WhatsApp Business
    Account (``business_account_id``).
    """
    import json

    simulator = kapso_server.simulator
    connection = {
        "conn_type": "kapso",
        "host": simulator.url,
        "password": simulator.api_key,
        "extra": {
            "api": "current",
            "phone_number_id": simulator.default_phone_number_id,
            "business_account_id": simulator.default_business_account_id,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_" + kapso_server.conn_id.upper(), json.dumps(connection))
    return kapso_server


@pytest.fixture(params=["v1", "current"])
def kapso_api(request: pytest.FixtureRequest, kapso_server: KapsoServer) -> str:
    """Runs a test twice: with ``kapso_server``'s connection on Kapso's API v1, then on its current API.

    The same DAG code must work on both (issue 17); the value says which generation this run speaks.
    """
    if request.param == "current":
        request.getfixturevalue("kapso_current_server")
    return str(request.param)
