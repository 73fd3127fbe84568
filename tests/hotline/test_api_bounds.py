"""Every integer a route takes is bounded by the database's own limits: an id, offset or version
past PostgreSQL's INTEGER is answered 422 naming the field, not a server error with a closed
connection; and the OpenAPI document publishes each bound."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from core.limits import INT_MAX, INT_MIN
from core.models import Role
from tests.factories import make_api_token, make_user, signed_in_client
from tests.tickets.factories_tickets import World, make_ticket, world  # noqa: F401

TOO_BIG = INT_MAX + 1


def _admin(session: Session) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_api_token(session, make_user(session, role=Role.admin))}"}


def _refused(response: Any, loc: list[str]) -> None:
    assert response.status_code == 422, (response.status_code, response.text)
    body = response.json()
    assert body["code"] == "invalid" and loc in [e["loc"] for e in body["errors"]], body


def test_the_fuzzers_integers_are_422_not_server_errors(client: TestClient, session: Session) -> None:
    """The requests that answered 500 on PostgreSQL ("integer out of range")."""
    headers = _admin(session)
    _refused(client.get(f"/api/v1/customers/{TOO_BIG}", headers=headers), ["path", "customer_id"])
    _refused(client.get("/api/qa/scorecards/8867092146899347", headers=headers), ["path", "scorecard_id"])
    _refused(client.get("/api/v1/grants?offset=852955948600872534016", headers=headers), ["query", "offset"])
    _refused(client.post("/api/v1/grants/96292312850/revoke", headers=headers), ["path", "grant_id"])
    _refused(client.get(f"/api/qa/evaluations?agent_id={INT_MIN - 1}", headers=headers), ["query", "agent_id"])
    _refused(client.post(f"/api/v1/calls/{TOO_BIG}/hold", headers=headers), ["path", "call_id"])
    # The largest id the database holds is a plain "not found".
    assert client.get(f"/api/v1/customers/{INT_MAX}", headers=headers).status_code == 404
    assert client.get(f"/api/qa/scorecards/{INT_MIN}", headers=headers).status_code == 404
    assert client.get("/api/me", headers=headers).status_code == 200  # the connection still works


def test_an_integer_in_a_body_is_bounded_too(client: TestClient, session: Session, world: World) -> None:
    ticket = make_ticket(session, by=world.agent)
    headers = {"Authorization": f"Bearer {make_api_token(session, world.agent)}"}
    response = client.patch(f"/api/v1/tickets/{ticket.id}", headers=headers,
                            json={"version": TOO_BIG, "assignee_id": TOO_BIG})
    _refused(response, ["body", "version"])
    _refused(response, ["body", "assignee_id"])


def test_a_page_answers_a_huge_id_with_its_error_page(client: TestClient, session: Session) -> None:
    signed_in_client(client, make_user(session, role=Role.admin))
    page = client.get(f"/tickets/{TOO_BIG}", headers={"Accept": "text/html"})
    assert page.status_code == 422 and "text/html" in page.headers["content-type"]


def _request_integers(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every integer schema a request may carry: parameters and request bodies, through $refs."""
    found: list[tuple[str, dict[str, Any]]] = []
    components = document.get("components", {}).get("schemas", {})

    def walk(node: Any, where: str, seen: frozenset[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):  # "#/components/schemas/X", or "#/$defs/X" in a field's own schema
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    walk(components[name], f"{where}→{name}", seen | {name})
            if node.get("type") == "integer":
                found.append((where, node))
            for key, value in node.items():
                if key != "$ref":
                    walk(value, f"{where}.{key}", seen)
        elif isinstance(node, list):
            for item in node:
                walk(item, where, seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method.upper()} {path} {parameter['name']}", frozenset())
            walk(operation.get("requestBody", {}), f"{method.upper()} {path} body", frozenset())
    return found


def test_the_openapi_document_bounds_every_integer_a_request_carries(client: TestClient, session: Session) -> None:
    document = client.get("/openapi.json", headers=_admin(session)).json()
    integers = _request_integers(document)
    assert len(integers) > 100  # ids, versions, offsets and counts across the API
    unbounded = [where for where, schema in integers
                 if not (INT_MIN <= schema.get("minimum", schema.get("exclusiveMinimum", INT_MIN - 1))
                         and schema.get("maximum", schema.get("exclusiveMaximum", INT_MAX + 1)) <= INT_MAX)]
    assert unbounded == []


def _fields(dependant: Any) -> list[Any]:
    own = [*dependant.path_params, *dependant.query_params, *dependant.header_params, *dependant.cookie_params,
           *dependant.body_params]
    return own + [field for sub in dependant.dependencies for field in _fields(sub)]


def test_every_route_bounds_its_integers_pages_included(app: Any) -> None:
    """Pages are not in the OpenAPI document; their ids and form numbers are bounded all the same."""
    checked = 0
    unbounded = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None:
            continue
        for field in _fields(dependant):
            info = field.field_info
            annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation  # type: ignore[valid-type]
            schema = TypeAdapter(annotation).json_schema()
            for where, node in _request_integers({"paths": {context.path: {"x": {"parameters": [
                    {"name": field.name, "schema": schema}]}}}, "components": {"schemas": schema.get("$defs", {})}}):
                checked += 1
                if node.get("maximum", INT_MAX + 1) > INT_MAX or node.get("minimum", INT_MIN - 1) < INT_MIN:
                    unbounded.append(where)
    assert checked > 200 and unbounded == []
