"""How each API generation words its errors, from its OpenAPI files.

- v1 (``/api/v1``): ``{"error", "status", "message"}``.
- The WhatsApp Cloud API proxy (``/meta/whatsapp/v24.0``): Meta's ``{"error": {"message", "type", "code",
  "error_subcode", "fbtrace_id"}}``; a bad body is a 400 with code 100, as Meta answers.
- The Platform API (``/platform/v1``): ``{"error": "<text>"}`` (``ErrorResponse``).

The pipeline answers through the style of the API a request is for, so a 401, a 404 for an unknown path,
a 429 or an injected 500 looks like the rest of that API.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._http import Response, json_response
from kapso_provider.testing._http import error as v1_error

if TYPE_CHECKING:
    from kapso_provider.testing._errors import ValidationError

__all__ = ["META", "PLATFORM", "V1", "ErrorStyle", "MetaStyle", "PlatformStyle", "V1Style"]

IN_FLIGHT_TEXT = "Another message is already in-flight for this conversation. Please retry shortly."


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ErrorStyle:
    """v1's error bodies; the other styles override :meth:`body`."""

    def body(self, status: int, message: str, *, title: str | None = None, code: int | None = None) -> Any:
        """The JSON body of an error.

        :param status: HTTP status.
        :param message: what went wrong, for people.
        :param title: a short name of the error (v1's ``error``).
        :param code: a numeric error code (Meta's ``code``).
        """
        return {"error": title or _phrase(status), "status": status, "message": message}

    def error(self, status: int, message: str, *, title: str | None = None, code: int | None = None) -> Response:
        """An error answer.

        :param status: HTTP status.
        :param message: what went wrong.
        :param title: a short name of the error.
        :param code: a numeric error code.
        """
        return json_response(status, self.body(status, message, title=title, code=code))

    def validation(self, exc: ValidationError) -> Response:
        """The answer to a body the API refuses.

        :param exc: the refusal.
        """
        text = str(exc)
        return json_response(exc.status, {"error": text, "status": exc.status, "message": text})

    def unauthorized(self) -> Response:
        """A missing or wrong ``X-API-Key``."""
        return self.error(401, "Missing or invalid API key (X-API-Key header)", title="Unauthorized", code=190)

    def rate_limited(self, retry_after: int, headers: dict[str, str]) -> Response:
        """Over the rate limit: ``Retry-After`` and the rate-limit headers.

        :param retry_after: seconds to wait.
        :param headers: the ``X-RateLimit-*`` headers.
        """
        response = self.error(
            429,
            f"Too many requests for this API key. Retry after {retry_after} seconds.",
            title="Rate limit exceeded",
            code=4,
        )
        response.headers.update(headers)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def in_flight(self) -> Response:
        """409: another message to the recipient is still being sent."""
        return self.error(409, IN_FLIGHT_TEXT, title="Conflict")


class V1Style(ErrorStyle):
    """Kapso API v1."""

    def error(self, status: int, message: str, *, title: str | None = None, code: int | None = None) -> Response:
        """See :meth:`ErrorStyle.error`."""
        return v1_error(status, message, error=title)


class MetaStyle(ErrorStyle):
    """The WhatsApp Cloud API proxy: Meta's error object."""

    def body(self, status: int, message: str, *, title: str | None = None, code: int | None = None) -> Any:
        """See :meth:`ErrorStyle.body`; ``type`` is ``OAuthException`` for auth and parameters, else
        ``MessageError``."""
        kind = "OAuthException" if status in (400, 401, 403) else "MessageError"
        error: dict[str, Any] = {"message": message, "type": kind, "code": code if code is not None else status}
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
        return {"error": error}

    def validation(self, exc: ValidationError) -> Response:
        """A bad body: Meta's 400 with code 100 (invalid parameter), or the status the check chose."""
        code = 100 if exc.status == 400 else exc.status
        return json_response(exc.status, self.body(exc.status, f"(#{code}) {exc}", code=code))

    def in_flight(self) -> Response:
        """The documented ``MessageInFlightError``: ``{"error": "<text>"}``."""
        return json_response(409, {"error": IN_FLIGHT_TEXT})


class PlatformStyle(ErrorStyle):
    """The Platform API: ``{"error": "<text>"}``."""

    def body(self, status: int, message: str, *, title: str | None = None, code: int | None = None) -> Any:
        """See :meth:`ErrorStyle.body`."""
        return {"error": message}

    def validation(self, exc: ValidationError) -> Response:
        """A bad body: ``{"error": "<field>: <problem>"}``."""
        return json_response(exc.status, {"error": str(exc)})


V1 = V1Style()
META = MetaStyle()
PLATFORM = PlatformStyle()
