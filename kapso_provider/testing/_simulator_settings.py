"""The simulator's settings as properties: latency, rate limit, status progression.

A mixin of :class:`~kapso_provider.testing.KapsoSimulator`, kept apart so the facade stays readable; every
property forwards to the part that owns the setting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kapso_provider.testing._clock import Clock
    from kapso_provider.testing._current.platform_numbers import HealthLimiter
    from kapso_provider.testing._pipeline import Pipeline, RateLimiter
    from kapso_provider.testing._policy import Policy
    from kapso_provider.testing._store import Store

__all__ = ["SettingsApi"]


class SettingsApi:
    """Settings of a running simulator, each changeable at any time."""

    _clock: Clock
    _store: Store
    _pipeline: Pipeline
    _limiter: RateLimiter
    _max_body_bytes: int
    _policy: Policy
    _health: HealthLimiter

    @property
    def clock(self) -> Clock:
        """Kapso's clock, which every timestamp and ``Date`` header is read on."""
        return self._clock

    @property
    def clock_offset(self) -> float:
        """Seconds Kapso's clock is ahead of the machine's (negative: behind); settable while running.

        Every timestamp the simulator writes from then on (``created_at``, ``updated_at``,
        ``last_active_at``, status changes...) and the ``Date`` header of every answer are read on it.
        """
        return self._clock.offset

    @clock_offset.setter
    def clock_offset(self, value: float) -> None:
        self._clock.offset = value

    @property
    def strict(self) -> bool:
        """Whether answers keep only the fields Kapso's OpenAPI files document for their endpoint and status."""
        return self._pipeline.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"strict: {value!r} must be true or false")
        self._pipeline.strict = value

    @property
    def service_window(self) -> bool:
        """Whether a message that is not a template needs a message from the person within the last 24 hours
        (Kapso's clock) on that business number; else v1 answers 422 and the proxy Meta's error 131047.
        Off by default."""
        return self._policy.service_window

    @service_window.setter
    def service_window(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"service_window: {value!r} must be true or false")
        self._policy.service_window = value

    @property
    def credits_exhausted(self) -> bool:
        """Whether the project's Kapso balance is spent: template sends through the proxy answer 402
        ``insufficient_credits``. Off by default."""
        return self._policy.credits_exhausted

    @credits_exhausted.setter
    def credits_exhausted(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError(f"credits_exhausted: {value!r} must be true or false")
        self._policy.credits_exhausted = value

    @property
    def health_rate_limit(self) -> tuple[int, int]:
        """The Platform API health check's own limit per project: ``(per second, per minute)``, (5, 60) as
        the file says; over it, 429 with ``Retry-After``."""
        return self._health.per_second, self._health.per_minute

    @health_rate_limit.setter
    def health_rate_limit(self, value: tuple[int, int]) -> None:
        if (
            not isinstance(value, tuple | list)
            or len(value) != 2
            or not all(isinstance(item, int) and not isinstance(item, bool) and item >= 1 for item in value)
        ):
            raise ValueError(f"health_rate_limit: {value!r} must be (per second, per minute), both >= 1")
        self._health.per_second, self._health.per_minute = value

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read; a larger one is answered 413."""
        return self._max_body_bytes

    @property
    def latency(self) -> float:
        """Seconds slept before every API answer."""
        return self._pipeline.latency

    @latency.setter
    def latency(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError("latency must be >= 0")
        self._pipeline.latency = float(value)

    @property
    def rate_limit(self) -> int | None:
        """Requests allowed per API key in each fixed window; ``None`` for no limit."""
        return self._limiter.limit

    @rate_limit.setter
    def rate_limit(self, value: int | None) -> None:
        self._limiter.limit = value

    @property
    def rate_limit_window(self) -> float:
        """Length of the rate-limit window in seconds."""
        return self._limiter.window

    @rate_limit_window.setter
    def rate_limit_window(self, value: float) -> None:
        self._limiter.window = value

    # -- status progression -----------------------------------------------------------------------------

    @property
    def delivery_delay(self) -> float | None:
        """Seconds after a send at which new outbound messages turn ``delivered``; ``None`` keeps them ``sent``.

        Changing it affects messages sent afterwards only.
        """
        return self._store.progression.delivery_delay

    @delivery_delay.setter
    def delivery_delay(self, value: float | None) -> None:
        self._store.progression.delivery_delay = value

    @property
    def read_delay(self) -> float | None:
        """Seconds after delivery at which new outbound messages turn ``read``; ``None``: never read."""
        return self._store.progression.read_delay

    @read_delay.setter
    def read_delay(self, value: float | None) -> None:
        self._store.progression.read_delay = value

    @property
    def delivery_error_code(self) -> int | None:
        """When set (with ``delivery_delay``), new outbound messages turn ``failed`` with this code."""
        return self._store.progression.delivery_error_code

    @delivery_error_code.setter
    def delivery_error_code(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("delivery_error_code must be an integer or None")
        self._store.progression.delivery_error_code = value

    @property
    def delivery_error_message(self) -> str | None:
        """The error text kept with a ``failed`` status of the progression."""
        return self._store.progression.delivery_error_message

    @delivery_error_message.setter
    def delivery_error_message(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise ValueError("delivery_error_message must be a string or None")
        self._store.progression.delivery_error_message = value

    @property
    def status_sequence(self) -> tuple[str, ...] | None:
        """Statuses each new outbound message shows on successive listings of its conversation, keeping the
        last one (``None``: no sequence). Changing it affects messages sent afterwards only.
        """
        return self._store.progression.status_sequence

    @status_sequence.setter
    def status_sequence(self, value: list[str] | tuple[str, ...] | None) -> None:
        self._store.progression.status_sequence = value
