"""v1's template sync: jobs that import the templates a test put "on Meta" into the store.

A sync is a job: it is ``queued`` when requested and moves one step on every ``sync_status`` read that
includes it (``running``, then its outcome), so a client polling it sees it progress and finish without
depending on time. When it succeeds, the templates the test put "on Meta" (:meth:`TemplateSync.add_meta_template`)
are created or updated in the store, and the run counts them.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._templates import TEMPLATE_CATEGORIES

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._store import Store

__all__ = ["SYNC_ACTIVE", "SYNC_OUTCOMES", "TemplateSync"]

SYNC_ACTIVE = ("queued", "running")
SYNC_OUTCOMES = ("succeeded", "failed")


def _counts() -> dict[str, int]:
    return {"templates_synced": 0, "templates_created": 0, "templates_updated": 0, "templates_removed": 0}


class TemplateSync:
    """Sync runs, the templates "on Meta" and planned failures. Callers hold the store's lock.

    :param store: the simulator's store.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._runs: dict[str, dict[str, Any]] = {}
        self._reads: dict[str, int] = {}
        self._outcomes: dict[str, tuple[str, str | None, str | None]] = {}
        self._meta_templates: list[dict[str, Any]] = []
        self._next_failure: tuple[str, str] | None = None
        #: Status reads a run takes to finish; ``None``: it never finishes.
        self.steps: int | None = 2

    def add_meta_template(
        self, *, name: str, language: str, content: str, category: str, status: str, business_account_id: str | None
    ) -> None:
        """Put a template "on Meta"; see :meth:`TemplateAdminGroup.add_meta_template`."""
        if category not in TEMPLATE_CATEGORIES:
            raise ValueError(f"category must be one of {TEMPLATE_CATEGORIES}")
        waba = business_account_id or self._store.config(self._store.default_config_id)["business_account_id"]
        self._meta_templates.append(
            {
                "name": name,
                "language": language,
                "content": content,
                "category": category,
                "status": status,
                "business_account_id": waba,
            }
        )

    def fail_next(self, error_class: str, error_message: str) -> None:
        """Make the next run requested end ``failed`` with this error."""
        self._next_failure = (error_class, error_message)

    def runs(self) -> list[dict[str, Any]]:
        """Every run (copies), oldest first."""
        return copy.deepcopy(list(self._runs.values()))

    def reset(self) -> None:
        """Forget runs, Meta templates and planned failures; ``steps`` back to 2."""
        self._runs.clear()
        self._reads.clear()
        self._outcomes.clear()
        self._meta_templates.clear()
        self._next_failure = None
        self.steps = 2

    def request(self, config_ids: list[str]) -> dict[str, Any]:
        """Queue a sync of the Business Accounts of ``config_ids``; returns the 202 answer's body.

        :param config_ids: the configs the request named.
        """
        by_waba: dict[str, list[str]] = {}
        for key in config_ids:
            by_waba.setdefault(self._store.config(key)["business_account_id"], []).append(key)
        runs, enqueued, in_progress = [], 0, 0
        for waba, affected in by_waba.items():
            active = next(
                (
                    run
                    for run in self._runs.values()
                    if run["business_account_id"] == waba and run["status"] in SYNC_ACTIVE
                ),
                None,
            )
            if active is not None:
                # One active sync per Business Account: Kapso answers the existing one.
                in_progress += 1
                runs.append(copy.deepcopy(active))
                continue
            runs.append(self._new_run(waba, affected))
            enqueued += 1
        return {
            "status": "queued",
            "sync_requests": runs,
            "summary": {"total_requests": len(runs), "jobs_enqueued": enqueued, "already_in_progress": in_progress},
        }

    def status(self, query: Mapping[str, str], wabas: set[str] | None) -> dict[str, Any]:
        """Read (and so advance) the runs a status request selects; returns the answer's body.

        :param query: the request's query (``sync_request_ids``).
        :param wabas: only runs of these Business Accounts; ``None`` for all.
        """
        runs = sorted(self._runs.values(), key=lambda run: str(run["queued_at"]), reverse=True)
        raw_ids = query.get("sync_request_ids")
        if raw_ids:
            wanted = {value for value in raw_ids.split(",") if value}
            runs = [run for run in runs if run["id"] in wanted]
        else:
            # Without ids: the latest run of each Business Account.
            latest: dict[str, dict[str, Any]] = {}
            for run in runs:
                latest.setdefault(run["business_account_id"], run)
            runs = list(latest.values())
        if wabas is not None:
            runs = [run for run in runs if run["business_account_id"] in wabas]
        for run in runs:
            self._advance(run)
        finished = [str(run["finished_at"]) for run in runs if run["finished_at"]]
        summary = {
            "total_requests": len(runs),
            **{status: sum(run["status"] == status for run in runs) for status in (*SYNC_ACTIVE, *SYNC_OUTCOMES)},
            "last_finished_at": max(finished) if finished else None,
            "templates_removed": sum(int(run["templates_removed"]) for run in runs),
        }
        return {"sync_requests": copy.deepcopy(runs), "summary": summary}

    def _new_run(self, waba: str, affected: list[str]) -> dict[str, Any]:
        anchor = self._store.config(affected[0])
        run: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "business_account_id": waba,
            "anchor_whatsapp_config_id": anchor["id"],
            "status": "queued",
            **_counts(),
            "queued_at": self._store.now(),
            "started_at": None,
            "finished_at": None,
            "job_id": f"job-{uuid.uuid4().hex[:12]}",
            "error_class": None,
            "error_message": None,
            "results": {},
            "affected_whatsapp_config_ids": list(affected),
            "anchor_whatsapp_config": anchor,
        }
        failure = self._next_failure
        self._next_failure = None
        self._outcomes[run["id"]] = ("failed", *failure) if failure else ("succeeded", None, None)
        self._runs[run["id"]] = run
        self._reads[run["id"]] = 0
        return copy.deepcopy(run)

    def _advance(self, run: dict[str, Any]) -> None:
        """One status read of a run: it starts, then finishes once it has been read ``steps`` times."""
        if run["status"] not in SYNC_ACTIVE:
            return
        self._reads[run["id"]] += 1
        if run["started_at"] is None:
            run["status"] = "running"
            run["started_at"] = self._store.now()
        if self.steps is None or self._reads[run["id"]] < self.steps:
            return
        outcome, error_class, error_message = self._outcomes[run["id"]]
        if outcome == "succeeded":
            self._import(run)
        else:
            run["error_class"] = error_class
            run["error_message"] = error_message
        run["status"] = outcome
        run["finished_at"] = self._store.now()

    def _import(self, run: dict[str, Any]) -> None:
        """Create or update the store's templates from the Meta templates of the run's account."""
        waba = run["business_account_id"]
        totals = _counts()
        templates = self._store.templates
        for meta in self._meta_templates:
            if meta["business_account_id"] != waba:
                continue
            existing = templates.find(meta["name"], meta["language"], waba)
            if existing is None:
                templates.create(
                    name=meta["name"],
                    language=meta["language"],
                    category=meta["category"],
                    status=meta["status"],
                    content=meta["content"],
                    parameter_count=None,
                    components=None,
                    whatsapp_config_ids=list(run["affected_whatsapp_config_ids"]),
                )
                totals["templates_created"] += 1
            else:
                templates.update(
                    existing["id"],
                    category=meta["category"],
                    status=meta["status"],
                    components=[{"type": "BODY", "text": meta["content"]}],
                )
                totals["templates_updated"] += 1
            totals["templates_synced"] += 1
        run.update(totals)
        run["results"] = {config_id: dict(totals) for config_id in run["affected_whatsapp_config_ids"][:1]}
