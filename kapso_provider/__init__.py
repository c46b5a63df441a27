"""Apache Airflow provider for Kapso: send and manage WhatsApp messages from DAGs."""

from __future__ import annotations

__all__ = ["MINIMUM_AIRFLOW_VERSION", "__version__"]

# setup.cfg reads the version from this line; keep it a plain string literal.
__version__ = "0.1.0"

MINIMUM_AIRFLOW_VERSION = "2.11.0"


def _release_tuple(version: str) -> tuple[int, ...]:
    """``"3.1.0rc1"`` -> ``(3, 1, 0)``: enough to compare releases without importing ``packaging``."""
    import re

    return tuple(int(number) for number in re.findall(r"\d+", version)[:3])


def _check_airflow_version() -> None:
    # Read from the installed distribution's metadata rather than `import airflow`, so that the pytest
    # plugin and `python -m kapso_provider.testing` stay cheap and work where Airflow is not configured.
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("apache-airflow")
    except PackageNotFoundError:
        return  # the simulator and models are usable without Airflow; the hook will fail on its own import
    if _release_tuple(installed) < _release_tuple(MINIMUM_AIRFLOW_VERSION):
        raise RuntimeError(
            f"airflow-provider-kapso {__version__} needs apache-airflow>={MINIMUM_AIRFLOW_VERSION}; "
            f"apache-airflow {installed} is installed. Upgrade Airflow or pin an older provider."
        )


_check_airflow_version()
