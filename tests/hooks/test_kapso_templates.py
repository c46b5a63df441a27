"""KapsoHook template methods against the simulator, each request checked against Kapso's OpenAPI files."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoValidationError
from kapso_provider.hooks.kapso import KapsoHook
from tests._openapi import assert_valid_request

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer

BODY = [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} has shipped."}]
NAMED_BODY = [{"type": "BODY", "text": "Hello {{customer_name}}!"}]
# Filters and endpoints that exist in openapi-whatsapp.yaml only; openapi.yaml (older) lacks them, and the
# newer, WhatsApp-specific file is the one followed where the two disagree.
WHATSAPP_ONLY_QUERY = ("q[business_account_id_eq]", "q[whatsapp_config_id_eq]")


def _spec_files(request: Any) -> tuple[str, ...] | None:
    if request.path == "/whatsapp_templates/sync_status":
        # Defined in openapi-whatsapp.yaml only; openapi.yaml would take "sync_status" for a {template_id}.
        return ("openapi-whatsapp.yaml",)
    if (
        request.method == "GET"
        and request.path == "/whatsapp_templates"
        and any(name in request.query for name in WHATSAPP_ONLY_QUERY)
    ):
        return ("openapi-whatsapp.yaml",)
    return None


def _query(request: Any) -> dict[str, Any]:
    query: dict[str, Any] = dict(request.query)
    if "sync_request_ids" in query:
        # The file declares an array in ``form`` style without explode: decode the one comma-separated
        # value into the array the schema describes, which tests/_openapi.py does not do for a query.
        query["sync_request_ids"] = query["sync_request_ids"].split(",")
    return query


def assert_all_requests_valid(simulator: KapsoSimulator) -> None:
    requests = simulator.requests
    assert requests, "no request was made"
    for request in requests:
        files = _spec_files(request)
        kwargs = {"files": files} if files else {}
        assert_valid_request(request.method, request.path, _query(request), request.json, **kwargs)


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    hook = KapsoHook()
    yield hook
    hook.close()
    assert_all_requests_valid(kapso_server.simulator)


class TestListAndGet:
    def test_list_reads_every_page_lazily(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        for index in range(5):
            simulator.create_template(f"template_{index}")
        records = hook.list_templates(per_page=2)
        assert simulator.requests == []  # nothing is read before iteration
        assert [record["name"] for record in records] == [f"template_{index}" for index in range(5)]
        assert [request.query["page"] for request in simulator.requests] == ["1", "2", "3"]

    @pytest.mark.parametrize(
        ("filters", "query", "expected"),
        [
            ({"name": "ord"}, {"q[name_cont]": "ord"}, ["order_update"]),
            ({"language_code": "es_ES"}, {"q[language_code_eq]": "es_ES"}, ["bienvenida"]),
            ({"category": "MARKETING"}, {"q[category_eq]": "MARKETING"}, ["spring_offer"]),
            ({"status": "draft"}, {"q[status_eq]": "draft"}, ["spring_offer"]),
            (
                {"business_account_id": "200000000000001"},
                {"q[business_account_id_eq]": "200000000000001"},
                ["order_update", "bienvenida", "spring_offer"],
            ),
        ],
    )
    def test_filters(
        self,
        hook: KapsoHook,
        kapso_server: KapsoServer,
        filters: dict[str, Any],
        query: dict[str, str],
        expected: list[str],
    ) -> None:
        simulator = kapso_server.simulator
        simulator.create_template("order_update")
        simulator.create_template("bienvenida", "es_ES")
        simulator.create_template("spring_offer", category="MARKETING", status="draft")
        assert [record["name"] for record in hook.list_templates(**filters)] == expected
        (request,) = simulator.requests
        assert {key: value for key, value in request.query.items() if key.startswith("q[")} == query

    def test_filter_by_config(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        other = simulator.add_whatsapp_config()
        simulator.create_template("default_only")
        simulator.create_template("second_number", whatsapp_config_ids=[other["id"]])
        assert [record["name"] for record in hook.list_templates(whatsapp_config_id=other["id"])] == ["second_number"]

    def test_get(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        created = kapso_server.simulator.create_template("order_update", content="Hi {{1}}")
        assert hook.get_template(created["id"]) == created

    def test_get_unknown_is_not_found(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError):
            hook.get_template(str(uuid.uuid4()))

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"category": "PROMO"}, "category: must be one of MARKETING, UTILITY, AUTHENTICATION"),
            ({"status": "removed"}, "status: must be one of draft"),
            ({"name": ""}, "name: must be a non-empty string"),
        ],
    )
    def test_bad_filter_fails_before_any_request(
        self, kapso_server: KapsoServer, filters: dict[str, Any], expected: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            KapsoHook().list_templates(**filters)
        assert kapso_server.simulator.requests == []


class TestCreateUpdateSubmit:
    def test_create_update_submit_review_edit(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        created = hook.create_template(
            "order_update",
            language_code="en_US",
            category="UTILITY",
            components=BODY,
            parameter_format="POSITIONAL",
            whatsapp_config_id=simulator.default_whatsapp_config_id,
        )
        assert created["status"] == "draft"
        assert created["components"] == BODY  # an array, as openapi-whatsapp.yaml defines it
        assert created["parameter_count"] == 2
        assert created["whatsapp_config_ids"] == [simulator.default_whatsapp_config_id]

        updated = hook.update_template(created["id"], components=[{"type": "BODY", "text": "Hi {{1}}"}])
        assert updated["content"] == "Hi {{1}}"
        assert updated["parameter_count"] == 1

        answer = hook.submit_template(created["id"])
        assert answer["status"] == "success"
        assert answer["template_id"] == created["id"]
        assert answer["data"]["status"] == "submitted"
        assert answer["submission_id"] == simulator.template_admin.submissions()[0]["submission_id"]

        simulator.template_admin.review(created["id"], "approved")
        edited = hook.edit_template_on_meta(
            created["id"], components=[{"type": "BODY", "text": "Hello {{1}}"}], time_to_live=3600
        )
        assert edited["content"] == "Hello {{1}}"
        assert edited["status"] == "approved"

        bodies = [request.json for request in simulator.requests]
        assert bodies[0] == {
            "template": {
                "name": "order_update",
                "language_code": "en_US",
                "category": "UTILITY",
                "components": BODY,
                "parameter_format": "POSITIONAL",
            },
            "whatsapp_config_id": simulator.default_whatsapp_config_id,
        }
        assert bodies[2] is None  # submit's body is optional: none is sent without a config or customer

    def test_created_template_can_be_sent_once_approved(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        created = hook.create_template(
            "greeting", language_code="en_US", category="UTILITY", components=NAMED_BODY, parameter_format="NAMED"
        )
        hook.submit_template(created["id"], whatsapp_config_id=kapso_server.simulator.default_whatsapp_config_id)
        kapso_server.simulator.template_admin.review(created["id"])
        hook.send_template(created["id"], phone_number="+15551234567", template_parameters={"customer_name": "Ada"})
        (message,) = kapso_server.simulator.messages()
        assert message["content"] == "Hello Ada!"

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"category": "PROMO"}, "category: must be one of"),
            ({"components": []}, "components: must be a non-empty list"),
            ({"components": {"type": "BODY", "text": "x"}}, "components: must be a non-empty list"),
            ({"components": [{"text": "no type"}]}, r"components\[0\].type: is required"),
            ({"parameter_format": "named"}, "parameter_format: must be one of NAMED, POSITIONAL"),
            ({"whatsapp_config_id": "a", "customer_id": "b"}, "give at most one of them"),
        ],
    )
    def test_bad_create_fails_before_any_request(
        self, kapso_server: KapsoServer, kwargs: dict[str, Any], expected: str
    ) -> None:
        arguments: dict[str, Any] = {"language_code": "en_US", "category": "UTILITY", "components": BODY, **kwargs}
        with pytest.raises(KapsoArgumentError, match=expected):
            KapsoHook().create_template("order_update", **arguments)
        assert kapso_server.simulator.requests == []

    def test_update_without_changes_fails_before_any_request(self, kapso_server: KapsoServer) -> None:
        with pytest.raises(KapsoArgumentError, match="give at least one of"):
            KapsoHook().update_template("some-id")
        with pytest.raises(KapsoArgumentError, match="give at least one of"):
            KapsoHook().edit_template_on_meta("some-id")
        assert kapso_server.simulator.requests == []

    def test_kapso_refusals_surface_as_validation_errors(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        approved = kapso_server.simulator.create_template("approved_one", content="Hi {{1}}")
        with pytest.raises(KapsoValidationError, match="Only draft templates can be updated"):
            hook.update_template(approved["id"], category="MARKETING")
        with pytest.raises(KapsoValidationError, match="Only draft templates can be submitted"):
            hook.submit_template(approved["id"])
        with pytest.raises(KapsoValidationError, match="Cannot edit the category of an approved template"):
            hook.edit_template_on_meta(approved["id"], category="MARKETING")


class TestSync:
    def test_sync_then_poll_until_done(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        admin = kapso_server.simulator.template_admin
        admin.sync_steps = 3
        admin.add_meta_template("spring_offer", content="Spring sale: {{1}} off")
        started = hook.sync_templates()
        assert started["status"] == "queued"
        assert started["summary"] == {"total_requests": 1, "jobs_enqueued": 1, "already_in_progress": 0}
        (run,) = started["sync_requests"]
        assert run["status"] == "queued"

        statuses = [
            hook.get_template_sync_status(sync_request_ids=[run["id"]])["sync_requests"][0]["status"] for _ in range(4)
        ]
        assert statuses == ["running", "running", "succeeded", "succeeded"]
        final = hook.get_template_sync_status(sync_request_ids=[run["id"]])
        assert final["summary"]["succeeded"] == 1
        assert final["sync_requests"][0]["templates_created"] == 1
        assert [template["name"] for template in hook.list_templates(status="approved")] == ["spring_offer"]

    def test_a_running_sync_is_answered_again(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        first = hook.sync_templates(whatsapp_config_id=kapso_server.simulator.default_whatsapp_config_id)
        second = hook.sync_templates()
        assert second["sync_requests"][0]["id"] == first["sync_requests"][0]["id"]
        assert second["summary"] == {"total_requests": 1, "jobs_enqueued": 0, "already_in_progress": 1}

    def test_failed_sync_and_status_filters(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        simulator.template_admin.sync_steps = 1
        simulator.template_admin.fail_next_sync("WhatsappApiError", "Invalid access token")
        (run,) = hook.sync_templates()["sync_requests"]
        status = hook.get_template_sync_status(whatsapp_config_id=simulator.default_whatsapp_config_id)
        (failed,) = status["sync_requests"]
        assert failed["id"] == run["id"]
        assert (failed["status"], failed["error_class"], failed["error_message"]) == (
            "failed",
            "WhatsappApiError",
            "Invalid access token",
        )
        assert hook.get_template_sync_status(business_account_id="999")["sync_requests"] == []
        assert hook.get_template_sync_status()["summary"]["failed"] == 1

    def test_unknown_config_is_not_found(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="Production WhatsApp configuration not found"):
            hook.sync_templates(whatsapp_config_id=str(uuid.uuid4()))

    @pytest.mark.parametrize(
        ("ids", "expected"),
        [
            ("one-id", "sync_request_ids: must be a non-empty list"),
            ([], "sync_request_ids: must be a non-empty list"),
            (["a,b"], r"sync_request_ids\[0\]: must be a sync request id"),
        ],
    )
    def test_bad_sync_request_ids_fail_before_any_request(
        self, kapso_server: KapsoServer, ids: Any, expected: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            KapsoHook().get_template_sync_status(sync_request_ids=ids)
        assert kapso_server.simulator.requests == []
