"""The simulator's WhatsApp templates: one book of records that every API generation reads and writes."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError
from kapso_provider.testing._validation import template_placeholders

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable

    from kapso_provider.testing._clock import Clock

__all__ = ["TEMPLATE_CATEGORIES", "TEMPLATE_STATUSES", "TemplateBook"]

TEMPLATE_CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
#: v1's lowercase review statuses.
TEMPLATE_STATUSES = ("draft", "submitted", "approved", "rejected", "disabled", "removed")
#: Fields a caller may change with :meth:`TemplateBook.update`; the rest are derived or fixed.
_UPDATABLE = frozenset({"name", "language_code", "category", "status", "parameter_format", "metadata"})


class TemplateBook:
    """Template records, thread-safe; every method returns copies.

    :param lock: the store's lock.
    :param clock: Kapso's clock, for the timestamps.
    :param business_account_of: the WABA id of a config id (raises :class:`NotFoundError` when unknown).
    """

    def __init__(self, lock: threading.RLock, clock: Clock, business_account_of: Callable[[str], str]) -> None:
        self._lock = lock
        self._clock = clock
        self._business_account_of = business_account_of
        self._records: dict[str, dict[str, Any]] = {}
        #: Templates created without ``content`` or ``parameter_count``: their parameters are unknown, so
        #: sends are not held to a parameter count the test never chose.
        self._lenient: set[str] = set()

    def create(
        self,
        *,
        name: str,
        language: str,
        category: str,
        status: str,
        content: str | None,
        parameter_count: int | None,
        components: list[dict[str, Any]] | None,
        whatsapp_config_ids: list[str],
        parameter_format: str | None = None,
    ) -> dict[str, Any]:
        """Store a template; see :meth:`KapsoSimulator.create_template`.

        :param parameter_format: ``NAMED`` or ``POSITIONAL`` (from the placeholders when ``None``).
        """
        if category not in TEMPLATE_CATEGORIES:
            raise ValueError("category must be MARKETING, UTILITY or AUTHENTICATION")
        if status not in TEMPLATE_STATUSES:
            raise ValueError(f"unknown template status {status!r}")
        body = content if content is not None else "Hello from the Kapso simulator!"
        placeholders = template_placeholders(body)
        named = any(not placeholder.isdigit() for placeholder in placeholders)
        with self._lock:
            if not whatsapp_config_ids:
                raise ValueError("whatsapp_config_ids must name at least one config")
            wabas = [self._business_account_of(config_id) for config_id in whatsapp_config_ids]
            stamp = self._clock.stamp()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "name": name,
                "language_code": language,
                "category": category,
                "status": status,
                "content": body,
                "parameter_count": len(placeholders) if parameter_count is None else parameter_count,
                "parameter_format": parameter_format or ("NAMED" if named else "POSITIONAL"),
                "business_account_id": wabas[0],
                "whatsapp_config_ids": list(whatsapp_config_ids),
                "components": (
                    copy.deepcopy(components) if components is not None else [{"type": "BODY", "text": body}]
                ),
                "metadata": {},
                "created_at": stamp,
                "updated_at": stamp,
            }
            self._records[record["id"]] = record
            if content is None and parameter_count is None:
                self._lenient.add(record["id"])
            return copy.deepcopy(record)

    def get(self, template_id: str) -> dict[str, Any]:
        """One template by id.

        :param template_id: the template id.
        :raises NotFoundError: if unknown.
        """
        with self._lock:
            return copy.deepcopy(self._record(template_id))

    def all(self) -> list[dict[str, Any]]:
        """Every template, in creation order."""
        with self._lock:
            return copy.deepcopy(list(self._records.values()))

    def find(self, name: str, language: str | None, business_account_id: str) -> dict[str, Any] | None:
        """The template of a Business Account with this name (and language), or ``None``.

        :param name: the template name.
        :param language: its language code; ``None`` for any.
        :param business_account_id: the WABA.
        """
        with self._lock:
            for record in self._records.values():
                if (record["name"], record["business_account_id"]) == (name, business_account_id) and (
                    language is None or record["language_code"] == language
                ):
                    return copy.deepcopy(record)
        return None

    @staticmethod
    def meta_id(template_id: str) -> str:
        """The template's id on Meta (``hsm_id``), a number, as the proxy shows it.

        :param template_id: the template's Kapso id.
        """
        return str(int(uuid.UUID(template_id).hex, 16) % 10**16 + 10**15)

    def by_meta_id(self, meta_id: str) -> dict[str, Any]:
        """The template with this Meta id.

        :param meta_id: its ``hsm_id``.
        :raises NotFoundError: if none has it.
        """
        with self._lock:
            for template_id, record in self._records.items():
                if self.meta_id(template_id) == meta_id:
                    return copy.deepcopy(record)
        raise NotFoundError("Template", meta_id)

    def checks_parameters(self, template_id: str) -> bool:
        """Whether sends of the template are held to its parameter count (the test gave its body or count).

        :param template_id: the template id.
        """
        with self._lock:
            return template_id not in self._lenient

    def update(self, template_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a template and stamp ``updated_at``; returns the record.

        :param template_id: the template id.
        :param changes: ``name``, ``language_code``, ``category``, ``status``, ``parameter_format``,
            ``metadata``; and ``components``, which also sets ``content`` and ``parameter_count`` from the
            BODY component and makes the template's parameters checked.
        :raises NotFoundError: if unknown.
        """
        components = changes.pop("components", None)
        unknown = sorted(set(changes) - _UPDATABLE)
        if unknown:
            raise ValueError(f"not updatable template field(s): {', '.join(unknown)}")
        with self._lock:
            record = self._record(template_id)
            record.update(copy.deepcopy(changes))
            if components is not None:
                record["components"] = copy.deepcopy(components)
                record["content"] = next(
                    (str(part.get("text", "")) for part in components if part.get("type") == "BODY"), ""
                )
                record["parameter_count"] = len(template_placeholders(record["content"]))
                self._lenient.discard(template_id)
            record["updated_at"] = self._clock.stamp()
            return copy.deepcopy(record)

    def delete(self, template_id: str) -> None:
        """Forget a template.

        :param template_id: the template id.
        :raises NotFoundError: if unknown.
        """
        with self._lock:
            self._record(template_id)
            del self._records[template_id]
            self._lenient.discard(template_id)

    def clear(self) -> None:
        """Forget every template."""
        with self._lock:
            self._records.clear()
            self._lenient.clear()

    def _record(self, template_id: str) -> dict[str, Any]:
        record = self._records.get(template_id)
        if record is None:
            raise NotFoundError("Template", template_id)
        return record
