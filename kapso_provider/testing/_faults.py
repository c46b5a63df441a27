"""Fault injection rules for the Kapso simulator."""

from __future__ import annotations

import copy
import enum
import random
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kapso_provider.testing._loopback import is_loopback

__all__ = ["DEFAULT_SLOW_DELAY", "REDIRECT_STATUSES", "Fault", "FaultBook", "FaultKind"]

#: The statuses a ``redirect`` fault may answer.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

#: How long ``slow_after_store`` holds the answer when no ``delay`` is given. Far longer than any sane
#: client timeout, yet short enough that a forgotten fault does not wedge a test session for minutes.
DEFAULT_SLOW_DELAY = 10.0


class FaultKind(enum.StrEnum):
    """What goes wrong on a request matched by a :class:`Fault`.

    "Store" only means something for writes (sends); on reads the ``*_before_store`` and
    ``*_after_store`` variants behave the same.
    """

    #: 429 with ``Retry-After`` and Kapso's rate-limit body, whatever the counters say.
    RATE_LIMIT = "rate_limit"
    #: 5xx in the Error shape; the request is not processed, nothing is stored.
    SERVER_ERROR_BEFORE_STORE = "server_error_before_store"
    #: The request is processed (a send is stored), then a 5xx is answered instead of the result.
    SERVER_ERROR_AFTER_STORE = "server_error_after_store"
    #: The connection is closed without any answer; nothing is stored.
    DROP_BEFORE_STORE = "drop_before_store"
    #: The request is processed (stored), then the connection is closed without any answer.
    DROP_AFTER_STORE = "drop_after_store"
    #: The request is processed (stored), the answer is held for ``delay`` seconds.
    SLOW_AFTER_STORE = "slow_after_store"
    #: The request is processed, the answer has its normal status but a truncated JSON body.
    MALFORMED_JSON = "malformed_json"
    #: 502 with an HTML page (``text/html``), as a proxy in front of Kapso would answer; nothing stored.
    HTML_ERROR = "html_error"
    #: A redirect (``status`` 301, 302, 303, 307 or 308; default 307) to ``location``, as a misconfigured
    #: proxy or a hostile host in front of Kapso would answer; the request is not processed.
    REDIRECT = "redirect"
    #: 409: another message to this recipient is still being sent (the proxy's ``MessageInFlightError``);
    #: nothing stored, retrying shortly succeeds.
    IN_FLIGHT = "in_flight"

    @property
    def processes_request(self) -> bool:
        """Whether the simulator handles the request normally before misbehaving."""
        return self in _PROCESSING_KINDS


_PROCESSING_KINDS = frozenset(
    {
        FaultKind.SERVER_ERROR_AFTER_STORE,
        FaultKind.DROP_AFTER_STORE,
        FaultKind.SLOW_AFTER_STORE,
        FaultKind.MALFORMED_JSON,
    }
)


@dataclass
class Fault:
    """One fault rule: which requests it hits and how often.

    :param kind: what goes wrong, see :class:`FaultKind`.
    :param method: HTTP method to match (any when ``None``).
    :param path: regular expression searched in (or plain substring of) the request path below
        ``/api/v1``, e.g. ``"whatsapp_messages"`` or ``r"^/whatsapp_conversations/[^/]+$"``.
    :param count: how many of the next matching requests are hit; ``None`` hits all of them. Ignored
        when ``probability`` is given.
    :param probability: fraction (0..1) of matching requests hit, for as long as the rule stays.
    :param status: HTTP status of the faulty answer (defaults: 429, 500, 502; for ``malformed_json`` the
        status the request would have had).
    :param delay: seconds waited before the faulty answer (``slow_after_store`` defaults to
        ``DEFAULT_SLOW_DELAY``).
    :param retry_after: ``Retry-After`` seconds sent with ``rate_limit`` (default 1).
    :param location: for ``redirect``, the ``Location`` answered: an ``http(s)`` URL of a loopback host
        (another test server on 127.0.0.1, say) or a path on the simulator itself.
    :param api: only requests to this API: ``v1``, ``meta`` (the WhatsApp Cloud API proxy) or ``platform``
        (any when ``None``).
    """

    kind: FaultKind
    method: str | None = None
    path: str | None = None
    count: int | None = 1
    probability: float | None = None
    status: int | None = None
    delay: float | None = None
    retry_after: int | None = None
    location: str | None = None
    api: str | None = None
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        if self.method is not None:
            self.method = self.method.upper()
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 or None")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.delay is not None and self.delay < 0:
            raise ValueError("delay must be >= 0")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.api is not None and self.api not in ("v1", "meta", "platform"):
            raise ValueError(f"api must be v1, meta or platform, not {self.api!r}")
        if self.kind is FaultKind.REDIRECT:
            self._check_redirect()
        elif self.location is not None:
            raise ValueError("location is only for redirect faults")
        if self.path is not None:
            try:
                self._pattern = re.compile(self.path)
            except re.error:
                # A path such as "/x?y" is meant literally; the substring test below still applies.
                self._pattern = None

    def _check_redirect(self) -> None:
        if self.status is not None and self.status not in REDIRECT_STATUSES:
            raise ValueError(f"status of a redirect must be one of {sorted(REDIRECT_STATUSES)}")
        if not self.location:
            raise ValueError("location is required for a redirect fault: where the redirect points")
        if self.location.startswith("/") and not self.location.startswith("//"):
            return
        target = urlsplit(self.location)
        if target.scheme not in ("http", "https") or not is_loopback(target.hostname or ""):
            # A test must never send a client under test off the machine.
            raise ValueError(f"location must be a path or an http(s) URL of a loopback host, not {self.location!r}")

    def matches(self, method: str, path: str, api: str = "v1") -> bool:
        """Whether the rule applies to a request, ignoring ``count`` and ``probability``.

        :param method: HTTP method of the request.
        :param path: request path below its API's prefix (``/whatsapp_messages``).
        :param api: the API of the request.
        """
        if self.method is not None and self.method != method.upper():
            return False
        if self.api is not None and self.api != api:
            return False
        if self.path is None:
            return True
        if self.path in path:
            return True
        return self._pattern is not None and self._pattern.search(path) is not None

    @property
    def exhausted(self) -> bool:
        """Whether a counted rule has hit all the requests it was meant for."""
        return self.probability is None and self.count is not None and self.hits >= self.count

    def fires(self, rng: random.Random) -> bool:
        """Decide whether this matching request is hit, and account for it.

        :param rng: the simulator's random source (seedable, so probabilistic tests are repeatable).
        """
        hit = rng.random() < self.probability if self.probability is not None else not self.exhausted
        if hit:
            self.hits += 1
        return hit

    def to_json(self) -> dict[str, Any]:
        """The rule as plain JSON data (for the control endpoints)."""
        return {
            "kind": self.kind.value,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "probability": self.probability,
            "status": self.status,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "location": self.location,
            "api": self.api,
            "hits": self.hits,
        }


class FaultBook:
    """The fault rules of one simulator, in the order added; thread-safe.

    :param seed: seed of the random source deciding probabilistic faults, for repeatable tests.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Add a rule after the others.

        :param fault: the rule.
        """
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str, api: str = "v1") -> Fault | None:
        """The first rule that matches a request and fires, accounted for; ``None`` when none does.

        :param method: HTTP method of the request.
        :param path: its path below the API prefix.
        :param api: the API of the request.
        """
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, api) and fault.fires(self._rng):
                    if fault.exhausted:
                        self._faults.remove(fault)
                    return copy.copy(fault)
        return None

    def rules(self) -> list[Fault]:
        """The rules still active (copies)."""
        with self._lock:
            return [copy.copy(fault) for fault in self._faults]

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._faults.clear()
