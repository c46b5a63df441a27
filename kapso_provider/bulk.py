"""Kept for imports written before the services package: the bulk send lives in :mod:`kapso_provider.services.bulk`
(sending) and :mod:`kapso_provider.services.bulk_input` (recipients and checks)."""

from __future__ import annotations

from kapso_provider.services.bulk import (
    MAX_PROBLEMS_LISTED,
    PLACEHOLDER,
    RECIPIENT_KEYS,
    BulkResult,
    BulkSender,
    BulkSummary,
    MessageDesign,
    Recipient,
    check_all,
    fill,
    iter_recipients_file,
    listed_items,
    load_recipients,
    placeholders,
    recipient_items,
    recipients_from,
    to_recipient,
)

__all__ = [
    "MAX_PROBLEMS_LISTED",
    "PLACEHOLDER",
    "RECIPIENT_KEYS",
    "BulkResult",
    "BulkSender",
    "BulkSummary",
    "MessageDesign",
    "Recipient",
    "check_all",
    "fill",
    "iter_recipients_file",
    "listed_items",
    "load_recipients",
    "placeholders",
    "recipient_items",
    "recipients_from",
    "to_recipient",
]
