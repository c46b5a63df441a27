"""Kapso's current APIs: the WhatsApp Cloud API proxy and the Platform API, both at ``https://api.kapso.ai``.

The proxy (``/meta/whatsapp/v24.0``, file ``openapi-whatsapp.yaml``) sends messages in Meta's own body,
reads them back by ``wamid``, uploads media and manages templates per WhatsApp Business Account. The Platform
API (``/platform/v1``, file ``openapi-platform.yaml``; agent runs in ``openapi-kapso-agent.yaml``) lists
messages across conversations, reads one with its status history, and manages conversations, contacts,
phone numbers, webhooks and broadcasts. Both take the key in ``X-API-Key``. The module of each area defines
the endpoints under the names and signatures of :mod:`kapso_provider.api.v1` where the operation exists
in both generations.
"""
