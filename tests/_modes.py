"""The simulator modes a test runs in: its default answers, and answers of documented fields only.

Strict mode (``KapsoSimulator(strict=True)``) answers with the fields Kapso's OpenAPI files document and
nothing else, so a test run in both modes shows that the provider depends on documented fields only.
"""

from __future__ import annotations

import pytest

#: Parametrizes the plugin's ``kapso_simulator_options`` fixture: once as usual, once strict.
IN_BOTH_MODES = pytest.mark.parametrize(
    "kapso_simulator_options",
    [pytest.param({}, id="extended"), pytest.param({"strict": True}, id="strict")],
)
