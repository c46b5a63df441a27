"""The simulator's current Kapso APIs: the WhatsApp Cloud API proxy (``/meta/whatsapp/v24.0``) and the
Platform API (``/platform/v1``), views of the same store as v1."""
