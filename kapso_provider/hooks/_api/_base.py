"""What the resource mixins of :class:`~kapso_provider.hooks.kapso.KapsoHook` need from the hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from kapso_provider.exceptions import KapsoConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from kapso_provider.hooks.kapso import RetryPolicy

# The API answers at most this many records per page (``per_page`` maximum in the OpenAPI files).
MAX_PAGE_SIZE = 100


def path_segment(value: str) -> str:
    """Quote an id for use as one path segment, so that no value can reach another endpoint.

    :raises KapsoConfigurationError: for an empty or non-string id.
    """
    if not isinstance(value, str) or not value.strip():
        raise KapsoConfigurationError(f"An id in the request path must be a non-empty string, got {value!r}.")
    return quote(value, safe="")


class KapsoTransport(Protocol):
    """The hook's request layer, as the mixins see it: annotate a mixin method's ``self`` with it.

    Every call goes through :meth:`KapsoHook.request`, so rate limits, retries, error classes and the API
    key's handling are the hook's, whichever resource is asked for.
    """

    retry_policy: RetryPolicy

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_ambiguous: bool | None = None,
    ) -> Any: ...

    def _data(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]: ...

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = ...
    ) -> Iterator[dict[str, Any]]: ...
