"""Building blocks of the current API's management endpoints: requests whose path needs the connection's ids,
page-numbered Platform listings under the neutral ``per_page`` and query flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from kapso_provider.transport.flows import Flow, FlowContext, Item, ListingSteps, Pager, Steps, data_list, request

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.transport.wire import Request

T = TypeVar("T")
U = TypeVar("U")


def contextual(build: Callable[[FlowContext], Request], read: Callable[[Any, Request], T]) -> Flow[T]:
    """One request whose path or body needs the context (the connection's phone number or account id).

    ``build`` runs when the hook runs the operation, before anything is sent, so an id missing from both
    the task and the connection fails with its argument error and no request.
    """

    def run(context: FlowContext) -> Steps[T]:
        req = build(context)
        body = yield from request(context, req)
        return read(body, req)

    return Flow(run)


def single_page(req: Request) -> Pager[dict[str, Any]]:
    """A listing the files declare no page parameters for: one request, made when iteration starts."""

    def run(context: FlowContext) -> ListingSteps[dict[str, Any]]:
        body = yield from request(context, req)
        for record in data_list(body, req):
            yield Item(record)

    return Pager(run)


def query_flag(value: bool | None) -> str | None:
    """A boolean filter in JSON's spelling (a Python bool would reach the query string as ``True``)."""
    return None if value is None else ("true" if value else "false")


def mapped(pager: Pager[T], change: Callable[[T], U | None]) -> Pager[U]:
    """The records of ``pager`` passed through ``change`` (``None`` drops one), read page by page like ``pager``."""

    def run(context: FlowContext) -> ListingSteps[U]:
        steps = pager.steps(context)
        answer: Any = None
        try:
            while True:
                try:
                    step = steps.send(answer)
                except StopIteration:
                    return
                answer = None
                if not isinstance(step, Item):
                    answer = yield step
                    continue
                changed = change(step.value)
                if changed is not None:
                    yield Item(changed)
        finally:
            steps.close()

    return Pager(run)
