"""Provider metadata read by Airflow's providers manager.

Airflow imports this module from every process that lists providers, so it imports nothing but the
package's version string. The connection form declared here is the single source of truth: Airflow
>= 3.2 reads it from ``conn-fields`` and ``ui-field-behaviour``, and :class:`~kapso_provider.hooks.kapso.KapsoHook`
builds the older versions' form from the same data.
"""

from __future__ import annotations

from typing import Any

from kapso_provider import __version__

DEFAULT_BASE_URL = "https://app.kapso.ai/api/v1"
#: The host of Kapso's current APIs: the WhatsApp Cloud API proxy (``/meta/whatsapp/v24.0``) and the
#: Platform API (``/platform/v1``).
CURRENT_BASE_URL = "https://api.kapso.ai"
#: The ``api`` extra's values: which generation of Kapso's API a connection speaks.
API_GENERATIONS = ("current", "v1")
DEFAULT_TIMEOUT_SECONDS = 30.0

CONNECTION_TYPE = "kapso"

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "port", "extra"],
    "relabeling": {"host": "API base URL", "password": "API key"},
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "password": "Your Kapso project API key",
        "timeout": str(int(DEFAULT_TIMEOUT_SECONDS)),
        "proxy": "https://proxy.example.com:3128",
        "phone_number_id": "123456789012345",
        "business_account_id": "987654321098765",
        "wait_share": "0.25",
    },
}

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "api": {
        "label": "Kapso API",
        "description": (
            "current: the WhatsApp Cloud API proxy and the Platform API (https://api.kapso.ai); v1: the Legacy "
            "API (https://app.kapso.ai/api/v1). Left empty: current when the host is api.kapso.ai, else v1."
        ),
        # No default: a pre-selected generation would override the host's own, so a connection to an /api/v1
        # host saved from the form would fail its test.
        "schema": {"type": ["string", "null"], "enum": [*API_GENERATIONS, None, ""]},
    },
    "phone_number_id": {
        "label": "Phone number ID",
        "description": "Current API: the WhatsApp phone number id to send from, unless a task names another.",
        "schema": {"type": ["string", "null"]},
    },
    "wait_share": {
        "label": "Share of the rate limit for waits",
        "description": (
            "The fraction of the key's rate limit that all deferred waits (sensors, triggers) of one triggerer "
            "may use together, so that sends keep the rest. Default 0.25."
        ),
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
    },
    "business_account_id": {
        "label": "WhatsApp Business Account ID",
        "description": "Current API: the WABA id whose message templates the template operators manage.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": f"Seconds to wait for Kapso to answer a request. Default {int(DEFAULT_TIMEOUT_SECONDS)}.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "proxy": {
        "label": "HTTPS proxy URL",
        "description": "Optional proxy for requests to Kapso, e.g. https://proxy.example.com:3128.",
        "schema": {"type": ["string", "null"]},
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata in the shape of Airflow's ``provider_info.schema.json``."""
    return {
        "package-name": "airflow-provider-kapso",
        "name": "Kapso",
        "description": "Send and manage WhatsApp messages through `Kapso <https://kapso.ai>`__.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Kapso",
                "external-doc-url": "https://docs.kapso.ai",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Kapso", "python-modules": ["kapso_provider.hooks.kapso"]}],
        "operators": [{"integration-name": "Kapso", "python-modules": ["kapso_provider.operators.kapso"]}],
        "sensors": [{"integration-name": "Kapso", "python-modules": ["kapso_provider.sensors.kapso"]}],
        "triggers": [{"integration-name": "Kapso", "python-modules": ["kapso_provider.triggers.kapso"]}],
        "notifications": ["kapso_provider.notifications.kapso.KapsoNotifier"],
        "connection-types": [
            {
                "hook-class-name": "kapso_provider.hooks.kapso.KapsoHook",
                "hook-name": "Kapso",
                "connection-type": CONNECTION_TYPE,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
