"""The broadcast service's rules, and finding an earlier try's broadcast on Kapso's clock with either hook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.services.broadcasts import BroadcastSettings, check_recipients

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing.pytest_plugin import KapsoServer


@pytest.fixture
def names(kapso_server: KapsoServer) -> dict[str, str]:
    template = kapso_server.simulator.create_template("promo", category="MARKETING", content="Hi {{1}}")
    return {
        "name": "Weekly",
        "whatsapp_config_id": kapso_server.simulator.default_whatsapp_config_id,
        "whatsapp_template_id": template["id"],
    }


class TestFindBroadcast:
    @pytest.mark.usefixtures("kapso_clock")
    @pytest.mark.parametrize("gap", [10, 100])
    def test_a_broadcast_made_before_the_run_started_is_not_the_earlier_trys(
        self, hook: KapsoHook, call: Callable[..., Any], names: dict[str, str], gap: int
    ) -> None:
        hook.create_broadcast(**names)
        # This run started `gap` seconds after that broadcast was made, by this machine's clock.
        assert call("find_broadcast", **names, since=datetime.now(UTC) + timedelta(seconds=gap)) is None

    @pytest.mark.usefixtures("kapso_clock")
    def test_the_newest_of_this_runs_broadcasts_is_found(
        self, hook: KapsoHook, call: Callable[..., Any], names: dict[str, str]
    ) -> None:
        run_started = datetime.now(UTC) - timedelta(seconds=30)
        hook.create_broadcast(**{**names, "name": "Other"})
        hook.create_broadcast(**names)
        newest = hook.create_broadcast(**names)
        assert call("find_broadcast", **names, since=run_started)["id"] == newest["id"]

    def test_a_naive_since_is_refused_before_any_request(
        self, hook: KapsoHook, names: dict[str, str], kapso_server: KapsoServer
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=r"^since: must be a timezone-aware datetime"):
            hook.find_broadcast(**names, since=datetime.now())
        assert kapso_server.simulator.requests == []


class TestSettings:
    def test_rendered_text_is_read(self) -> None:
        settings = BroadcastSettings.checked(
            send="true",
            wait_for_completion="yes",
            poll_interval="2.5",
            timeout="None",
            batch_size="500",
            tolerate_recipient_errors="0.1",
        )
        assert settings == BroadcastSettings(True, True, 2.5, None, 500, 0.1)

    def test_every_bad_setting_is_named_at_once(self) -> None:
        with pytest.raises(KapsoArgumentError) as info:
            BroadcastSettings.checked(
                send=False,
                wait_for_completion=True,
                poll_interval=0,
                timeout=-1,
                batch_size=1001,
                tolerate_recipient_errors="many",
            )
        fields = [problem.split(":")[0] for problem in info.value.problems]
        assert fields == ["tolerate_recipient_errors", "wait_for_completion", "poll_interval", "timeout", "batch_size"]


class TestRecipients:
    def test_every_bad_recipient_is_counted_and_the_first_are_listed(self) -> None:
        items = [(f"recipients[{index}]", "call me") for index in range(25)] + [("recipients[25]", "+15551234567")]
        with pytest.raises(KapsoArgumentError) as info:
            check_recipients(items)
        problems = info.value.problems
        assert problems[0].startswith("recipients[0].phone_number: ")
        assert len(problems) == 21
        assert problems[-1] == "... and 5 more with a problem"

    def test_none_at_all_is_refused(self) -> None:
        with pytest.raises(KapsoArgumentError, match="none given; a broadcast needs at least one recipient"):
            check_recipients([])
