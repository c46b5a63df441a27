"""The provider's part of starting deferred waits, in one event loop as a trigger runner starts them.

Used by ``benchmarks/waits.py``: rebuild N Kapso triggers from their serialized kwargs and have each one's
hook join the loop's shared connection (one connection lookup, one ``httpx.AsyncClient``, one pacer), in a
fresh interpreter (``python -m benchmarks._waits_start --waits N``), timing the CPU and tracing the memory
they hold. Also the question every benchmark wait asks, as the ask operator builds it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from benchmarks._common import Summary, child_env, run_module


def question_parts(index: int, phone_number: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A two-option question as the ask operator builds it: the v1 message object, the spec, the option ids."""
    from kapso_provider.services.ask import Option, build_question
    from kapso_provider.utils.replies import ReplySpec, digits, option_ids

    ids = option_ids(f"bench/question/{index}", 2)
    options = [Option("approve", "Approve"), Option("reject", "Reject")]
    message = build_question(f"Approve order {index}?", options, ids=ids)
    spec = ReplySpec(
        option_ids=tuple(ids),
        option_keys=("approve", "reject"),
        option_titles=("Approve", "Reject"),
        accept_text=True,
        allowed_numbers=(digits(phone_number),),
    )
    return message.to_message_object(), spec.to_json(), ids


@dataclass(frozen=True)
class StartCost:
    """The provider's part of starting ``waits`` deferred waits in one event loop, as a trigger runner does.

    :param first_hook_seconds: CPU of the loop's first hook: importing the async hook and httpx, the one
        connection lookup, the one ``httpx.AsyncClient``.
    :param build_seconds: CPU to rebuild every trigger from its serialized kwargs.
    :param join_seconds: CPU for every trigger's hook to join the loop's shared connection (with one lookup
        and one client each round), per round.
    :param kib_per_wait: memory each trigger and its hook hold (``tracemalloc``).
    """

    waits: int
    first_hook_seconds: float
    build_seconds: float
    join_seconds: Summary
    kib_per_wait: float

    @property
    def total_seconds(self) -> float:
        """Everything, the one-off imports included."""
        return self.first_hook_seconds + self.build_seconds + self.join_seconds.median


def _serialized_triggers(waits: int) -> list[tuple[str, str]]:
    """Half status waits, half questions, each on a conversation of its own, as (kind, kwargs JSON)."""
    from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger, KapsoReplyTrigger

    _, spec, _ = question_parts(0, "+15550000000")
    serialized = []
    for index in range(waits):
        conversation = f"00000000-0000-4000-8000-{index:012d}"
        message = f"10000000-0000-4000-8000-{index:012d}"
        trigger: KapsoMessageStatusTrigger | KapsoReplyTrigger
        if index % 2 == 0:
            trigger = KapsoMessageStatusTrigger(message_id=message, conversation_id=conversation, poll_interval=30)
        else:
            trigger = KapsoReplyTrigger(
                conversation_id=conversation,
                question_message_id=message,
                question_created_at="2026-01-01T00:00:00Z",
                spec=spec,
                poll_interval=30,
            )
        serialized.append(("status" if index % 2 == 0 else "question", json.dumps(trigger.serialize()[1])))
    return serialized


def _start_cost_child(waits: int, repeat: int) -> int:
    """The child side of :func:`start_cost`: prints what :class:`StartCost` holds, as JSON."""
    import asyncio
    import gc
    import tracemalloc

    # Never contacted: joining the shared connection looks it up and builds the client, and sends nothing.
    os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"] = json.dumps(
        {"conn_type": "kapso", "host": "http://127.0.0.1:9/api/v1", "password": "bench-api-key"}
    )
    from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger, KapsoReplyTrigger

    serialized = _serialized_triggers(waits)
    classes: dict[str, Any] = {"status": KapsoMessageStatusTrigger, "question": KapsoReplyTrigger}

    def build() -> list[Any]:
        return [classes[kind](**json.loads(kwargs)) for kind, kwargs in serialized]

    async def join(triggers: list[Any]) -> list[Any]:
        hooks = [trigger.new_hook() for trigger in triggers]
        await asyncio.gather(*(hook.get_client() for hook in hooks))
        return hooks

    async def leave(hooks: list[Any]) -> None:
        await asyncio.gather(*(hook.aclose() for hook in hooks))

    async def measure() -> dict[str, Any]:
        started = time.process_time()
        await leave(await join(build()[:1]))
        first_hook = time.process_time() - started
        builds, joins = [], []
        for _ in range(repeat):
            gc.collect()
            started = time.process_time()
            triggers = build()
            built = time.process_time()
            hooks = await join(triggers)
            joins.append(time.process_time() - built)
            builds.append(built - started)
            await leave(hooks)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        hooks = await join(build())
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        await leave(hooks)
        return {
            "waits": waits,
            "first_hook_seconds": first_hook,
            "build_seconds": Summary.of(builds).median,
            "join_seconds": joins,
            "kib_per_wait": held / 1024 / waits,
        }

    print(json.dumps(asyncio.run(measure())))
    return 0


def start_cost(waits: int, *, repeat: int = 5) -> StartCost:
    """CPU and memory of the provider's part of starting ``waits`` waits, in a fresh interpreter."""
    with tempfile.TemporaryDirectory(prefix="kapso-bench-start-") as home:
        out = run_module(
            "benchmarks._waits_start",
            *("--waits", str(waits), "--repeat", str(repeat)),
            env=child_env(AIRFLOW_HOME=home),
            what="measuring the start cost",
        )
    found = json.loads(out.strip().splitlines()[-1])
    return StartCost(
        waits=found["waits"],
        first_hook_seconds=found["first_hook_seconds"],
        build_seconds=found["build_seconds"],
        join_seconds=Summary.of(found["join_seconds"]),
        kib_per_wait=found["kib_per_wait"],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waits", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    return _start_cost_child(args.waits, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
