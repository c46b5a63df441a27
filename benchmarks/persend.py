"""Per-send overhead: ``KapsoHook.send_message`` against a bare ``requests.Session`` POST of the same body.

The simulator runs in a process of its own with no latency, so what differs between the two is the client
side alone. Sends alternate one by one (which of the two goes first flips every round), so drift on a
busy machine hits both alike.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import time
from dataclasses import dataclass
from typing import Any

from benchmarks._common import Summary, simulator_process

TARGET_RATIO = 1.15
PHONE_NUMBER = "+15550100001"
MESSAGE = {"message_type": "text", "content": "Your order has shipped"}


@dataclass(frozen=True)
class PerSendResult:
    sends: int
    rounds: int
    hook_seconds: Summary
    bare_seconds: Summary
    round_ratios: Summary
    profile_share_in_requests: float
    profile_hook_own_seconds: float

    @property
    def ratio(self) -> float:
        return self.hook_seconds.median / self.bare_seconds.median


def _cumulative(stats: dict[Any, Any], filename_end: str, function: str) -> float:
    return float(
        sum(
            entry[3]
            for (filename, _, name), entry in stats.items()
            if filename.endswith(filename_end) and name == function
        )
    )


def per_send(*, sends_per_round: int, rounds: int) -> PerSendResult:
    import requests

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.models import parse_message

    with simulator_process() as simulator:
        os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"] = json.dumps(
            {"conn_type": "kapso", "host": simulator.base_url, "password": simulator.api_key}
        )
        hook = KapsoHook()
        url = simulator.base_url + "/whatsapp_messages"
        body = parse_message(MESSAGE).to_body(phone_number=PHONE_NUMBER)
        headers = {"X-API-Key": simulator.api_key}
        session = requests.Session()
        # The hook ignores proxy variables and ~/.netrc (trust_env off); the baseline must not pay for
        # reading them on every request either, or it would flatter the hook.
        session.trust_env = False

        def hook_send() -> None:
            hook.send_message(MESSAGE, phone_number=PHONE_NUMBER)

        def bare_send() -> None:
            response = session.post(url, json=body, headers=headers, timeout=30)
            response.raise_for_status()
            response.json()

        for _ in range(50):  # connections opened, code paths warm
            hook_send()
            bare_send()

        hook_times: list[float] = []
        bare_times: list[float] = []
        ratios: list[float] = []
        for round_number in range(rounds):
            round_hook: list[float] = []
            round_bare: list[float] = []
            pair = (hook_send, bare_send) if round_number % 2 == 0 else (bare_send, hook_send)
            for _ in range(sends_per_round):
                for send in pair:
                    started = time.perf_counter()
                    send()
                    elapsed = time.perf_counter() - started
                    (round_hook if send is hook_send else round_bare).append(elapsed)
            hook_times.extend(round_hook)
            bare_times.extend(round_bare)
            ratios.append(Summary.of(round_hook).median / Summary.of(round_bare).median)

        # Where the hook's time goes: inside requests (shared with the baseline) or in its own code.
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(300):
            hook_send()
        profiler.disable()
        stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
        # The whole hook send, wherever the hook defines it (its endpoint methods are generated).
        total = _cumulative(stats, os.path.join("benchmarks", "persend.py"), "hook_send")
        inside_requests = _cumulative(stats, os.path.join("requests", "sessions.py"), "request")
        hook.close()
        session.close()
        del os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"]
    return PerSendResult(
        sends=sends_per_round * rounds,
        rounds=rounds,
        hook_seconds=Summary.of(hook_times),
        bare_seconds=Summary.of(bare_times),
        round_ratios=Summary.of(ratios),
        profile_share_in_requests=inside_requests / total,
        profile_hook_own_seconds=(total - inside_requests) / 300,
    )
