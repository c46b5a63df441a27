"""KapsoHook: WhatsApp configs (list, get, health), customers, projects, against the simulator.

Every request a test makes is checked against the OpenAPI files that define it.
"""

from __future__ import annotations

import itertools
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError
from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
from tests._openapi import assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    hook = KapsoHook(retry_policy=RetryPolicy(max_attempts=1))
    yield hook
    hook.close()
    assert_requests_valid(kapso_server.simulator.requests)


@pytest.fixture
def simulator(kapso_server: KapsoServer) -> KapsoSimulator:
    return kapso_server.simulator


class TestWhatsappConfigs:
    def test_list_every_page_lazily(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        for index in range(4):
            simulator.add_whatsapp_config(name=f"Branch {index}", phone_number=f"+1555000010{index}")
        configs = hook.list_whatsapp_configs(per_page=2)
        assert simulator.requests == []
        assert [config["name"] for config in configs] == [
            "Simulator WhatsApp",
            *(f"Branch {index}" for index in range(4)),
        ]
        assert [request.query["page"] for request in simulator.requests] == ["1", "2", "3"]

    @pytest.mark.parametrize(
        ("kwargs", "query", "names"),
        [
            ({"name_contains": "branch"}, {"q[name_cont]": "branch"}, ["Branch"]),
            ({"business_account_id": "300"}, {"q[business_account_id_eq]": "300"}, ["Branch"]),
            (
                # The simulator's core does not apply the created_at bounds; only the request is checked here.
                {"created_after": "2026-01-01T00:00:00Z", "created_before": "2100-01-01T00:00:00Z"},
                {"q[created_at_gteq]": "2026-01-01T00:00:00Z", "q[created_at_lteq]": "2100-01-01T00:00:00Z"},
                None,
            ),
        ],
    )
    def test_list_filters(
        self,
        hook: KapsoHook,
        simulator: KapsoSimulator,
        kwargs: dict[str, Any],
        query: dict[str, str],
        names: list[str] | None,
    ) -> None:
        simulator.add_whatsapp_config(name="Branch", business_account_id="300")
        records = list(hook.list_whatsapp_configs(**kwargs))
        if names is not None:
            assert [record["name"] for record in records] == names
        (request,) = simulator.requests
        assert request.query == {**query, "page": "1", "per_page": "100"}

    def test_get(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        config = hook.get_whatsapp_config(simulator.default_whatsapp_config_id)
        assert config["id"] == simulator.default_whatsapp_config_id
        assert config["display_phone_number"] == "+15550000000"
        with pytest.raises(KapsoNotFoundError):
            hook.get_whatsapp_config(str(uuid.uuid4()))

    @pytest.mark.parametrize("status", ["healthy", "degraded", "unhealthy", "error"])
    def test_health(self, hook: KapsoHook, simulator: KapsoSimulator, status: str) -> None:
        config_id = simulator.default_whatsapp_config_id
        if status != "healthy":
            simulator.platform.set_config_health(config_id, status)
        report = hook.get_whatsapp_config_health(config_id)
        assert report["status"] == status
        assert "timestamp" in report
        if status != "error":
            assert report["checks"]["phone_number_access"]["passed"] is (status != "unhealthy")
            assert report["checks"]["webhook_subscription"]["passed"] is (status == "healthy")
        (request,) = simulator.requests
        assert (request.method, request.path) == ("GET", f"/whatsapp_configs/{config_id}/health")

    def test_health_of_unknown_config(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="HTTP 404"):
            hook.get_whatsapp_config_health(str(uuid.uuid4()))


class TestCustomers:
    def test_crud(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        created = hook.create_customer(name="Acme Corporation", external_customer_id="CUS-12345")
        assert (created["name"], created["external_customer_id"]) == ("Acme Corporation", "CUS-12345")
        assert hook.get_customer(created["id"]) == created

        renamed = hook.update_customer(created["id"], name="Acme Inc.")
        assert (renamed["name"], renamed["external_customer_id"]) == ("Acme Inc.", "CUS-12345")
        moved = hook.update_customer(created["id"], external_customer_id="CUS-9")
        assert moved["external_customer_id"] == "CUS-9"
        assert simulator.platform.customers() == [moved]

        hook.delete_customer(created["id"])
        assert simulator.platform.customers() == []
        with pytest.raises(KapsoNotFoundError):
            hook.get_customer(created["id"])

        writes = [(r.method, r.path, r.json) for r in simulator.requests if r.method != "GET"]
        path = f"/customers/{created['id']}"
        assert writes == [
            ("POST", "/customers", {"customer": {"name": "Acme Corporation", "external_customer_id": "CUS-12345"}}),
            ("PATCH", path, {"customer": {"name": "Acme Inc."}}),
            ("PATCH", path, {"customer": {"external_customer_id": "CUS-9"}}),
            ("DELETE", path, None),
        ]

    @pytest.mark.parametrize(
        ("kwargs", "query", "expected"),
        [
            ({}, {}, ["Acme", "Globex", "Initech"]),
            ({"name_contains": "EX"}, {"q[name_cont]": "EX"}, ["Globex"]),
            ({"external_customer_id": "C-3"}, {"q[external_customer_id_eq]": "C-3"}, ["Initech"]),
        ],
    )
    def test_list_filters(
        self,
        hook: KapsoHook,
        simulator: KapsoSimulator,
        kwargs: dict[str, Any],
        query: dict[str, str],
        expected: list[str],
    ) -> None:
        for index, name in enumerate(["Acme", "Globex", "Initech"], start=1):
            simulator.platform.add_customer(name, f"C-{index}")
        assert [customer["name"] for customer in hook.list_customers(**kwargs)] == expected
        (request,) = simulator.requests
        assert request.query == {**query, "page": "1", "per_page": "100"}

    def test_list_is_lazy_and_reads_every_page(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        for index in range(3):
            simulator.platform.add_customer(f"Customer {index}", f"C-{index}")
        customers = hook.list_customers(per_page=1)
        assert [customer["name"] for customer in itertools.islice(customers, 2)] == ["Customer 0", "Customer 1"]
        assert len(simulator.requests) == 2
        assert [customer["name"] for customer in customers] == ["Customer 2"]

    @pytest.mark.parametrize(
        "call",
        [
            lambda hook, cid: hook.get_customer(cid),
            lambda hook, cid: hook.update_customer(cid, name="x"),
            lambda hook, cid: hook.delete_customer(cid),
        ],
        ids=["get", "update", "delete"],
    )
    def test_unknown_customer(self, hook: KapsoHook, call: Any) -> None:
        with pytest.raises(KapsoNotFoundError, match="Customer not found"):
            call(hook, str(uuid.uuid4()))

    @pytest.mark.parametrize(
        ("method", "kwargs", "match"),
        [
            ("create_customer", {"name": "", "external_customer_id": "C-1"}, "name: must be a non-empty string"),
            ("create_customer", {"name": "Acme", "external_customer_id": None}, "external_customer_id: must be"),
            ("update_customer", {"customer_id": "c"}, "give at least one of name, external_customer_id"),
            ("update_customer", {"customer_id": "c", "name": 5}, "name: must be a string"),
        ],
    )
    def test_bad_input_fails_before_any_request(
        self, hook: KapsoHook, simulator: KapsoSimulator, method: str, kwargs: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=match):
            getattr(hook, method)(**kwargs)
        assert simulator.requests == []


class TestProjects:
    def test_get_project(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        project = hook.get_project(simulator.platform.project_id)
        assert project == simulator.platform.project()
        assert project["id"] == simulator.platform.project_id

    def test_unknown_project(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="Project not found"):
            hook.get_project(str(uuid.uuid4()))
