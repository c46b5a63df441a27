"""The ``kapso_server`` fixture of the package's pytest plugin, run in a nested pytest session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "kapso_provider.testing.pytest_plugin"


def plugin_args() -> list[str]:
    """``-p`` the plugin unless its ``pytest11`` entry point already loads it (twice would be an error)."""
    registered = any(entry.value == PLUGIN for entry in entry_points(group="pytest11"))
    return [] if registered else ["-p", PLUGIN]


def test_entry_point_if_registered_names_the_plugin():
    kapso = [entry for entry in entry_points(group="pytest11") if entry.name == "kapso"]
    if not kapso:
        pytest.skip("the package is not installed with its pytest11 entry point")
    assert kapso[0].value == PLUGIN


def test_kapso_server_fixture(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_KAPSO_DEFAULT", raising=False)
    pytester.makepyfile(
        """
        import json
        import os
        import urllib.request

        SEEN = {}


        def test_uses_the_simulator(kapso_server):
            sim = kapso_server.simulator
            assert sim.running
            assert kapso_server.base_url == sim.base_url
            assert kapso_server.base_url.startswith("http://127.0.0.1:")
            assert kapso_server.api_key == sim.api_key
            assert kapso_server.conn_id == "kapso_default"
            assert json.loads(os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"]) == {
                "conn_type": "kapso",
                "host": sim.base_url,
                "password": sim.api_key,
            }
            request = urllib.request.Request(
                sim.base_url + "/whatsapp_configs", headers={"X-API-Key": kapso_server.api_key}
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
            SEEN["first"] = kapso_server


        def test_fresh_per_test(kapso_server):
            first = SEEN["first"]
            assert not first.simulator.running
            assert kapso_server.simulator is not first.simulator
            assert kapso_server.api_key != first.api_key
            assert kapso_server.simulator.requests == []


        def test_env_is_restored():
            assert "AIRFLOW_CONN_KAPSO_DEFAULT" not in os.environ
        """
    )
    result = pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert "AIRFLOW_CONN_KAPSO_DEFAULT" not in os.environ


def test_options_from_the_fixture_and_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest


        @pytest.fixture(params=[{}, {"strict": True}], ids=["default", "strict"])
        def kapso_simulator_options(request):
            return request.param


        def test_each_mode(kapso_server, kapso_simulator_options):
            assert kapso_server.simulator.strict is kapso_simulator_options.get("strict", False)


        @pytest.mark.kapso_simulator(clock_offset=-300, strict=False)
        def test_the_marker_adds_and_wins(kapso_server):
            assert kapso_server.simulator.clock_offset == -300
            assert kapso_server.simulator.strict is False


        @pytest.mark.kapso_simulator(port=8080)
        def test_fixed_options_are_refused(kapso_server):
            pass
        """
    )
    result = pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(["*kapso_server chooses port itself*"])


def test_fixture_is_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*plugin_args(), "--fixtures", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*kapso_server*"])


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=30
    ).stdout
    return set(json.loads(output.splitlines()[-1]))


def test_plugin_import_is_cheap():
    modules = _modules_after(f"import {PLUGIN}")
    assert "kapso_provider.testing._simulator" not in modules
    assert "http.server" not in modules
    for heavy in ("requests", "airflow", "pydantic"):
        assert heavy not in modules


def test_simulator_needs_only_the_standard_library():
    modules = _modules_after("from kapso_provider.testing import KapsoSimulator\nKapsoSimulator().start().stop()")
    for heavy in ("requests", "airflow", "pydantic", "urllib3", "pytest"):
        assert heavy not in modules
