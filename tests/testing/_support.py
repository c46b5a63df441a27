"""What the simulator's tests share: constants, and the check that an answer is the one Kapso's files document.

Kapso's files live outside the package (``KAPSO_OPENAPI_DIR``, default ``<repo>/../shared/kapso-api``); the
current API's files are in its ``current/`` folder and are named here as ``current/openapi-platform.yaml``.
A test that needs a missing file is skipped.

One flaw of the v1 files is worked around for every check (``test_simulator_openapi.py`` pins it):
``WhatsappMessage.message_type_data`` is a ``oneOf`` of object schemas whose properties are all optional,
so every object matches them all and ``oneOf`` refuses every message; it is checked as ``anyOf``.
"""

from __future__ import annotations

import copy
import functools
import re
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import requests

from tests._openapi import load_spec

if TYPE_CHECKING:
    from kapso_provider.testing import KapsoSimulator

PHONE = "+15551234567"
TIMEOUT = 10
JSON = {"Content-Type": "application/json"}


def get(url: str, **kwargs: Any) -> requests.Response:
    """``requests.get`` with the tests' timeout."""
    return requests.get(url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def post(url: str, **kwargs: Any) -> requests.Response:
    """``requests.post`` with the tests' timeout."""
    return requests.post(url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def raw_exchange(sim: KapsoSimulator, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are; return the answer's status and its whole text (the server closes after it)."""
    with socket.create_connection((sim.host, sim.port), timeout=TIMEOUT) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return int(received.split(b" ", 2)[1]), received


def conversation_send(
    http: requests.Session, sim: KapsoSimulator, conversation_id: str, message: dict[str, Any], **kwargs: Any
) -> requests.Response:
    """A v1 send into a conversation."""
    kwargs.setdefault("timeout", TIMEOUT)
    return http.post(
        f"{sim.base_url}/whatsapp_conversations/{conversation_id}/whatsapp_messages",
        json={"message": message},
        **kwargs,
    )


def phone_send(
    http: requests.Session, sim: KapsoSimulator, message: dict[str, Any], **kwargs: Any
) -> requests.Response:
    """A v1 send to a phone number."""
    kwargs.setdefault("timeout", TIMEOUT)
    return http.post(f"{sim.base_url}/whatsapp_messages", json={"message": message}, **kwargs)


#: Answers whose ``oneOf`` no answer can satisfy, checked as ``anyOf`` (``test_current_openapi.py`` pins them):
#: the proxy's template create-or-update answer is "{id, status, category}" or "{success}", two objects whose
#: properties are all optional, so every answer matches both.
UNSATISFIABLE_ONE_OF = {
    "current/openapi-whatsapp.yaml": (("/{business_account_id}/message_templates", "post", "200"),),
}


@functools.cache
def document(name: str) -> dict[str, Any]:
    """A file of Kapso's, parsed once, with v1's unsatisfiable ``message_type_data`` relaxed to ``anyOf``.

    :param name: the file name (``openapi.yaml``, ``current/openapi-platform.yaml``).
    """
    patched = copy.deepcopy(load_spec(name))
    schemas = patched.get("components", {}).get("schemas", {})
    type_data = schemas.get("WhatsappMessage", {}).get("properties", {}).get("message_type_data", {})
    if "oneOf" in type_data:
        type_data["anyOf"] = type_data.pop("oneOf")
    for path, method, status in UNSATISFIABLE_ONE_OF.get(name, ()):
        schema = patched["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        schema["anyOf"] = schema.pop("oneOf")
    return patched


def validator(name: str, pointer: str, *, patched: bool = True) -> Any:
    """A validator of the schema at a JSON pointer of a file, its ``$ref`` s resolved inside the file.

    :param name: the file.
    :param pointer: ``/components/schemas/Error``, say.
    :param patched: use the relaxed copy of :func:`document`.
    """
    import openapi_schema_validator
    import referencing
    import referencing.jsonschema

    contents = document(name) if patched else load_spec(name)
    version = str(contents.get("openapi", "3.0"))
    specification = referencing.jsonschema.DRAFT202012 if version.startswith("3.1") else referencing.jsonschema.DRAFT4
    uri = f"urn:kapso-api:{name}"
    resource = referencing.Resource.from_contents(contents, default_specification=specification)
    registry = referencing.Registry().with_resource(uri, resource)
    if version.startswith("3.1"):
        return openapi_schema_validator.OAS31Validator(
            {"$ref": f"{uri}#{pointer}"},
            registry=registry,
            format_checker=openapi_schema_validator.oas31_format_checker,
        )
    return openapi_schema_validator.OAS30Validator(
        {"$ref": f"{uri}#{pointer}"}, registry=registry, format_checker=openapi_schema_validator.oas30_format_checker
    )


def errors_of(checker: Any, instance: Any) -> list[str]:
    """Every way ``instance`` breaks the validator's schema, one line each."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in checker.iter_errors(instance)]


def prefix_of(name: str) -> str:
    """The path prefix of a file's server (``/api/v1``, ``/platform/v1``, ``/meta/whatsapp/v24.0``)."""
    return str(urlsplit(document(name)["servers"][0]["url"]).path).rstrip("/")


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts))


def template_of(name: str, method: str, path: str) -> str:
    """The file's path template of a request path below its prefix; literal segments win.

    :raises LookupError: when the file has no such operation.
    """
    paths = document(name)["paths"]
    for template in sorted(paths, key=lambda entry: (entry.count("{"), -len(entry))):
        if method.lower() in paths[template] and _pattern(template).fullmatch(path):
            return str(template)
    raise LookupError(f"{name} has no operation {method} {path}")


def escape(path: str) -> str:
    """A path as one JSON-pointer token."""
    return path.replace("~", "~0").replace("/", "~1")


def answer_errors(name: str, response: requests.Response, *, template: str | None = None) -> list[str]:
    """What is wrong with an answer against the file's response schema for its operation and status.

    :param name: the file.
    :param response: the answer (its request gives the method and the path).
    :param template: the path template, when the path alone is ambiguous.
    """
    request = response.request
    method = str(request.method)
    path = urlsplit(str(request.url)).path.removeprefix(prefix_of(name)) or "/"
    template = template or template_of(name, method, path)
    operation = document(name)["paths"][template][method.lower()]
    status = str(response.status_code)
    if status not in operation["responses"]:
        return [f"{name} documents no {status} for {method} {template}"]
    pointer = f"/paths/{escape(template)}/{method.lower()}/responses/{status}"
    answer = operation["responses"][status]
    if "$ref" in answer:
        # A shared answer (``#/components/responses/NotFoundError``).
        pointer = answer["$ref"][1:]
        answer = document(name)["components"]["responses"][pointer.rsplit("/", 1)[1]]
    content = answer.get("content")
    if content is None:
        return [] if not response.content else [f"{name} documents no body for {status} of {method} {template}"]
    media = "application/json" if "application/json" in content else next(iter(content))
    return errors_of(validator(name, f"{pointer}/content/{escape(media)}/schema"), response.json())


def assert_documented(name: str, response: requests.Response, *, template: str | None = None) -> Any:
    """Fail unless the answer is what the file documents for its operation and status; returns its JSON.

    :param name: the file.
    :param response: the answer.
    :param template: the path template, when the path alone is ambiguous.
    """
    errors = answer_errors(name, response, template=template)
    if errors:
        pytest.fail(f"{response.request.method} {response.request.url} {response.status_code}:\n" + "\n".join(errors))
    return response.json() if response.content else None


def request_errors(name: str, method: str, template: str, query: dict[str, Any], body: Any) -> list[str]:
    """What is wrong with a request against the file's operation: undeclared or bad query parameters, and a
    JSON body that breaks the request schema (or is sent where none is declared).

    :param name: the file.
    :param method: HTTP method.
    :param template: the operation's path template.
    :param query: the query sent.
    :param body: the decoded JSON body, ``None`` for none.
    """
    spec = document(name)
    item = spec["paths"][template]
    operation = item[method.lower()]
    problems = []
    declared = {}
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        if "$ref" in parameter:
            parameter = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        if parameter.get("in") == "query":
            declared[parameter["name"]] = parameter.get("schema", {})
    for key in query:
        if key not in declared:
            problems.append(f"query {key!r} is not a parameter of {method} {template}")
    content = (operation.get("requestBody") or {}).get("content", {})
    if body is not None:
        if "application/json" not in content:
            problems.append(f"{method} {template} takes no JSON body")
        else:
            pointer = f"/paths/{escape(template)}/{method.lower()}/requestBody/content/application~1json/schema"
            problems.extend(f"body {error}" for error in errors_of(validator(name, pointer), body))
    return problems
