"""Current API: customers (list, create, read, update, delete) through both hooks, on the Platform API."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError
from kapso_provider.hooks.kapso import KapsoAsyncHook
from tests._openapi import assert_current_requests_valid

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused


def test_create_read_update_and_delete(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    created = hook.create_customer(name="Acme Corporation", external_customer_id="CUS-12345")
    assert (created["name"], created["external_customer_id"]) == ("Acme Corporation", "CUS-12345")
    # The record has API v1's fields, and only them.
    assert created.keys() == {"id", "name", "external_customer_id", "created_at", "updated_at"}
    assert hook.get_customer(created["id"]) == created
    renamed = hook.update_customer(created["id"], name="Acme Inc.")
    assert (renamed["name"], renamed["external_customer_id"]) == ("Acme Inc.", "CUS-12345")
    moved = hook.update_customer(created["id"], external_customer_id="CUS-9")
    assert simulator.platform.customers() == [moved]
    assert hook.delete_customer(created["id"]) is None
    assert simulator.platform.customers() == []
    with pytest.raises(KapsoNotFoundError, match="Customer not found"):
        hook.get_customer(created["id"])
    path = f"/customers/{created['id']}"
    assert [(r.api, r.method, r.path, r.json) for r in simulator.requests] == [
        (
            "platform",
            "POST",
            "/customers",
            {"customer": {"name": "Acme Corporation", "external_customer_id": "CUS-12345"}},
        ),
        ("platform", "GET", path, None),
        ("platform", "PATCH", path, {"customer": {"name": "Acme Inc."}}),
        ("platform", "PATCH", path, {"customer": {"external_customer_id": "CUS-9"}}),
        ("platform", "DELETE", path, None),
        ("platform", "GET", path, None),
    ]
    assert assert_current_requests_valid(simulator.requests) == 6


def test_one_store_with_api_v1(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    seeded = simulator.platform.add_customer("Initech", "C-7")
    assert hook.get_customer(seeded["id"]) == seeded
    made = hook.create_customer(name="Globex", external_customer_id="C-8")
    assert [customer["id"] for customer in simulator.platform.customers()] == [seeded["id"], made["id"]]


@pytest.mark.parametrize(
    ("kwargs", "query", "expected"),
    [
        ({}, {}, ["Umbrella", "Initech", "Globex", "Acme"]),
        ({"name_contains": "ini"}, {"name_contains": "ini"}, ["Initech"]),
        ({"external_customer_id": "C-1"}, {"external_customer_id": "C-1"}, ["Globex"]),
    ],
)
def test_lists_most_recent_first_with_filters(
    hook: KapsoHook, simulator: KapsoSimulator, kwargs: dict[str, Any], query: dict[str, str], expected: list[str]
) -> None:
    for index, name in enumerate(("Acme", "Globex", "Initech", "Umbrella")):
        simulator.platform.add_customer(name, f"C-{index}")
    assert [customer["name"] for customer in hook.list_customers(**kwargs)] == expected
    assert simulator.requests[-1].query == {**query, "page": "1", "per_page": "100"}


def test_lists_page_by_page(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    for index in range(3):
        simulator.platform.add_customer(f"Customer {index}", f"C-{index}")
    names = [customer["name"] for customer in hook.list_customers(per_page=2)]
    assert names == ["Customer 2", "Customer 1", "Customer 0"]
    assert [request.query["page"] for request in simulator.requests] == ["1", "2"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.get_customer("acme"), r"^customer_id: must be a UUID"),
        (lambda h: h.delete_customer("acme"), r"^customer_id: must be a UUID"),
        (lambda h: h.update_customer(str(uuid.uuid4())), r"^update_customer: give at least one of name"),
        (lambda h: h.update_customer(str(uuid.uuid4()), name=5), r"^name: must be a string"),
        (lambda h: h.create_customer(name="", external_customer_id="C-1"), r"^name: must be a non-empty string"),
        (lambda h: h.create_customer(name="Acme", external_customer_id=None), r"^external_customer_id: must be"),
        (lambda h: list(h.list_customers(name_contains="")), r"^name_contains: must be a non-empty string"),
        (lambda h: list(h.list_customers(per_page=101)), r"^per_page: 101 is outside 1\.\.100"),
    ],
)
def test_bad_arguments_fail_before_any_request(refused: Refused, call: Any, message: str) -> None:
    refused(call, KapsoArgumentError, message)


def test_an_unknown_customer_is_not_found(hook: KapsoHook) -> None:
    unknown = str(uuid.uuid4())
    for call in (hook.get_customer, hook.delete_customer, lambda cid: hook.update_customer(cid, name="x")):
        with pytest.raises(KapsoNotFoundError, match=r"404.*Customer not found"):
            call(unknown)


def test_the_async_hook_speaks_the_same(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    async def create_and_list() -> list[dict[str, Any]]:
        async_hook = KapsoAsyncHook()
        try:
            await async_hook.create_customer(name="Acme", external_customer_id="C-1")
            return [customer async for customer in async_hook.list_customers(name_contains="acme")]
        finally:
            await async_hook.aclose()

    (listed,) = asyncio.run(create_and_list())
    assert listed == simulator.platform.customers()[0]
    assert [request.path for request in simulator.requests] == ["/customers", "/customers"]
