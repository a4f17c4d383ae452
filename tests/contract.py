"""The ingest API's contract in the tests: an answer is checked against `openapi.json` by
Schemathesis' own response checks, the same the fuzzing in test_api_schema runs. A status
the operation does not document, another content type, a missing header, or a field the
schema does not name (they allow no others) fails the test that got the answer."""

from __future__ import annotations

from typing import Any

import requests
import schemathesis
from django.http import HttpResponse
from django.test import Client
from django.urls import Resolver404
from schemathesis.checks import (  # registered by name when schemathesis loads
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sendon_results.api.views import OPENAPI_FILE

SCHEMA = schemathesis.openapi.from_path(OPENAPI_FILE)
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class ContractClient(Client):
    """A test client that checks each answer of a documented operation against the
    document (other addresses and methods are the API's 404 and 405, not operations)."""

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        if operation_of(response):
            assert_documented(response)
        return response


def operation_of(response: HttpResponse) -> tuple[str, str] | None:
    """(path template, method) of the documented operation that answered, from the URL
    pattern Django matched; None for an address or method the API does not have."""
    try:
        match = response.resolver_match
        template = "/" + match.route
    except Resolver404:  # an address outside /api/, which no view answers
        return None
    for converter in ("str", "path", "id"):
        template = template.replace(f"<{converter}:", "{")
    template = template.replace(">", "}")
    method = response.request["REQUEST_METHOD"].lower()
    operations = SCHEMA.raw_schema["paths"].get(template, {})
    return (template, method) if method in operations else None


def assert_documented(response: HttpResponse) -> None:
    """Fails unless an operation of openapi.json answered, in the way it documents."""
    found = operation_of(response)
    assert found, (
        f"{response.request['REQUEST_METHOD']} {response.request['PATH_INFO']}: no operation"
    )
    template, method = found
    request = response.wsgi_request
    sent = requests.Request(
        method=request.method, url=request.build_absolute_uri(), headers=dict(request.headers)
    ).prepare()
    answer = schemathesis.Response(
        status_code=response.status_code,
        headers={name: [value] for name, value in response.headers.items()},
        content=response.content,
        request=sent,
        elapsed=0.0,
        verify=False,
    )
    case = SCHEMA[template][method].Case(path_parameters=response.resolver_match.kwargs)
    case.validate_response(answer, checks=CHECKS)
