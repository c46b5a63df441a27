"""A template sync from Meta into Kapso, started and (optionally) waited for until every account is done.

:class:`~kapso_provider.operators.kapso.KapsoSyncTemplatesOperator` is the Airflow face of this module.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapso_provider.api.v1.templates import SYNC_FINAL_STATUSES
from kapso_provider.arguments import as_bool, as_number
from kapso_provider.exceptions import KapsoRunError
from kapso_provider.validation import check_text, raise_problems

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.transport.policy import WarningLog

__all__ = ["TemplateSync"]


def _runs(answer: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [run for run in answer.get("sync_requests") or [] if isinstance(run, Mapping)]


def _wait_settings(
    problems: list[str], wait_for_completion: object, poll_interval: object, timeout: object
) -> tuple[bool, float, float]:
    """Whether to wait, seconds between two reads, seconds at most: rendered values converted, problems noted."""
    wait = as_bool("wait_for_completion", wait_for_completion, problems)
    interval = as_number("poll_interval", poll_interval, problems, minimum=0, unit="seconds")
    limit = as_number("timeout", timeout, problems, minimum=0, unit="seconds")
    return wait, interval, limit


@dataclass(frozen=True)
class TemplateSync:
    """Which accounts to sync, and how to wait for them.

    :param whatsapp_config_id: sync the account of this WhatsApp number only.
    :param customer_id: sync the accounts of every production number of this customer; without either,
        every production number of the project.
    :param wait: wait until every sync has succeeded or failed.
    :param poll_interval: seconds between two status reads while waiting.
    :param timeout: seconds to wait at most.
    """

    whatsapp_config_id: str | None = None
    customer_id: str | None = None
    wait: bool = True
    poll_interval: float = 30.0
    timeout: float = 1800.0

    @classmethod
    def checked(
        cls,
        *,
        whatsapp_config_id: object,
        customer_id: object,
        wait_for_completion: object,
        poll_interval: object,
        timeout: object,
    ) -> TemplateSync:
        """The sync from rendered operator arguments (``"true"``, ``"15"`` ... included).

        :raises KapsoArgumentError: naming every argument at fault.
        """
        problems: list[str] = []
        check_text(problems, "whatsapp_config_id", whatsapp_config_id)
        check_text(problems, "customer_id", customer_id)
        if whatsapp_config_id is not None and customer_id is not None:
            problems.append("whatsapp_config_id, customer_id: give at most one of them")
        wait, interval, limit = _wait_settings(problems, wait_for_completion, poll_interval, timeout)
        raise_problems(problems)
        return cls(whatsapp_config_id, customer_id, wait, interval, limit)  # type: ignore[arg-type]

    def run(self, hook: KapsoHook, log: WarningLog) -> dict[str, Any]:
        """Start the sync and, when waiting, return the final status answer; else Kapso's answer to the start.

        Kapso runs one sync per Business Account at a time and hands back the running one instead of
        queueing another, so starting twice never doubles the work.

        :raises KapsoRunError: not final when a sync failed (its account, error class and message named) or
            did not finish within the timeout.
        """
        started = hook.sync_templates(whatsapp_config_id=self.whatsapp_config_id, customer_id=self.customer_id)
        runs = _runs(started)
        summary = started.get("summary") or {}
        log.info(
            "Kapso template sync: %d sync request(s) for Business Account(s) %s (%s new, %s already running)",
            len(runs),
            ", ".join(str(run.get("business_account_id")) for run in runs) or "-",
            summary.get("jobs_enqueued", "?"),
            summary.get("already_in_progress", "?"),
        )
        if not self.wait:
            return started
        ids = [str(run["id"]) for run in runs if run.get("id")]
        if not ids:
            raise KapsoRunError(f"Kapso answered the template sync with no sync request id: {runs!r}", final=False)
        status = self._wait(hook, log, ids)
        for run in _runs(status):
            log.info(
                "Business Account %s: %s templates synced (%s created, %s updated, %s removed)",
                run.get("business_account_id"),
                run.get("templates_synced"),
                run.get("templates_created"),
                run.get("templates_updated"),
                run.get("templates_removed"),
            )
        return status

    def _wait(self, hook: KapsoHook, log: WarningLog, ids: list[str]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            status: dict[str, Any] = hook.get_template_sync_status(sync_request_ids=ids)
            current = {str(run.get("id")): run for run in _runs(status)}
            # A run missing from the answer has not been seen to finish: it counts as unfinished.
            states = {run_id: current.get(run_id, {}).get("status", "unknown") for run_id in ids}
            unfinished = [run_id for run_id, state in states.items() if state not in SYNC_FINAL_STATUSES]
            log.info(
                "Kapso template sync: %d of %d finished (%s); %d templates synced so far",
                len(ids) - len(unfinished),
                len(ids),
                ", ".join(f"{run_id}: {state}" for run_id, state in states.items()),
                sum(int(run.get("templates_synced") or 0) for run in current.values()),
            )
            if not unfinished:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KapsoRunError(
                    f"Kapso template sync not finished after {self.timeout:g} s: "
                    + ", ".join(f"{run_id} is {states[run_id]}" for run_id in unfinished)
                    + "; raise timeout to wait longer",
                    final=False,
                )
            time.sleep(min(self.poll_interval, remaining))
        failed = [current[run_id] for run_id in ids if states[run_id] == "failed"]
        if failed:
            raise KapsoRunError(
                "Kapso template sync failed: "
                + "; ".join(
                    f"Business Account {run.get('business_account_id')} (sync {run.get('id')}): "
                    f"{run.get('error_class') or 'error'}: {run.get('error_message') or 'no error message'}"
                    for run in failed
                ),
                final=False,
            )
        return status


# -- templates kept in version control, published to WhatsApp (current API) -----------------------------------

#: The review outcomes after which a published template changes no more (the template view's lower case).
REVIEW_FINAL_STATUSES = frozenset({"approved", "rejected"})
_TEMPLATE_KEYS = frozenset({"name", "language_code", "language", "category", "components", "parameter_format"})


def _desired(value: object, where: str, problems: list[str]) -> dict[str, Any] | None:
    """One template as version control holds it, checked; ``language`` is taken for ``language_code``."""
    from kapso_provider.api.v1.templates import TEMPLATE_CATEGORIES, TEMPLATE_PARAMETER_FORMATS, check_components
    from kapso_provider.validation import check_choice

    if not isinstance(value, Mapping):
        problems.append(f"{where}: must be a template object (name, language_code, category, components)")
        return None
    unknown = sorted(str(key) for key in value if key not in _TEMPLATE_KEYS)
    if unknown:
        problems.append(
            f"{where}: unknown field(s) {', '.join(unknown)}; a template takes {', '.join(sorted(_TEMPLATE_KEYS))}"
        )
    language = value.get("language_code", value.get("language"))
    found: list[str] = []
    check_text(found, "name", value.get("name"), required=True)
    check_text(found, "language_code", language, required=True)
    if value.get("category") is None:
        found.append("category: is required")
    check_choice(found, "category", value.get("category"), TEMPLATE_CATEGORIES)
    check_choice(found, "parameter_format", value.get("parameter_format"), TEMPLATE_PARAMETER_FORMATS)
    components = check_components(found, value.get("components"), required=True)
    problems.extend(f"{where}.{problem}" for problem in found)
    return {
        "name": value.get("name"),
        "language_code": language,
        "category": value.get("category"),
        "components": components,
        "parameter_format": value.get("parameter_format"),
    }


@dataclass(frozen=True)
class TemplatePublish:
    """Templates kept in version control, to be WhatsApp's: created or changed, then (optionally) waited for
    until WhatsApp's review approved or rejected each.

    :param templates: the templates, each ``name``, ``language_code``, ``category``, ``components`` and
        optionally ``parameter_format``.
    :param business_account_id: the WhatsApp Business Account; the connection's by default.
    :param wait: wait until every template is approved or rejected.
    :param poll_interval: seconds between two reads while waiting.
    :param timeout: seconds to wait at most.
    """

    templates: tuple[dict[str, Any], ...]
    business_account_id: str | None = None
    wait: bool = True
    poll_interval: float = 30.0
    timeout: float = 1800.0

    @classmethod
    def checked(
        cls,
        *,
        templates: object,
        business_account_id: object,
        wait_for_completion: object,
        poll_interval: object,
        timeout: object,
    ) -> TemplatePublish:
        """The publish from rendered operator arguments (a JSON text of the list included).

        :raises KapsoArgumentError: naming every template and argument at fault.
        """
        import json

        problems: list[str] = []
        if isinstance(templates, str):
            try:
                templates = json.loads(templates)
            except ValueError:
                problems.append("templates: rendered to text that is not JSON; pass a list of template objects")
        checked: list[dict[str, Any]] = []
        if not problems and (not isinstance(templates, list | tuple) or not templates):
            problems.append("templates: must be a non-empty list of template objects")
        elif not problems and isinstance(templates, list | tuple):
            for index, value in enumerate(templates):
                desired = _desired(value, f"templates[{index}]", problems)
                if desired is not None:
                    checked.append(desired)
            keys = [(t["name"], t["language_code"]) for t in checked]
            twice = sorted({key for key in keys if keys.count(key) > 1})
            problems += [f"templates: {name} ({language}) is given twice" for name, language in twice]
        check_text(problems, "business_account_id", business_account_id)
        wait, interval, limit = _wait_settings(problems, wait_for_completion, poll_interval, timeout)
        raise_problems(problems)
        return cls(tuple(checked), business_account_id, wait, interval, limit)  # type: ignore[arg-type]

    def run(self, hook: KapsoHook, log: WarningLog) -> dict[str, Any]:
        """Publish every template and, when waiting, follow WhatsApp's review to its verdicts.

        :returns: ``{"templates": [<view>...], "summary": {"created", "updated", "unchanged", "approved",
            "rejected", "pending"}}``.
        :raises KapsoRunError: final when WhatsApp rejected a template (each named); not final when the review
            did not finish within the timeout.
        """
        views = []
        for template in self.templates:
            view: dict[str, Any] = hook.publish_template(
                template["name"],
                language_code=template["language_code"],
                category=template["category"],
                components=template["components"],
                parameter_format=template["parameter_format"],
                business_account_id=self.business_account_id,
            )
            log.info("Template %s (%s): %s, %s", view["name"], view["language_code"], view["action"], view["status"])
            views.append(view)
        if self.wait:
            views = self._wait(hook, log, views)
        return {"templates": views, "summary": _summary(views)}

    def _wait(self, hook: KapsoHook, log: WarningLog, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.timeout
        while True:
            waiting = [view for view in views if view.get("status") not in REVIEW_FINAL_STATUSES]
            if not waiting:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KapsoRunError(
                    f"WhatsApp's review not finished after {self.timeout:g} s: "
                    + ", ".join(f"{v['name']} ({v['language_code']}) is {v.get('status')}" for v in waiting),
                    final=False,
                )
            time.sleep(min(self.poll_interval, remaining))
            views = [self._reread(hook, view) for view in views]
            log.info("WhatsApp's review: %s", ", ".join(f"{v['name']} {v.get('status')}" for v in views))
        rejected = [view for view in views if view.get("status") == "rejected"]
        if rejected:
            raise KapsoRunError(
                "WhatsApp rejected template(s): "
                + ", ".join(f"{view['name']} ({view['language_code']})" for view in rejected),
                final=True,
            )
        return views

    def _reread(self, hook: KapsoHook, view: dict[str, Any]) -> dict[str, Any]:
        if view.get("status") in REVIEW_FINAL_STATUSES:
            return view
        found = hook.find_template(
            view["name"], language_code=view["language_code"], business_account_id=self.business_account_id
        )
        # Not listed yet (the proxy's copy is synced by Kapso): still pending.
        return view if found is None else {**found, "action": view.get("action")}


def _summary(views: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("created", "updated", "unchanged", "approved", "rejected", "pending")
    counts = dict.fromkeys(keys, 0)
    for view in views:
        for key in (view.get("action"), view.get("status")):
            if key in counts:
                counts[key] += 1
    return counts
