"""A bulk send's durable checkpoint: what a retry needs to read in Kapso, and what it may skip or just send.

Kapso takes no idempotency key, so without a record of its own a retried bulk send can only look every
recipient up (one or two reads each). While it sends, the task keeps a small JSON record in Airflow's metadata
database (:class:`Checkpoint`): the ranges of entries confirmed sent, the ranges that failed, and a
*horizon* below which every request that may have left lies. A retry then skips the confirmed entries, looks up
only the failed ones and those below the horizon (in flight when the try died), and sends the rest without
reading anything.

The horizon is written *before* any request beyond it may leave (:meth:`Checkpointer.admit` holds a thread
until then), so a worker killed at any point, even between a send and the write that would have confirmed
it, leaves a record that is never wrong: an entry is either confirmed, or looked up. The number of entries
below the horizon and not confirmed is kept at ``max_concurrency`` + :data:`WRITE_EVERY` at most, which
bounds the reads of a retry; the cost is one write every :data:`WRITE_EVERY` outcomes (and at most one a
second otherwise). ``docs/bulk.md`` gives the figures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Outcomes recorded between two writes of the checkpoint, at most (and so the entries a retry reads back
#: beyond the ones in flight).
WRITE_EVERY = 3
#: Seconds after which outcomes not yet written are written anyway.
WRITE_INTERVAL = 1.0
#: Ranges of confirmed or failed entries a checkpoint may hold; past this (many scattered failures) the
#: send goes on without a checkpoint and a retry looks every recipient up.
MAX_RANGES = 2000
#: The key of the checkpoint in the task state store (Airflow >= 3.3).
STATE_KEY = "kapso_bulk_checkpoint"
#: Format of the record; a retry ignores a record of another version.
VERSION = 1
#: Airflow refuses longer Variable keys.
_MAX_VARIABLE_KEY = 250


class CheckpointStore(Protocol):
    """Where a checkpoint lives between tries: one JSON value per task instance, durable across workers."""

    #: Where it is, for the log.
    description: str

    def load(self) -> Any:
        """The stored value, or ``None``."""
        ...

    def save(self, value: dict[str, Any]) -> None:
        """Replace the stored value; returns once it is durable."""
        ...


class TaskStateCheckpointStore:
    """The task state store of Airflow >= 3.3 (``context["task_state_store"]``): rows in the metadata
    database scoped to one task instance of one DAG run, shared by its tries, kept for
    ``[state_store] default_retention_days`` (30 by default)."""

    description = "the task state store"

    def __init__(self, accessor: Any) -> None:
        self._accessor = accessor

    def load(self) -> Any:
        return self._accessor.get(STATE_KEY)

    def save(self, value: dict[str, Any]) -> None:
        self._accessor.set(STATE_KEY, value)


class VariableCheckpointStore:
    """An Airflow Variable, where Airflow has no task state store (< 3.3): the only store a task can both
    write and read back on its next try (a task's XComs are cleared when it is retried)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.description = f"the Airflow Variable {key!r}"

    def load(self) -> Any:
        from airflow.providers.common.compat.sdk import Variable

        # Positional: Airflow 2 calls the default ``default_var``, the task SDK ``default``.
        return Variable.get(self.key, None, True)

    def save(self, value: dict[str, Any]) -> None:
        from airflow.providers.common.compat.sdk import Variable

        Variable.set(
            self.key,
            value,
            description="Progress of a Kapso bulk send, read by its retries; safe to delete once the run is done.",
            serialize_json=True,
        )


class JsonFileCheckpointStore:
    """A JSON file replaced atomically on each write: for a bulk send run outside Airflow (a script, a
    benchmark) on one machine. Inside a task the operator keeps its checkpoint in Airflow instead, since a
    retry may run on another worker."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.description = f"the file {path}"

    def load(self) -> Any:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None

    def save(self, value: dict[str, Any]) -> None:
        import os

        temporary = f"{self.path}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(value, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def variable_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The Variable of one task instance's checkpoint (hashed when Airflow's key length would be exceeded)."""
    key = f"kapso_bulk_checkpoint/{dag_id}/{run_id}/{task_id}" + (f"/{map_index}" if map_index >= 0 else "")
    if len(key) <= _MAX_VARIABLE_KEY:
        return key
    digest = hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
    return f"kapso_bulk_checkpoint/{dag_id[:100]}/{digest}"


def store_for(context: Mapping[str, Any]) -> CheckpointStore | None:
    """The store a task's checkpoint goes to: the task state store where Airflow has one, else a Variable;
    ``None`` outside a task instance."""
    accessor = context.get("task_state_store")
    if accessor is not None:
        return TaskStateCheckpointStore(accessor)
    ti = context.get("ti")
    dag_id, run_id, task_id = (getattr(ti, name, None) for name in ("dag_id", "run_id", "task_id"))
    if not (isinstance(dag_id, str) and isinstance(run_id, str) and isinstance(task_id, str)):
        return None
    map_index = getattr(ti, "map_index", -1)
    return VariableCheckpointStore(
        variable_key(dag_id, run_id, task_id, map_index if isinstance(map_index, int) else -1)
    )


class Ranges:
    """A set of entry indexes as sorted half-open ranges: small when the indexes mostly follow each other."""

    def __init__(self, pairs: list[list[int]] | None = None) -> None:
        self.starts = [start for start, _ in pairs or []]
        self.ends = [end for _, end in pairs or []]

    def __len__(self) -> int:
        return len(self.starts)

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int):
            return False
        position = bisect_right(self.starts, index) - 1
        return position >= 0 and index < self.ends[position]

    def count(self) -> int:
        """The indexes held."""
        return sum(end - start for start, end in zip(self.starts, self.ends, strict=True))

    def count_below(self, limit: int) -> int:
        """The indexes held below ``limit``."""
        held = 0
        for start, end in zip(self.starts, self.ends, strict=True):
            if start >= limit:
                break
            held += min(end, limit) - start
        return held

    def next_gap(self, index: int) -> int:
        """The first index at or after ``index`` that is not held."""
        position = bisect_right(self.starts, index) - 1
        return self.ends[position] if position >= 0 and index < self.ends[position] else index

    def add(self, index: int) -> None:
        starts, ends = self.starts, self.ends
        position = bisect_right(starts, index) - 1
        if position >= 0 and index < ends[position]:
            return
        joins_left = position >= 0 and ends[position] == index
        joins_right = position + 1 < len(starts) and starts[position + 1] == index + 1
        if joins_left and joins_right:
            ends[position] = ends[position + 1]
            del starts[position + 1], ends[position + 1]
        elif joins_left:
            ends[position] = index + 1
        elif joins_right:
            starts[position + 1] = index
        else:
            starts.insert(position + 1, index)
            ends.insert(position + 1, index + 1)

    def to_json(self) -> list[list[int]]:
        return [[start, end] for start, end in zip(self.starts, self.ends, strict=True)]

    @classmethod
    def from_json(cls, value: Any) -> Ranges:
        if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(n, int) for n in pair) for pair in value
        ):
            raise ValueError("ranges: expected a list of [start, end] pairs")
        return cls([list(pair) for pair in value])


@dataclass(frozen=True)
class Checkpoint:
    """What an earlier try left: confirmed and failed entries, and the horizon of requests that may have left.

    :param fingerprint: digest of the input and the message; a retry that reads another input ignores it.
    :param horizon: no request for an entry at or past this index ever left.
    :param confirmed: entries sent (or merged into an earlier entry), by an earlier try.
    :param failed: entries whose send failed; a retry looks them up before sending again.
    """

    fingerprint: str
    horizon: int
    confirmed: Ranges
    failed: Ranges

    @classmethod
    def from_json(cls, value: Any) -> Checkpoint | None:
        """The checkpoint in a stored value, or ``None`` for a value that is not a usable one."""
        if not isinstance(value, dict) or value.get("version") != VERSION or not value.get("usable"):
            return None
        try:
            horizon, fingerprint = value["horizon"], value["fingerprint"]
            if not isinstance(horizon, int) or not isinstance(fingerprint, str):
                return None
            return cls(fingerprint, horizon, Ranges.from_json(value["confirmed"]), Ranges.from_json(value["failed"]))
        except (KeyError, ValueError):
            return None


class Plan(Enum):
    """What a try does with one entry."""

    #: An earlier try's send was confirmed: nothing to do.
    SKIP = "skip"
    #: An earlier try may have sent it: look it up in Kapso, send when absent.
    LOOK_UP = "look up"
    #: No earlier try sent it: send.
    SEND = "send"


class Checkpointer:
    """Keeps one bulk send's checkpoint: plans each entry from the earlier try's record, admits requests
    below the horizon, and writes the record as outcomes come in.

    The sender's loop calls :meth:`start`, :meth:`record`, :meth:`check` and :meth:`finish` (or :meth:`abort`);
    worker threads call :meth:`admit`. Writes run in a thread of their own, back to back while outcomes keep
    coming, so a slow store (a write through Airflow's execution API takes tens of milliseconds) makes each
    write carry more outcomes instead of holding the sender up.

    :param store: where the record lives, or ``None`` for a send without one.
    :param fingerprint: digest of the input and the message.
    :param total: entries in the input.
    :param max_concurrency: sends in flight at once.
    :param retry: whether this is a retry (an earlier try may have sent something).
    :param log: where the decisions are told.
    """

    def __init__(
        self,
        *,
        store: CheckpointStore | None,
        fingerprint: str,
        total: int,
        max_concurrency: int,
        retry: bool,
        log: logging.Logger | Any = None,
    ) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.total = total
        self.retry = retry
        self.log = log or logging.getLogger(__name__)
        #: Entries below the horizon and not confirmed or failed, at most: those a retry would look up.
        self.open_limit = max_concurrency + WRITE_EVERY
        self.earlier: Checkpoint | None = None
        self.confirmed = Ranges()
        self.failed = Ranges()
        self.horizon = 0
        self.writes = 0
        self.write_seconds = 0.0
        self._done = Ranges()
        self._unwritten = 0
        self._last_write = 0.0
        self._active = store is not None
        self._aborted = False
        self._waiting = 0
        self._failure: BaseException | None = None
        self._writer_stop = False
        # One lock for the ranges, the horizon and the counters; the writer and held threads wait on it.
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None

    # -- the sender's loop --

    def start(self) -> None:
        """Read the earlier try's record, tell the log what this try does, write the first record."""
        if self.store is None:
            if self.retry:
                self.log.warning(
                    "Retry without a checkpoint (no task state store or Variable reachable here): every "
                    "recipient is looked up in Kapso before sending"
                )
            return
        if self.retry:
            self.earlier = self._read_earlier()
        if self.retry and self.earlier is None:
            # An earlier try may have sent to anyone: this try's record must not let a later retry send
            # without looking up first, so every entry stays "may have left" until it has an outcome.
            self.horizon = self.total
        elif self.earlier is not None:
            self.confirmed = Ranges(self.earlier.confirmed.to_json())
            self._done = Ranges(self.earlier.confirmed.to_json())
            self.horizon = self.earlier.horizon
            self.log.info(
                "Resuming from the checkpoint in %s: %d entries confirmed sent by an earlier try are skipped; "
                "%d that failed and at most %d that were in flight are looked up in Kapso; the rest is sent",
                self.store.description,
                self.confirmed.count(),
                self.earlier.failed.count(),
                max(0, self.horizon - self.confirmed.count_below(self.horizon) - self.earlier.failed.count()),
            )
        self.save()
        self._writer = threading.Thread(target=self._write_while_sending, name="kapso-bulk-checkpoint", daemon=True)
        self._writer.start()

    def _read_earlier(self) -> Checkpoint | None:
        assert self.store is not None
        stored = self.store.load()
        earlier = Checkpoint.from_json(stored)
        if earlier is None:
            why = "none was written" if stored is None else "the earlier try could not keep it"
            self.log.warning(
                "Retry without a usable checkpoint in %s (%s): every recipient is looked up in Kapso before "
                "sending, one or two reads each",
                self.store.description,
                why,
            )
        elif earlier.fingerprint != self.fingerprint:
            self.log.warning(
                "The checkpoint in %s belongs to another input (the recipients or the message changed since "
                "the earlier try): every recipient is looked up in Kapso before sending",
                self.store.description,
            )
            earlier = None
        return earlier

    def plan(self, index: int) -> Plan:
        """What this try does with entry ``index``."""
        if not self.retry:
            return Plan.SEND
        earlier = self.earlier
        if earlier is None:
            return Plan.LOOK_UP
        if index in earlier.confirmed:
            return Plan.SKIP
        return Plan.LOOK_UP if index < earlier.horizon or index in earlier.failed else Plan.SEND

    def record(self, index: int, *, confirmed: bool) -> None:
        """Entry ``index`` has an outcome: sent (or merged, or skipped as confirmed), or failed."""
        with self._changed:
            if not self._active:
                return
            (self.confirmed if confirmed else self.failed).add(index)
            self._done.add(index)
            self._unwritten += 1
            too_many = len(self.confirmed) + len(self.failed) > MAX_RANGES
            self._changed.notify_all()
        if too_many:
            self._give_up()

    def check(self) -> None:
        """Raise what made a write fail, if one did: the send must stop, as no later request may leave."""
        if self._failure is not None:
            raise self._failure

    def save_due(self) -> bool:
        """Whether enough outcomes (or time) went by for the next write."""
        if not self._active or not self._unwritten:
            return False
        return (
            self._unwritten >= WRITE_EVERY or self._waiting > 0 or time.monotonic() - self._last_write >= WRITE_INTERVAL
        )

    def save(self, *, usable: bool = True) -> None:
        """Write the record now; then admit requests up to its horizon."""
        if self.store is None:
            return
        with self._changed:
            horizon = self._next_horizon() if usable else self.horizon
            record: dict[str, Any] = {"version": VERSION, "usable": usable}
            if usable:
                record.update(
                    fingerprint=self.fingerprint,
                    total=self.total,
                    horizon=horizon,
                    confirmed=self.confirmed.to_json(),
                    failed=self.failed.to_json(),
                )
            self._unwritten = 0
        started = time.monotonic()
        self.store.save(record)
        finished = time.monotonic()
        with self._changed:
            self._last_write = finished
            self.writes += 1
            self.write_seconds += finished - started
            self.horizon = max(self.horizon, horizon)
            self._changed.notify_all()

    def _write_while_sending(self) -> None:
        while True:
            with self._changed:
                while not self._writer_done() and not self.save_due():
                    wait = self._last_write + WRITE_INTERVAL - time.monotonic() if self._unwritten else WRITE_INTERVAL
                    self._changed.wait(max(0.01, wait))
                if self._writer_done():
                    return
            try:
                self.save()
            except BaseException as exc:  # handed to the sender's loop, which raises it
                self._failure = exc
                self.abort()
                return

    def _writer_done(self) -> bool:
        return self._writer_stop or self._aborted or not self._active

    def _next_horizon(self) -> int:
        """The furthest horizon that leaves at most ``open_limit`` entries below it without an outcome."""
        done, horizon = self._done, self.horizon
        budget = self.open_limit - (horizon - done.count_below(horizon))
        while budget > 0 and horizon < self.total:
            horizon = done.next_gap(horizon)
            if horizon >= self.total:
                break
            horizon += 1
            budget -= 1
        return min(self.total, done.next_gap(horizon))

    def finish(self) -> None:
        """Stop the writer, write the last outcomes, and tell the log what the checkpoint cost."""
        self._stop_writer()
        self.check()
        if self._active and self._unwritten:
            self.save()
        if self.writes:
            self.log.info(
                "Checkpoint: %d writes to %s, %.1f ms each on average",
                self.writes,
                self.store.description if self.store else "nowhere",
                1000 * self.write_seconds / self.writes,
            )

    def abort(self) -> None:
        """The send stops (an error, or the task is killed): threads held by :meth:`admit` send nothing."""
        with self._changed:
            self._aborted = True
            self._changed.notify_all()

    def _stop_writer(self) -> None:
        with self._changed:
            self._writer_stop = True
            self._changed.notify_all()
        if self._writer is not None and self._writer is not threading.current_thread():
            self._writer.join()

    def _give_up(self) -> None:
        assert self.store is not None
        self.log.warning(
            "More than %d separate ranges of failed sends: the checkpoint stops here, and a retry will look "
            "every recipient up in Kapso",
            MAX_RANGES,
        )
        self._stop_writer()
        self.save(usable=False)
        with self._changed:
            self._active = False
            self._changed.notify_all()

    # -- worker threads --

    def admit(self, index: int) -> None:
        """Wait until a request for entry ``index`` may leave: once a written record shows it in flight.

        :raises SendAbortedError: the send stopped while this thread waited.
        """
        with self._changed:
            if index >= self.horizon and self._active:
                self._waiting += 1
                self._changed.notify_all()
                try:
                    self._changed.wait_for(lambda: self._aborted or not self._active or index < self.horizon)
                finally:
                    self._waiting -= 1
            if self._aborted:
                raise SendAbortedError(f"entry {index}: the bulk send stopped before this request left")


class SendAbortedError(Exception):
    """A request held back by the checkpoint was dropped because the send stopped."""


def fingerprint(*parts: Any) -> str:
    """A digest of JSON-able ``parts`` (the message design, the recipient settings, the input's digest)."""
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()
