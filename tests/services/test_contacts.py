"""A contact note added once: the earlier try's note found on Kapso's clock with either hook."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.services.contacts import ContactNote

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
NOTE: dict[str, Any] = {"content": "Spring offer sent", "name": "Spring", "metadata": {"campaign": "spring"}}
LOG = logging.getLogger(__name__)


@pytest.fixture
def contact(kapso_server: KapsoServer) -> dict[str, Any]:
    return kapso_server.simulator.contacts.add_contact(PHONE, profile_name="Ada")


@pytest.mark.usefixtures("kapso_clock")
class TestFindContactNote:
    @pytest.mark.parametrize("gap", [10, 100])
    def test_a_note_stored_before_the_run_started_is_not_the_earlier_trys(
        self, hook: KapsoHook, call: Callable[..., Any], contact: dict[str, Any], gap: int
    ) -> None:
        hook.create_contact_note(contact["id"], **NOTE)
        assert call("find_contact_note", PHONE, **NOTE, since=datetime.now(UTC) + timedelta(seconds=gap)) is None

    def test_this_runs_note_is_found_and_only_one_alike(
        self, hook: KapsoHook, call: Callable[..., Any], contact: dict[str, Any]
    ) -> None:
        run_started = datetime.now(UTC) - timedelta(seconds=30)
        hook.create_contact_note(contact["id"], **{**NOTE, "metadata": {"campaign": "summer"}})
        mine = hook.create_contact_note(contact["id"], **NOTE)
        assert call("find_contact_note", contact["id"], **NOTE, since=run_started) == mine


class TestContactNote:
    @pytest.mark.parametrize(("since_from_now", "creates"), [(None, True), (-30, False), (30, True)])
    def test_added_once(
        self,
        hook: KapsoHook,
        contact: dict[str, Any],
        kapso_server: KapsoServer,
        since_from_now: int | None,
        creates: bool,
    ) -> None:
        earlier = hook.create_contact_note(contact["id"], **NOTE)
        since = None if since_from_now is None else datetime.now(UTC) + timedelta(seconds=since_from_now)
        note = ContactNote.checked(contact=PHONE, **NOTE).add(hook, LOG, earlier_try_since=since)
        assert (note["id"] == earlier["id"]) is not creates
        assert len(kapso_server.simulator.contacts.notes(contact["id"])) == (2 if creates else 1)

    def test_every_bad_argument_is_named_at_once(self) -> None:
        with pytest.raises(KapsoArgumentError) as info:
            ContactNote.checked(contact="+12 34", content=" ", name="", metadata=["a"])
        assert [problem.split(":")[0] for problem in info.value.problems] == ["contact", "content", "name", "metadata"]
