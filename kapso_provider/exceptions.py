"""Errors raised by the Kapso provider, all of them subclasses of :class:`KapsoError`.

Three families:

- :class:`KapsoArgumentError` is raised before any request is sent, when an argument breaks a rule of
  Kapso's API or of WhatsApp; each of its problems names the field. :class:`KapsoInvalidMessageError` is
  the one for a message and its recipient. :class:`KapsoConfigurationError` is the one for the ``kapso``
  connection.
- :class:`KapsoAPIError` and its subclasses carry a failure answered by Kapso (or the lack of an answer),
  with the HTTP status, Kapso's own error text and the request's method and path.
- :class:`KapsoRunError` reports a run that Kapso carries out over time (a broadcast, a template sync, an
  agent or flow execution) which failed there, or did not finish while the task waited for it.
- :class:`KapsoWebhookError` and its subclasses in :mod:`kapso_provider.webhooks` refuse a webhook delivery
  that Kapso sent to your endpoint; none of them holds the webhook's secret.

None of them ever holds the API key: the key travels only in a request header, which no error includes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# Imported by DAG files through the operator module, so nothing heavy is imported here, not even
# Airflow: the classes derive from plain Python exceptions, which Airflow treats as task failures.


class KapsoError(Exception):
    """Base class of every error this provider raises."""


class KapsoArgumentError(KapsoError, ValueError):
    """An argument breaks a rule; raised before anything is sent.

    :param problems: one line per broken rule, each naming the field, the offending size or value and the
        limit, e.g. ``"buttons[0].title: 25 characters, limit 20"``; a single string is one problem.
    """

    #: How ``str()`` introduces the problems; by default each problem starts with the field's name.
    summary = ""

    def __init__(self, problems: Iterable[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        listed = "; ".join(self.problems)
        super().__init__(f"{self.summary}: {listed}" if self.summary else listed)


class KapsoInvalidMessageError(KapsoArgumentError):
    """A message or its recipient breaks a rule before anything is sent."""

    summary = "Invalid Kapso message"


class KapsoUnsupportedError(KapsoArgumentError):
    """The connection's Kapso API generation has no such operation or field; the text says which has."""

    summary = ""


class KapsoConfigurationError(KapsoError, ValueError):
    """The ``kapso`` connection or a hook setting is unusable (missing key, non-HTTPS remote host, ...)."""


class KapsoAPIError(KapsoError):
    """Kapso answered with an error, or with something that is not its JSON API, or not at all.

    :param status: the HTTP status code, or ``None`` when no HTTP answer arrived.
    :param method: the HTTP method of the request.
    :param path: the request path below the API base URL (never the query string, never a header).
    :param error_text: Kapso's own error text, as readable as it came.
    """

    def __init__(self, *, status: int | None, method: str, path: str, error_text: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.error_text = error_text
        status_part = f"HTTP {status}" if status is not None else "no HTTP answer"
        super().__init__(f"Kapso API {method} {path} failed ({status_part}): {error_text}")


class KapsoAuthenticationError(KapsoAPIError):
    """401 or 403: the API key is missing, wrong, revoked or lacks access."""


class KapsoNotFoundError(KapsoAPIError):
    """404: the conversation, template or other resource does not exist for this key's project."""


class KapsoConflictError(KapsoAPIError):
    """409: the conversation is held by an active Kapso agent execution, so the send was refused."""


class KapsoValidationError(KapsoAPIError):
    """400 or 422: Kapso rejected the request, e.g. outside the 24-hour customer-service window."""


class KapsoRedirectError(KapsoAPIError):
    """3xx: the base URL answered with a redirect, which the hooks never follow.

    Following it would hand the API key and the message to whatever host the ``Location`` names (``requests``
    strips only ``Authorization`` on a cross-host redirect, not ``X-API-Key``), and turn a ``POST`` into a
    ``GET`` on 301-303. Kapso's API answers no redirect, so the connection's host is wrong: fix it.
    """


class KapsoRateLimitError(KapsoAPIError):
    """429: the API key's per-minute request limit is used up.

    :param retry_after: seconds Kapso asked the client to wait, when it said.
    """

    def __init__(
        self, *, status: int | None, method: str, path: str, error_text: str, retry_after: float | None = None
    ) -> None:
        super().__init__(status=status, method=method, path=path, error_text=error_text)
        self.retry_after = retry_after


class KapsoServerError(KapsoAPIError):
    """5xx, a dropped connection, a timeout or a body that is not Kapso's JSON.

    :param may_have_been_processed: ``False`` only when the request provably never reached Kapso
        (connection refused, name not resolved, connect timeout, TLS or proxy failure); otherwise Kapso may
        have acted on it.
    """

    def __init__(
        self, *, status: int | None, method: str, path: str, error_text: str, may_have_been_processed: bool = True
    ) -> None:
        super().__init__(status=status, method=method, path=path, error_text=error_text)
        self.may_have_been_processed = may_have_been_processed


class KapsoRunError(KapsoError):
    """A run that Kapso carries out over time failed there, or did not finish while the task waited.

    Raised by the services of ``kapso_provider.services``; the operators fail the task with it, without
    retries when ``final``.

    :param message: what ran, how it ended (or its last status) and Kapso's own error text.
    :param final: Kapso reported the run failed, so another try would meet the same outcome; ``False``
        for a wait that ran out of time, after which a retry finds the run and waits again.
    """

    def __init__(self, message: str, *, final: bool) -> None:
        super().__init__(message)
        self.final = final


class KapsoWebhookError(KapsoError):
    """A webhook delivery that must not be trusted, cannot be read, or is being handled right now.

    Raised by :mod:`kapso_provider.webhooks`, which defines the specific subclasses; never carries the secret.
    """


def error_class_for_status(status: int) -> type[KapsoAPIError]:
    """Map an HTTP error status to the most specific error class."""
    if 300 <= status < 400:
        return KapsoRedirectError
    if status in (401, 403):
        return KapsoAuthenticationError
    if status == 404:
        return KapsoNotFoundError
    if status == 409:
        return KapsoConflictError
    if status in (400, 422):
        return KapsoValidationError
    if status == 429:
        return KapsoRateLimitError
    if status >= 500:
        return KapsoServerError
    return KapsoAPIError
