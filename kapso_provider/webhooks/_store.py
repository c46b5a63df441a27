"""Where deliveries are claimed while a handler works on them, and remembered once it has handled them.

The contract (:class:`IdempotencyStore`) is three atomic operations on one key at a time, so that Redis
(``SET NX PX``) or a database table with a unique key can back it; :class:`InMemoryIdempotencyStore` is the
per-process default.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["ClaimState", "IdempotencyStore", "InMemoryIdempotencyStore"]

ClaimState = Literal["claimed", "in_progress", "handled"]
"""What :meth:`IdempotencyStore.claim` found: the key is now ours, someone else's for now, or done."""


class IdempotencyStore(Protocol):
    """Claims and handled marks of delivery keys; back it with Redis or a database table to share it.

    Every method acts on one key atomically. The verifier gives each delivery a fresh random ``token`` and
    claims all of the delivery's keys with it; it marks them handled after the handler succeeded, and
    releases them when it failed, so that Kapso's retry is handled.
    """

    def claim(self, key: str, *, token: str, lease_seconds: float) -> ClaimState:
        """Claim ``key`` for ``token`` unless it is handled or claimed by a live claim of another token.

        :param key: the delivery key (at most a few hundred characters).
        :param token: the claimant; unique per delivery attempt.
        :param lease_seconds: how long the claim lasts if it is neither marked handled nor released (a
            handler that crashed): after that, a retry of the delivery may claim the key.
        :returns: ``"handled"`` if the key was marked handled; ``"in_progress"`` if another token holds a
            claim that has not expired; otherwise ``"claimed"``, after recording the claim.
        """
        ...

    def mark_handled(self, key: str, *, token: str) -> None:
        """Remember ``key`` as handled (for as long as the store keeps keys), replacing any claim on it."""
        ...

    def release(self, key: str, *, token: str) -> None:
        """Drop the claim of ``token`` on ``key``; leave a handled key, or another token's claim, alone."""
        ...


_HANDLED = ""  # the holder of a handled key: no token is ever empty


class InMemoryIdempotencyStore:
    """The claims and handled keys of this process, at most ``max_keys`` of them (thread-safe).

    When full, the least recently used key is forgotten first: a retry whose key was forgotten is handled
    again. Use a shared store when several processes or replicas receive deliveries.

    :param max_keys: how many keys to remember, at least 1. A delivery uses one or two keys.
    :param clock: seconds on a monotonic clock, for claim expiry.
    """

    def __init__(self, max_keys: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys: {max_keys!r} must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        # key -> (holder token, or _HANDLED; when the claim expires)
        self._keys: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(max_keys={self.max_keys})"

    def claim(self, key: str, *, token: str, lease_seconds: float) -> ClaimState:
        """Claim ``key`` for ``token``; see :meth:`IdempotencyStore.claim`."""
        with self._lock:
            now = self._clock()
            entry = self._keys.get(key)
            if entry is not None:
                holder, expires_at = entry
                if holder == _HANDLED:
                    self._keys.move_to_end(key)
                    return "handled"
                if holder != token and expires_at > now:
                    return "in_progress"
            self._remember(key, (token, now + lease_seconds))
            return "claimed"

    def mark_handled(self, key: str, *, token: str) -> None:
        """Remember ``key`` as handled."""
        with self._lock:
            self._remember(key, (_HANDLED, float("inf")))

    def release(self, key: str, *, token: str) -> None:
        """Drop ``token``'s claim on ``key``."""
        with self._lock:
            entry = self._keys.get(key)
            if entry is not None and entry[0] == token:
                del self._keys[key]

    def _remember(self, key: str, entry: tuple[str, float]) -> None:
        self._keys[key] = entry
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)
