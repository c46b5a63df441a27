"""WhatsApp's business rules that decide whether a send goes out, shared by every API generation.

- The 24-hour customer-service window: with :attr:`Policy.service_window` on, a message that is not a
  template reaches a person only within 24 hours (Kapso's clock) of their last message to that business
  number; otherwise Meta's error 131047.
- Marketing opt-outs: a person who asked WhatsApp to stop marketing from a business number gets no
  marketing template from it (``marketing_preference_stopped``).
- Credits: with :attr:`Policy.credits_exhausted` on, template sends (the ones Meta charges for) are refused
  with 402 ``insufficient_credits``.

All three are off or empty by default, so tests that do not ask for them send freely.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from kapso_provider.testing._store import Store

__all__ = ["SERVICE_WINDOW_SECONDS", "Policy"]

SERVICE_WINDOW_SECONDS = 24 * 3600
WINDOW_TEXT = "Cannot send non-template messages outside the 24-hour window."


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Policy:
    """The rules' settings and the opt-outs. Thread-safe through the store's lock.

    :param store: the simulator's store.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        #: Whether non-template sends need a message from the person within the last 24 hours.
        self.service_window = False
        #: Whether the project's Kapso balance is spent: template sends answer 402.
        self.credits_exhausted = False
        #: (digits, config id) -> the marketing preference record of that person and business number.
        self._preferences: dict[tuple[str, str], dict[str, Any]] = {}

    # -- the service window -----------------------------------------------------------------------------

    def window_open(self, phone_number: str, config_id: str) -> bool:
        """Whether a non-template message may reach ``phone_number`` from the config now.

        :param phone_number: the person's number, any notation.
        :param config_id: the business number's config.
        """
        if not self.service_window:
            return True
        digits = normalize_phone(phone_number)
        now = self._store.clock.time()
        for message in self._store.list_messages():
            if (
                message["direction"] == "inbound"
                and message["whatsapp_config_id"] == config_id
                and normalize_phone(message["phone_number"]) == digits
                and now - _seconds(message["created_at"]) <= SERVICE_WINDOW_SECONDS
            ):
                return True
        return False

    # -- marketing preferences --------------------------------------------------------------------------

    def set_marketing(self, phone_number: str, config_id: str, *, stopped: bool) -> dict[str, Any]:
        """Record that a person stopped (or resumed) marketing messages from a business number.

        :param phone_number: the person's number, any notation.
        :param config_id: the business number's config.
        :param stopped: ``True`` for a stop, ``False`` for a resume.
        """
        digits = normalize_phone(phone_number)
        if not digits:
            raise ValueError("phone_number must contain digits")
        with self._store.lock:
            config = self._store.config(config_id)
            stamp = self._store.clock.stamp()
            record = self._preferences.get((digits, config_id))
            if record is None:
                record = {
                    "id": str(uuid.uuid4()),
                    "phone_number_id": config["phone_number_id"],
                    "whatsapp_config_id": config_id,
                    "created_at": stamp,
                    "wa_id": digits,
                }
                self._preferences[(digits, config_id)] = record
            record.update(
                status="stopped" if stopped else "resumed",
                marketing_allowed=not stopped,
                source="meta_webhook",
                detail=None,
                config_display_name=config["display_name"],
                last_event_at=stamp,
                updated_at=stamp,
            )
            return copy.deepcopy(record)

    def marketing_stopped(self, phone_number: str, config_id: str) -> bool:
        """Whether the person stopped marketing messages from the business number.

        :param phone_number: the person's number, any notation.
        :param config_id: the business number's config.
        """
        with self._store.lock:
            record = self._preferences.get((normalize_phone(phone_number), config_id))
            return record is not None and record["status"] == "stopped"

    def preferences(self, phone_number: str) -> list[dict[str, Any]]:
        """Every marketing preference of a person, oldest first.

        :param phone_number: the person's number, any notation.
        """
        digits = normalize_phone(phone_number)
        with self._store.lock:
            return [copy.deepcopy(record) for (who, _), record in self._preferences.items() if who == digits]

    def reset(self) -> None:
        """Every rule off and no opt-out."""
        self.service_window = False
        self.credits_exhausted = False
        self._preferences.clear()
