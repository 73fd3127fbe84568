"""The JSON API fuzzed from its own OpenAPI document with schemathesis: every operation, valid
and invalid data, an admin's token, on the test's database (SQLite, or PostgreSQL in CI's second
run). No answer may be a server error, and every answer must match what the document declares
(status, content type, headers, body). The number of examples per operation is bounded
(HOTLINE_FUZZ_EXAMPLES, default 6 of each kind) so the run stays a couple of minutes."""

from __future__ import annotations

import copy
import os
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from core.models import Role
from tests.factories import make_api_token, make_user
from tests.tickets.factories_tickets import World, make_customer, make_ticket, world  # noqa: F401

EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _fuzz(app: Any, headers: dict[str, str]) -> tuple[int, list[str]]:
    document = copy.deepcopy(app.openapi())
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    client = asgi.get_client(app)
    client.headers.update(headers)
    sent = 0
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            sent += _fuzz_operation(operation, mode, client, failures)
    return sent, failures


def _fuzz_operation(operation: Any, mode: GenerationMode, client: Any, failures: list[str]) -> int:
    """Send the operation's examples of one kind; note each failure; the number sent."""
    sent = 0
    name = f"{operation.method.upper()} {operation.path} [{mode.value}]"

    @settings(max_examples=EXAMPLES, phases=[Phase.explicit, Phase.generate], deadline=None, database=None,
              suppress_health_check=list(HealthCheck), derandomize=True)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        try:
            response = case.call(session=client)
        except Exception as exc:  # noqa: BLE001 - the app raised: a server error, reported with the rest
            failures.append(f"{name} raised {type(exc).__name__}: {str(exc).splitlines()[0][:240]}")
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:  # collected, then reported all together
            for failure in exc.exceptions if isinstance(exc, FailureGroup) else [exc]:
                message = (failure.message.strip().splitlines() or [""])[0]
                failures.append(f"{name} {response.status_code} {failure.title}: {message[:240]}")

    try:
        run()
    except Unsatisfiable:  # nothing in the operation can be invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, name
    return sent


@pytest.mark.timeout(1200)  # some 1,500 requests: about 3 minutes on SQLite, 5 on PostgreSQL on two cores
def test_the_api_answers_every_fuzzed_request_as_its_document_says(app: Any, session: Session, world: World) -> None:
    make_ticket(session, by=world.agent)  # something to find behind the smallest ids
    make_customer(session, site=world.site)
    headers = {"Authorization": f"Bearer {make_api_token(session, make_user(session, role=Role.admin))}"}
    with TestClient(app):  # the app's lifespan, as in a served process
        sent, failures = _fuzz(app, headers)
    print(f"schemathesis: {sent} requests")
    assert sent >= 100 * EXAMPLES  # every operation, each with several examples
    unique = sorted(set(failures))
    assert unique == [], f"{len(unique)} kinds of failure:\n" + "\n".join(unique[:60])
