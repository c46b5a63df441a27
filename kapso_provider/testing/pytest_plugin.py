"""Pytest plugin of the Kapso simulator: the ``kapso_server`` and ``kapso_conn_id`` fixtures.

Registered as the ``kapso`` ``pytest11`` entry point, so it loads in every pytest session of an
environment where the provider is installed. It therefore imports only the standard library and pytest at
module level; the simulator itself is imported when a test asks for the fixture.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator

__all__ = ["KapsoServer", "kapso_conn_id", "kapso_server"]

#: The connection ``kapso_server`` points at unless a test overrides the ``kapso_conn_id`` fixture.
CONN_ID = "kapso_default"
#: Airflow reads connections from ``AIRFLOW_CONN_<CONN_ID>`` environment variables.
CONN_ENV_VAR = "AIRFLOW_CONN_" + CONN_ID.upper()


@dataclass(frozen=True)
class KapsoServer:
    """What the ``kapso_server`` fixture yields.

    :param simulator: the running :class:`~kapso_provider.testing.KapsoSimulator`.
    :param base_url: its API base URL (``http://127.0.0.1:<port>/api/v1``).
    :param api_key: the API key it accepts (random per test).
    :param conn_id: the Airflow connection id pointing at it.
    """

    simulator: KapsoSimulator
    base_url: str
    api_key: str
    conn_id: str = CONN_ID


@pytest.fixture
def kapso_conn_id() -> str:
    """The Airflow connection id that ``kapso_server`` points at the simulator: ``kapso_default``.

    Override it where your DAGs use another id: a fixture of the same name in your ``conftest.py`` or
    test module, or ``@pytest.mark.parametrize("kapso_conn_id", ["my_kapso"])`` on one test.
    """
    return CONN_ID


@pytest.fixture
def kapso_server(monkeypatch: pytest.MonkeyPatch, kapso_conn_id: str) -> Iterator[KapsoServer]:
    """A Kapso simulator on 127.0.0.1 with an Airflow connection pointing at it.

    The connection, ``kapso_default`` unless the ``kapso_conn_id`` fixture says otherwise, comes from the
    ``AIRFLOW_CONN_<CONN_ID>`` environment variable (JSON form), set for the test only. The simulator is
    stopped when the test ends.

    :param monkeypatch: pytest's monkeypatch fixture, which undoes the environment change.
    :param kapso_conn_id: the connection id to point at the simulator.
    """
    from kapso_provider.testing import KapsoSimulator

    simulator = KapsoSimulator(api_key="sim-" + secrets.token_urlsafe(16), host="127.0.0.1", port=0)
    simulator.start()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_" + kapso_conn_id.upper(),
            json.dumps({"conn_type": "kapso", "host": simulator.base_url, "password": simulator.api_key}),
        )
        yield KapsoServer(
            simulator=simulator, base_url=simulator.base_url, api_key=simulator.api_key, conn_id=kapso_conn_id
        )
    finally:
        simulator.stop()
