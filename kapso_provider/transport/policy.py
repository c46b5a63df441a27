"""What is tried again, when, and what is looked for before a send goes again: :class:`RetryPolicy`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

from kapso_provider.exceptions import KapsoAPIError, KapsoConfigurationError, KapsoRateLimitError, KapsoServerError


@dataclass(frozen=True)
class RetryPolicy:
    """How the hooks ride out rate limits and failures without sending a message twice.

    :param max_attempts: attempts per request (and per send, reconciliation included), at least 1.
    :param backoff_initial: seconds before the second attempt; doubled each time, with jitter.
    :param backoff_max: the longest pause between two attempts.
    :param max_retry_after: the longest ``Retry-After`` the hook waits out; a longer one fails at once with
        :class:`~kapso_provider.exceptions.KapsoRateLimitError`.
    :param rate_limit_window: seconds of Kapso's fixed rate-limit window (one minute, per Kapso's docs);
        once a tenth or less of a window's requests remain, the hook spreads them and then waits for the
        next window instead of meeting a 429.
    :param reconcile_max_messages: messages per conversation read back when looking for a send whose
        answer was lost.
    :param clock_skew: seconds of margin before the start of a reconciliation window, on Kapso's clock. The
        hooks measure the offset between this machine's clock and Kapso's from the ``Date`` header of every
        answer, so the margin covers only that header's one-second resolution and Kapso's sub-second
        ``created_at``; a larger margin lets an identical message sent just before count as this send's.
    """

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    max_retry_after: float = 90.0
    rate_limit_window: float = 60.0
    reconcile_max_messages: int = 300
    clock_skew: float = 3.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise KapsoConfigurationError(f"max_attempts: {self.max_attempts} is below the minimum 1")
        for name in ("backoff_initial", "backoff_max", "max_retry_after", "rate_limit_window", "clock_skew"):
            if getattr(self, name) < 0:
                raise KapsoConfigurationError(f"{name}: {getattr(self, name)} is negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret

    def retry_wait(self, exc: KapsoAPIError, *, attempt: int, retry_ambiguous: bool) -> float | None:
        """Seconds to wait before trying a request again after ``exc``, or ``None`` when it must be raised.

        :param exc: what attempt ``attempt`` (1-based) ended with.
        :param attempt: the attempt that failed.
        :param retry_ambiguous: whether a failure after which Kapso may have acted may be repeated.
        """
        if attempt >= self.max_attempts:
            return None
        if isinstance(exc, KapsoRateLimitError):
            wait = exc.retry_after if exc.retry_after is not None else self.backoff(attempt)
            return None if wait > self.max_retry_after else wait
        if isinstance(exc, KapsoServerError):
            return None if exc.may_have_been_processed and not retry_ambiguous else self.backoff(attempt)
        return None

    def must_reconcile(self, exc: KapsoAPIError, *, attempt: int) -> bool:
        """Whether a failed send is looked for in Kapso (and then maybe repeated) rather than raised."""
        return isinstance(exc, KapsoServerError) and exc.may_have_been_processed and attempt < self.max_attempts


class WarningLog(Protocol):
    """The part of a hook's logger the transport uses (stdlib on Airflow 2, the SDK's on 3)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def debug(self, msg: Any, /, *args: Any) -> Any: ...


def log_retry(
    log: WarningLog, exc: KapsoAPIError, *, method: str, path: str, wait: float, attempt: int, policy: RetryPolicy
) -> None:
    """One line saying what failed and when the request goes again."""
    if isinstance(exc, KapsoRateLimitError):
        log.warning(
            "Kapso rate limit reached on %s %s; waiting %.1f s (attempt %d of %d)",
            method,
            path,
            wait,
            attempt,
            policy.max_attempts,
        )
    else:
        log.warning("%s; retrying in %.1f s (attempt %d of %d)", exc, wait, attempt, policy.max_attempts)
