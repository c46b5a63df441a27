"""Pytest plugin of the Kapso simulator: the ``kapso_server`` and ``kapso_conn_id`` fixtures.

Registered as the ``kapso`` ``pytest11`` entry point, so it loads in every pytest session of an
environment where the provider is installed. It therefore imports only the standard library and pytest at
module level; the simulator itself is imported when a test asks for the fixture.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator

__all__ = ["KapsoServer", "kapso_conn_id", "kapso_server", "kapso_simulator_options"]

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


#: Options the fixture chooses itself: a test cannot change them.
_FIXED_OPTIONS = frozenset({"api_key", "host", "port"})


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``kapso_simulator`` marker.

    :param config: pytest's configuration.
    """
    config.addinivalue_line(
        "markers",
        "kapso_simulator(**options): KapsoSimulator options for this test's kapso_server, "
        "e.g. strict=True or clock_offset=-300",
    )


@pytest.fixture
def kapso_conn_id() -> str:
    """The Airflow connection id that ``kapso_server`` points at the simulator: ``kapso_default``.

    Override it where your DAGs use another id: a fixture of the same name in your ``conftest.py`` or
    test module, or ``@pytest.mark.parametrize("kapso_conn_id", ["my_kapso"])`` on one test.
    """
    return CONN_ID


@pytest.fixture
def kapso_simulator_options() -> dict[str, Any]:
    """Options of the simulator behind ``kapso_server`` (none by default).

    Override it in a test module or a ``conftest.py`` to change every test there, or parametrize it to
    run them in several modes: ``@pytest.fixture(params=[{}, {"strict": True}])``. The
    ``@pytest.mark.kapso_simulator(...)`` marker of a test adds to it and wins.
    """
    return {}


@pytest.fixture
def kapso_server(
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    kapso_conn_id: str,
    kapso_simulator_options: dict[str, Any],
) -> Iterator[KapsoServer]:
    """A Kapso simulator on 127.0.0.1 with an Airflow connection pointing at it.

    The connection, ``kapso_default`` unless the ``kapso_conn_id`` fixture says otherwise, comes from the
    ``AIRFLOW_CONN_<CONN_ID>`` environment variable (JSON form), set for the test only. The simulator is
    stopped when the test ends. Its options (``strict``, ``clock_offset``, ``rate_limit``, ...) come from
    the ``kapso_simulator_options`` fixture and the test's ``kapso_simulator`` marker.

    :param monkeypatch: pytest's monkeypatch fixture, which undoes the environment change.
    :param request: the test's request, for its ``kapso_simulator`` marker.
    :param kapso_conn_id: the connection id to point at the simulator.
    :param kapso_simulator_options: the options the test's scope chose.
    """
    from kapso_provider.testing import KapsoSimulator

    options = dict(kapso_simulator_options)
    marker = request.node.get_closest_marker("kapso_simulator")
    if marker is not None:
        options.update(marker.kwargs)
    fixed = sorted(_FIXED_OPTIONS & set(options))
    if fixed:
        raise pytest.UsageError(f"kapso_server chooses {', '.join(fixed)} itself; leave them out of its options")
    simulator = KapsoSimulator(api_key="sim-" + secrets.token_urlsafe(16), host="127.0.0.1", port=0, **options)
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
