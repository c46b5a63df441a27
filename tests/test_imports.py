"""What DAG files pay for importing the provider, and that nothing it imports is deprecated."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_PROBE = """
import json, sys, warnings
try:
    import airflow.sdk
except ImportError:  # Airflow 2.11
    import airflow.models.baseoperator
before = set(sys.modules)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import {module}
print(json.dumps({{
    "new_modules": sorted(set(sys.modules) - before),
    "warnings": [f"{{w.category.__name__}}: {{w.message}}" for w in caught],
}}))
"""

# A DAG file that imports an operator module must not pay for HTTP clients, the payload models or the
# http provider: those load when a task runs.
_HEAVY = (
    "requests",
    "urllib3",
    "aiohttp",
    "httpx",
    "kapso_provider.models",
    "kapso_provider.hooks",
    "airflow.providers.http",
)


def _probe(module: str) -> dict[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=True,
    )
    probe: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return probe


@pytest.mark.parametrize(
    ("module", "dag_facing"),
    [
        ("kapso_provider.operators.kapso", True),
        ("kapso_provider.sensors.kapso", True),
        ("kapso_provider.notifications.kapso", True),
        # The triggerer imports it to rebuild a deferred sensor's trigger: no client until it runs.
        ("kapso_provider.triggers.kapso", True),
        ("kapso_provider.get_provider_info", True),
        ("kapso_provider.hooks.kapso", False),
        ("kapso_provider.models", False),
        ("kapso_provider.testing", False),
    ],
)
def test_import(module: str, dag_facing: bool) -> None:
    probe = _probe(module)
    assert [warning for warning in probe["warnings"] if "Deprecat" in warning] == []
    if dag_facing:
        heavy = [name for name in probe["new_modules"] if name.startswith(_HEAVY)]
        assert heavy == [], heavy
