"""Every endpoint is defined once and both hooks expose it alike: same names, same parameters."""

from __future__ import annotations

import asyncio
import inspect
import re

import pytest

from kapso_provider.api.generations import CURRENT, V1, Generation
from kapso_provider.exceptions import KapsoUnsupportedError
from kapso_provider.hooks._endpoints import listing, operation
from kapso_provider.hooks._table import KapsoEndpoints
from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook

ENDPOINTS = sorted(name for name, value in vars(KapsoEndpoints).items() if isinstance(value, operation | listing))


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(cls, name))
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name)) and not inspect.isclass(getattr(cls, name))
    }


def _names(generation: Generation) -> set[str]:
    return {name for module in generation.modules for name in __import__(module, fromlist=["ENDPOINTS"]).ENDPOINTS}


def test_every_definition_of_every_generation_is_listed_once() -> None:
    assert sorted(_names(V1) | _names(CURRENT)) == ENDPOINTS


@pytest.mark.parametrize("name", sorted(_names(V1) & _names(CURRENT)))
def test_an_operation_of_both_generations_takes_the_same_arguments(name: str) -> None:
    v1, current = (inspect.signature(g.definition(name)) for g in (V1, CURRENT))
    assert v1.parameters == current.parameters

    def result(signature: inspect.Signature) -> str:
        # A Call, a Flow or a Pager of the same result: how each generation gets there is its own.
        matched = re.fullmatch(r"(?:Call|Flow|Operation|Pager)\[(.*)\]", str(signature.return_annotation))
        assert matched is not None, signature
        return matched[1]

    assert result(v1) == result(current)


def test_both_hooks_expose_the_same_public_api() -> None:
    sync, asynchronous = _public_methods(KapsoHook), _public_methods(KapsoAsyncHook)
    # The async hook's connection and client accessors and its close are its own; everything else matches.
    only_sync = {"close", "session", "settings"}
    only_async = {"aclose", "get_client", "get_settings"}
    assert sync.keys() - only_sync - {"test_connection"} == asynchronous.keys() - only_async
    for name in ENDPOINTS:
        assert sync[name].parameters == asynchronous[name].parameters, name


@pytest.mark.parametrize("name", ENDPOINTS)
def test_a_method_carries_its_definitions_signature_and_docstring(name: str) -> None:
    definition = vars(KapsoEndpoints)[name].definition
    expected = list(inspect.signature(definition).parameters.values())
    for hook in (KapsoHook, KapsoAsyncHook):
        method = getattr(hook, name)
        assert list(inspect.signature(method).parameters.values())[1:] == expected
        assert definition.__doc__
        assert definition.__doc__ in (method.__doc__ or "")
        assert method.__qualname__ == f"{hook.__name__}.{name}"
    returns = str(inspect.signature(getattr(KapsoHook, name)).return_annotation)
    async_returns = str(inspect.signature(getattr(KapsoAsyncHook, name)).return_annotation)
    if isinstance(vars(KapsoEndpoints)[name], listing):
        assert re.fullmatch(r"Iterator\[.+\]", returns)
        assert async_returns == f"Async{returns}"
    else:
        assert inspect.iscoroutinefunction(getattr(KapsoAsyncHook, name))
        assert not inspect.iscoroutinefunction(getattr(KapsoHook, name))
        assert returns == async_returns
        assert not returns.startswith(("Call[", "Flow["))


def test_an_endpoint_listed_under_another_name_is_refused() -> None:
    from kapso_provider.api.v1 import messages

    with pytest.raises(TypeError, match="takes the definition's name"):
        operation(messages.get_conversation).__set_name__(KapsoEndpoints, "get")


def test_an_unknown_endpoint_names_the_generation() -> None:
    with pytest.raises(KapsoUnsupportedError, match=r"^no_such_thing: Kapso's API v1 has no such operation"):
        V1.definition("no_such_thing")


def test_an_async_listing_checks_its_arguments_when_iterated(kapso_server: object) -> None:
    from kapso_provider.exceptions import KapsoArgumentError

    async def first_page() -> None:
        hook = KapsoAsyncHook()
        try:
            async for _ in hook.list_conversations(per_page=101):
                pass
        finally:
            await hook.aclose()

    with pytest.raises(KapsoArgumentError, match=r"^per_page: 101 is outside 1\.\.100"):
        asyncio.run(first_page())
