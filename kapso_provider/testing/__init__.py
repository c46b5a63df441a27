"""A local Kapso API v1 simulator for tests, in the spirit of moto for AWS.

:class:`KapsoSimulator` serves Kapso's WhatsApp endpoints over real HTTP on loopback, keeps the
conversations and messages it is sent, and misbehaves on demand (:class:`FaultKind`). The pytest plugin
(``kapso_provider.testing.pytest_plugin``) wraps it in the ``kapso_server`` fixture, and
``python -m kapso_provider.testing`` runs it standalone.

The names are imported on first use (PEP 562), so importing the pytest plugin, a submodule of this
package, does not pay for the HTTP server until a test asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kapso_provider.testing._faults import Fault, FaultKind
    from kapso_provider.testing._simulator import KapsoSimulator, RecordedRequest

__all__ = ["Fault", "FaultKind", "KapsoSimulator", "RecordedRequest"]

_LOCATIONS = {
    "Fault": "kapso_provider.testing._faults",
    "FaultKind": "kapso_provider.testing._faults",
    "KapsoSimulator": "kapso_provider.testing._simulator",
    "RecordedRequest": "kapso_provider.testing._simulator",
}


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
