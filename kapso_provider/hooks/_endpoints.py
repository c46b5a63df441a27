"""How one endpoint definition becomes a method of both hooks: :func:`operation` and :func:`listing`.

An endpoint is defined once, as a function of :mod:`kapso_provider.api` that returns an operation (see
:mod:`kapso_provider.transport.flows`). Naming it in the class body of a hook's endpoint table makes it a
method with the definition's signature and docstring: on :class:`~kapso_provider.hooks.kapso.KapsoHook`
it returns the result, on :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook` a coroutine of it (and for a
listing, an iterator or an async iterator of records). The connection's API generation decides which
generation's definition of that name runs. Type checkers and IDEs see the same parameters (``ParamSpec``).
"""

from __future__ import annotations

import inspect
import re
import types
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
    from typing import Self

    from kapso_provider.transport.flows import Operation, Pager

P = ParamSpec("P")
T = TypeVar("T")


class SyncDriver:
    """Marks a hook whose endpoint methods return results (implemented by :class:`KapsoHook`)."""

    def _run_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _iterate_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        raise NotImplementedError


class AsyncDriver:
    """Marks a hook whose endpoint methods return coroutines (implemented by :class:`KapsoAsyncHook`)."""

    async def _run_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _iterate_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        raise NotImplementedError


# The definitions' return annotations (text, as every module here postpones them) name an operation of a
# result; a method returns the result, or an iterator of records.
_OPERATION_ANNOTATION = re.compile(r"(?:Call|Flow|Operation|Pager)\[(?P<result>.*)\]")


def _method_signature(definition: Callable[..., Any], iterator: str | None) -> inspect.Signature:
    signature = inspect.signature(definition)
    this = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    matched = _OPERATION_ANNOTATION.fullmatch(str(signature.return_annotation))
    returns: Any = signature.return_annotation
    if matched is not None:
        returns = matched["result"] if iterator is None else f"{iterator}[{matched['result']}]"
    return signature.replace(parameters=[this, *signature.parameters.values()], return_annotation=returns)


def _named(
    function: Any, definition: Callable[..., Any], owner: type, *, prefix: str = "", iterator: str | None = None
) -> Any:
    function.__name__ = definition.__name__
    function.__qualname__ = f"{owner.__name__}.{definition.__name__}"
    function.__module__ = owner.__module__
    function.__doc__ = prefix + (definition.__doc__ or "")
    function.__signature__ = _method_signature(definition, iterator)
    return function


class _Endpoint:
    """The shared part of :class:`operation` and :class:`listing`: name, definition, introspection."""

    def __init__(self, definition: Callable[..., Any]) -> None:
        self.definition = definition
        self.name = definition.__name__
        self.__doc__ = definition.__doc__
        # One function per hook class, built on first use: building one per call would tax every send.
        self._functions: dict[type, Any] = {}

    def __set_name__(self, owner: type, name: str) -> None:
        if name != self.name:
            raise TypeError(f"endpoint {self.name!r} is listed as {name!r}: the method takes the definition's name")

    def _function(self, owner: type) -> Any:
        raise NotImplementedError

    def _resolve(self, instance: object, owner: type) -> Any:
        function = self._functions.get(owner)
        if function is None:
            function = self._functions[owner] = self._function(owner)
        return function if instance is None else types.MethodType(function, instance)


class operation(_Endpoint, Generic[P, T]):  # noqa: N801 - used like a decorator in class bodies
    """An endpoint whose definition returns an operation: a method returning its result."""

    def __init__(self, definition: Callable[P, Operation[T]]) -> None:
        super().__init__(definition)

    def _function(self, owner: type) -> Any:
        name = self.name
        if issubclass(owner, AsyncDriver):

            async def run_async(hook: AsyncDriver, /, *args: Any, **kwargs: Any) -> Any:
                return await hook._run_endpoint(name, args, kwargs)

            return _named(run_async, self.definition, owner, prefix="Asynchronous. ")

        def run(hook: SyncDriver, /, *args: Any, **kwargs: Any) -> Any:
            return hook._run_endpoint(name, args, kwargs)

        return _named(run, self.definition, owner)

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...

    @overload
    def __get__(self, instance: SyncDriver, owner: type) -> Callable[P, T]: ...

    @overload
    def __get__(self, instance: AsyncDriver, owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, instance: object, owner: type) -> Any:
        return self._resolve(instance, owner)


class listing(_Endpoint, Generic[P, T]):  # noqa: N801 - used like a decorator in class bodies
    """An endpoint whose definition returns a :class:`Pager`: a method returning an (async) iterator."""

    def __init__(self, definition: Callable[P, Pager[T]]) -> None:
        super().__init__(definition)

    def _function(self, owner: type) -> Any:
        name = self.name

        def iterate(hook: SyncDriver | AsyncDriver, /, *args: Any, **kwargs: Any) -> Any:
            return hook._iterate_endpoint(name, args, kwargs)

        if issubclass(owner, AsyncDriver):
            return _named(iterate, self.definition, owner, prefix="Asynchronous iterator. ", iterator="AsyncIterator")
        return _named(iterate, self.definition, owner, iterator="Iterator")

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...

    @overload
    def __get__(self, instance: SyncDriver, owner: type) -> Callable[P, Iterator[T]]: ...

    @overload
    def __get__(self, instance: AsyncDriver, owner: type) -> Callable[P, AsyncIterator[T]]: ...

    def __get__(self, instance: object, owner: type) -> Any:
        return self._resolve(instance, owner)
