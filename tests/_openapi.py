"""Kapso's OpenAPI files for tests: load one, take an operation's request schema, validate against it.

The files live outside the package: ``KAPSO_OPENAPI_DIR``, by default ``<repo root>/../shared/kapso-api``.
:func:`load_spec` skips the calling test when a file is absent, so suites stay green on machines
without them.

Only the schema a test asks for has its ``$ref`` s resolved, never the whole document: ``openapi.yaml``
holds dangling references (``Project``, ``PaginationMeta``) in parts no request schema uses.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parents[1]


def spec_dir() -> Path:
    """The folder holding Kapso's OpenAPI files."""
    configured = os.environ.get("KAPSO_OPENAPI_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "kapso-api"


@functools.cache
def _read(path: Path) -> dict[str, Any]:
    import yaml

    # The C loader reads the 200 kB files about ten times faster; fall back where libyaml is missing.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return document


def load_spec(name: str) -> dict[str, Any]:
    """One OpenAPI document, parsed once per session; skips the calling test when the file is absent.

    :param name: the file name, e.g. ``"openapi.yaml"`` or ``"openapi-whatsapp.yaml"``.
    :returns: the parsed document, shared between callers: do not modify it.
    """
    path = spec_dir() / name
    if not path.is_file():
        pytest.skip(f"Kapso OpenAPI file {path} not found (set KAPSO_OPENAPI_DIR)")
    return _read(path)


def _pointer(spec: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = spec
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[key]
        except (KeyError, TypeError):
            raise LookupError(f"dangling $ref {ref!r}: no {key!r}") from None
    return node


def resolve_refs(node: Any, spec: dict[str, Any], _trail: tuple[str, ...] = ()) -> Any:
    """A copy of ``node`` with every local ``$ref`` replaced by what it points to in ``spec``.

    :param node: a schema, or any part of ``spec``.
    :param spec: the document the references point into.
    :raises LookupError: on a reference that points nowhere.
    :raises ValueError: on a recursive reference (none of Kapso's request schemas has one).
    """
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in _trail:
                raise ValueError(f"recursive $ref {ref!r} via {' -> '.join(_trail)}")
            return resolve_refs(_pointer(spec, ref), spec, (*_trail, ref))
        return {key: resolve_refs(value, spec, _trail) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_refs(item, spec, _trail) for item in node]
    return node


def request_schema(
    spec: dict[str, Any], path: str, method: str, content_type: str = "application/json"
) -> dict[str, Any]:
    """The request body schema of one operation, with its references resolved.

    :param spec: a document from :func:`load_spec`.
    :param path: the path as written in the file, e.g. ``"/whatsapp_messages"``.
    :param method: the HTTP method, any case.
    :param content_type: the media type of the body.
    """
    operation = spec["paths"][path][method.lower()]
    schema: dict[str, Any] = resolve_refs(operation["requestBody"]["content"][content_type]["schema"], spec)
    return schema


def validation_errors(schema: dict[str, Any], instance: Any, spec: dict[str, Any] | None = None) -> list[str]:
    """Every way ``instance`` breaks ``schema`` (OpenAPI 3.0 rules, formats checked), one line each.

    :param schema: a schema; its references are resolved against ``spec`` when given.
    :param instance: the JSON value to check.
    :param spec: the document the schema comes from, when it may still hold references.
    """
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    if spec is not None:
        schema = resolve_refs(schema, spec)
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    errors = sorted(validator.iter_errors(instance), key=lambda error: list(map(str, error.absolute_path)))
    return [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]


def validate(schema: dict[str, Any], instance: Any, spec: dict[str, Any] | None = None) -> None:
    """Fail the test, listing every problem, unless ``instance`` is valid against ``schema``.

    :param schema: a schema; its references are resolved against ``spec`` when given.
    :param instance: the JSON value to check.
    :param spec: the document the schema comes from, when it may still hold references.
    """
    errors = validation_errors(schema, instance, spec)
    if errors:
        pytest.fail("not valid against the schema:\n" + "\n".join(errors))


SPEC_FILES = (
    "openapi.yaml",
    "openapi-whatsapp.yaml",
    "openapi-platform.yaml",
    "openapi-agents.yaml",
    "openapi-functions.yaml",
)


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts))


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    """A query string value as the JSON type its parameter schema declares."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def request_problems(method: str, path: str, query: dict[str, str], body: Any, spec_name: str) -> list[str] | None:
    """What is wrong with one request against one file, or ``None`` when the file has no such operation.

    The operation is the file's path template that matches ``path``; the query's names must be declared
    parameters (values checked against their schemas), and the body must match the request body schema
    (a body where the operation declares none is a problem too).

    :param method: the HTTP method.
    :param path: the path below ``/api/v1``, ids filled in.
    :param query: the query parameters sent.
    :param body: the decoded JSON body, ``None`` for none.
    :param spec_name: one of :data:`SPEC_FILES`.
    """
    spec = load_spec(spec_name)
    # Literal paths win over templated ones: /whatsapp_templates/sync_status is not template "sync_status".
    for template, item in sorted(spec.get("paths", {}).items(), key=lambda entry: entry[0].count("{")):
        operation = item.get(method.lower()) if _template_pattern(template).fullmatch(path) else None
        if operation is None:
            continue
        problems: list[str] = []
        declared = {}
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = resolve_refs(parameter, spec)
            if parameter.get("in") == "query":
                declared[parameter["name"]] = parameter.get("schema", {})
        for name, value in query.items():
            if name not in declared:
                problems.append(f"query {name!r}: not a parameter of {method} {template} in {spec_name}")
                continue
            problems.extend(
                f"query {name}: {error}"
                for error in validation_errors(declared[name], _coerce(value, declared[name]), spec)
            )
        request_body = operation.get("requestBody")
        if body is not None:
            content = (request_body or {}).get("content", {}).get("application/json")
            if content is None:
                problems.append(f"body: {method} {template} takes no JSON body in {spec_name}")
            else:
                problems.extend(f"body {error}" for error in validation_errors(content["schema"], body, spec))
        elif request_body is not None and request_body.get("required"):
            problems.append(f"body: required by {method} {template} in {spec_name}")
        return problems
    return None


def assert_valid_request(
    method: str, path: str, query: dict[str, str], body: Any, *, files: tuple[str, ...] = SPEC_FILES
) -> list[str]:
    """Fail unless the request is valid in every file of ``files`` that has its operation; returns them.

    Pass ``files`` to name the one file a request follows where the files contradict each other (and say
    so in a comment and in ``docs/kapso-api-notes.md``).
    """
    verdicts = {name: request_problems(method, path, query, body, name) for name in files}
    defining = {name: problems for name, problems in verdicts.items() if problems is not None}
    if not defining:
        pytest.fail(f"no operation {method} {path} in {', '.join(files)}")
    failures = [f"{name}: {problem}" for name, problems in defining.items() for problem in problems or []]
    if failures:
        pytest.fail(f"{method} {path} is not valid:\n" + "\n".join(failures))
    return sorted(defining)


def conversation_filters_file(request: Any) -> tuple[str, ...]:
    """The files a recorded request follows where the conversation list's filters are concerned.

    ``q[phone_number_eq]``, ``q[whatsapp_config_id_eq]`` and the other ``GET /whatsapp_conversations`` filters
    are declared only in ``openapi-whatsapp.yaml``, the newer WhatsApp file (``docs/kapso-api-notes.md``).
    """
    return ("openapi-whatsapp.yaml",) if request.path == "/whatsapp_conversations" else SPEC_FILES


def agent_phone_filter_file(request: Any) -> tuple[str, ...]:
    """``q[phone_number_eq]`` on the agent lists exists only in ``openapi-agents.yaml``, the newer file."""
    return ("openapi-agents.yaml",) if "q[phone_number_eq]" in request.query else SPEC_FILES


def assert_requests_valid(
    requests: Iterable[Any], *, files_for: Callable[[Any], tuple[str, ...]] | None = None
) -> None:
    """:func:`assert_valid_request` for every request the simulator recorded (current-API requests: their files).

    :param files_for: the files one request follows, where the files contradict each other; by default every
        file that defines its operation.
    """
    requests = list(requests)
    current = [request for request in requests if getattr(request, "api", "") in CURRENT_FILES]
    if current:
        # Requests to Kapso's current API follow its own files.
        assert_current_requests_valid(current)
    for request in requests:
        if request in current:
            continue
        files = files_for(request) if files_for is not None else SPEC_FILES
        assert_valid_request(request.method, request.path, request.query, request.json, files=files)


# -- Kapso's current APIs (``../shared/kapso-api/current``) ----------------------------------------------------

#: The files of each current API, by the ``api`` the simulator records (``meta``: the proxy).
CURRENT_FILES = {
    "meta": ("current/openapi-whatsapp.yaml",),
    "platform": ("current/openapi-platform.yaml", "current/openapi-kapso-agent.yaml"),
}


def current_request_problems(request: Any) -> list[str]:
    """What is wrong with one recorded current-API request: the operation must exist in its API's files, the
    query names be declared and their values match the parameters' schemas, the JSON body match the request
    schema (checked with the OpenAPI 3.1 rules of the files)."""
    from openapi_schema_validator import OAS31Validator, oas31_format_checker

    from tests.testing._support import document, prefix_of, request_errors, template_of

    for name in CURRENT_FILES[request.api]:
        try:
            template = template_of(name, request.method, request.path.removeprefix(prefix_of(name)))
        except LookupError:
            continue
        if str(request.headers.get("Content-Type") or "").startswith("multipart/form-data"):
            return _multipart_problems(name, template, request)
        body = _as_the_schema_words_it(request.json)
        problems = request_errors(name, request.method, template, request.query, body)
        item = document(name)["paths"][template]
        for parameter in [*item.get("parameters", []), *item[request.method.lower()].get("parameters", [])]:
            if "$ref" in parameter:
                parameter = document(name)["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
            value = request.query.get(parameter["name"]) if parameter.get("in") == "query" else None
            if value is not None:
                schema = parameter.get("schema", {})
                checker = OAS31Validator(schema, format_checker=oas31_format_checker)
                problems += [
                    f"query {parameter['name']}: {e.message}" for e in checker.iter_errors(_coerce(value, schema))
                ]
        return problems
    return [f"no operation {request.method} {request.path} in {', '.join(CURRENT_FILES[request.api])}"]


def _as_the_schema_words_it(body: Any) -> Any:
    """A product list body with its sections moved where the proxy's schema puts them, for validation only.

    The proxy's ``InteractiveMessage`` requires ``rows`` in every ``action.sections`` item (the list's shape)
    and declares a product list's sections under ``action.parameters``, while the file's own
    ``interactive_product_list`` example, and Meta's API, put them under ``action``. The provider sends
    Meta's form (``docs/kapso-api-notes.md``); the same content in the schema's form must be valid.
    """
    interactive = body.get("interactive") if isinstance(body, dict) else None
    if not isinstance(interactive, dict) or interactive.get("type") != "product_list":
        return body
    action = dict(interactive.get("action") or {})
    parameters = {**action.pop("parameters", {}), "sections": action.pop("sections", [])}
    return {**body, "interactive": {**interactive, "action": {**action, "parameters": parameters}}}


def _multipart_problems(name: str, template: str, request: Any) -> list[str]:
    """The form fields a multipart request (a media upload) carries, against the file's form schema."""
    from kapso_provider.testing._current.media import multipart_parts

    operation = load_spec(name)["paths"][template][request.method.lower()]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    parts = multipart_parts(str(request.headers.get("Content-Type")), request.body)
    problems = [f"multipart: field {field!r} missing" for field in schema.get("required", []) if field not in parts]
    for field_name, (_headers, content) in parts.items():
        declared = schema.get("properties", {}).get(field_name)
        if declared is None:
            problems.append(f"multipart: field {field_name!r} is not declared")
        elif "enum" in declared and content.decode(errors="replace") not in declared["enum"]:
            problems.append(f"multipart: field {field_name!r} is not one of {declared['enum']}")
    return problems


def assert_current_requests_valid(requests: Iterable[Any], *, at_least: int = 1) -> int:
    """Fail unless every recorded request to the current APIs is valid in their files; returns how many.

    :param at_least: how many current-API requests there must have been (a check of none proves nothing).
    """
    checked = [request for request in requests if request.api in CURRENT_FILES]
    failures = [f"{r.method} {r.path}: {problem}" for r in checked for problem in current_request_problems(r)]
    if failures:
        pytest.fail("not valid against Kapso's current files:\n" + "\n".join(failures))
    assert len(checked) >= at_least, f"{len(checked)} current-API requests recorded, expected at least {at_least}"
    return len(checked)
