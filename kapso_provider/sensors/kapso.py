"""Sensors that wait on Kapso: a sent WhatsApp message reaching ``delivered`` or ``read``, or a customer writing.

Each sensor lives in the module of its area (``message_status`` and ``inbound`` of
``kapso_provider.sensors``); this module exports them. DAG files import it on every parse, so
nothing here loads the hooks (``requests``, ``httpx``) or the triggers: they load when a task runs.
"""

from __future__ import annotations

from kapso_provider.sensors.inbound import KapsoInboundMessageSensor
from kapso_provider.sensors.message_status import KapsoMessageStatusSensor
from kapso_provider.utils.message_status import TARGET_STATUSES

__all__ = ["TARGET_STATUSES", "KapsoInboundMessageSensor", "KapsoMessageStatusSensor"]
