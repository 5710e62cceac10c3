"""The OpenAPI 3.1 document, and a property-based run against it: inputs generated from the
document's own schemas, sent over mutual TLS, must never get a 5xx nor an answer the
document does not describe."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.frontends.rest import openapi_customer
from adapter.frontends.rest.app import build_rest_app
from adapter.frontends.rest.openapi import build_openapi
from tests.rest.conftest import new_key, transfer_body

PATHS = {"/v1", "/metrics", "/v1/accounts", "/v1/accounts/{account_id}",
         "/v1/accounts/{account_id}/balances", "/v1/accounts/{account_id}/transactions",
         "/v1/transfers", "/v1/bill-payments", "/v1/payments/{payment_id}", "/healthz",
         "/readyz"}


@pytest.fixture(scope="module")
def document(partner: httpx.Client) -> dict[str, Any]:
    r = partner.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _local(doc: dict[str, Any], node: Any) -> Any:
    """A schema with the document's components as $defs, so it stands alone."""
    text = json.dumps(node).replace("#/components/schemas/", "#/$defs/")
    return {**json.loads(text), "$defs": json.loads(
        json.dumps(doc["components"]["schemas"]).replace("#/components/schemas/", "#/$defs/"))}


def _check_response(doc: dict[str, Any], path: str, method: str, r: httpx.Response) -> None:
    assert r.status_code < 500, (path, r.status_code, r.text)
    responses = doc["paths"][path][method]["responses"]
    spec = responses.get(str(r.status_code), responses.get("default"))
    assert spec is not None, (path, r.status_code)
    media = r.headers["content-type"]
    assert media in spec["content"], (path, r.status_code, media)
    schema = _local(doc, spec["content"][media]["schema"])
    jsonschema.Draft202012Validator(schema).validate(r.json())
    assert r.headers["x-request-id"]


def test_document_is_openapi_31_with_every_resource(document: dict[str, Any]) -> None:
    """The document is OpenAPI 3.1, mutual TLS, lists every path, and its schemas are valid."""
    assert document["openapi"] == "3.1.0"
    assert {p for p in document["paths"] if not p.startswith("/v1/customer/")} == PATHS
    assert document["components"]["securitySchemes"]["mutualTLS"]["type"] == "mutualTLS"
    assert "24 hours" in document["info"]["description"]
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    amount = document["components"]["schemas"]["Amount"]["properties"]["amount"]
    assert amount["type"] == "string"


def test_known_good_answers_match_the_document(document: dict[str, Any],
                                               partner: httpx.Client) -> None:
    """Every resource's success answer validates against its documented schema."""
    created = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                           json=transfer_body("0.01"))
    _check_response(document, "/v1/transfers", "post", created)
    for path, url in [
        ("/v1/accounts", "/v1/accounts"),
        ("/v1/accounts/{account_id}", "/v1/accounts/10000001"),
        ("/v1/accounts/{account_id}/balances", "/v1/accounts/10000001/balances"),
        ("/v1/accounts/{account_id}/transactions", "/v1/accounts/10000001/transactions"),
        ("/v1/payments/{payment_id}", f"/v1/payments/{created.json()['paymentId']}"),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
        ("/v1", "/v1"),
    ]:
        r = partner.get(url)
        assert r.status_code == 200, url
        _check_response(document, path, "get", r)


def test_v1_is_an_index_of_the_entry_points(document: dict[str, Any], bank: Any,
                                            partner: httpx.Client) -> None:
    """GET /v1, the URL the banner prints, answers an index (it was a 404, issue 12.6): each
    link is a path of the document or the document itself, each one answers, and every
    other resource is reached by the links of what they answer."""
    r = partner.get("/v1")
    assert r.status_code == 200
    _check_response(document, "/v1", "get", r)
    links = {name: link["href"] for name, link in r.json()["_links"].items()}
    assert links == {"self": "/v1", "accounts": "/v1/accounts", "transfers": "/v1/transfers",
                     "billPayments": "/v1/bill-payments", "openapi": "/openapi.json",
                     "health": "/healthz", "readiness": "/readyz"}
    for name, href in links.items():
        expected = 405 if name in ("transfers", "billPayments") else 200
        assert partner.get(href).status_code == expected, name
    account = partner.get(links["accounts"]).json()["accounts"][0]["_links"]
    assert partner.get(account["balances"]["href"]).status_code == 200
    assert partner.get(account["transactions"]["href"]).status_code == 200
    # Described by the document, so reachable with any certificate of the bank's CA.
    with bank.client("stranger") as stranger:
        assert stranger.get("/v1").status_code == 200


def from_schema(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A Hypothesis strategy for the JSON Schema subset pydantic writes (objects, $ref,
    anyOf, strings with pattern/maxLength, integers, null); optional members come and go,
    and one in five values anywhere is replaced by arbitrary JSON to probe the refusals."""
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return st.deferred(lambda: from_schema(root["$defs"][name], root))
    if "anyOf" in schema:
        return st.one_of([from_schema(s, root) for s in schema["anyOf"]])
    kind = schema.get("type")
    shaped: Any
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        shaped = st.fixed_dictionaries(
            {k: from_schema(v, root) for k, v in props.items() if k in required},
            optional={k: from_schema(v, root) for k, v in props.items() if k not in required})
    elif kind == "string" and "pattern" in schema:
        shaped = st.from_regex(schema["pattern"], fullmatch=True)
    elif kind == "string":
        shaped = st.text(max_size=schema.get("maxLength", 40))
    elif kind == "integer":
        shaped = st.integers(schema.get("minimum"), schema.get("maximum"))
    elif kind == "null":
        shaped = st.none()
    else:
        shaped = _json
    return st.one_of(shaped, shaped, shaped, shaped, _json)


_json = st.recursive(
    # No NaN nor infinity: JSON cannot carry them (the client could not send the request).
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=5)

_ascii = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                 max_size=40)


def test_generated_requests_get_documented_answers(document: dict[str, Any],
                                                   partner: httpx.Client) -> None:
    """Requests generated from the document's schemas get no 5xx and only documented answers."""
    schemas = {name: _local(document, {"$ref": f"#/components/schemas/{name}"})
               for name in ("TransferInitiation", "BillPaymentInitiation")}
    small = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.99"), places=2)
    # Mostly schema-shaped noise, plus well-formed transfers with generated amounts, texts
    # and keys, so the run reaches the services and the core too.
    transfer = st.one_of(
        from_schema(schemas["TransferInitiation"]),
        st.builds(lambda a, e2e: transfer_body(str(a), e2e=e2e), small,
                  st.from_regex(r"\A[A-Za-z0-9/\-?:().,'+]{1,35}\Z")),
    )
    account = st.one_of(st.sampled_from(["10000001", "10000002", "10000003", "99999999",
                                         "DE89370400440532013000"]),
                        st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,33}\Z"))
    query = st.fixed_dictionaries({}, optional={
        "limit": st.one_of(st.integers(-5, 150).map(str), _ascii),
        "dateFrom": st.one_of(st.dates().map(str), _ascii),
        "dateTo": st.one_of(st.dates().map(str), _ascii),
        "cursor": _ascii})
    operation = st.one_of(
        st.tuples(st.just(("post", "/v1/transfers")), transfer, _ascii),
        st.tuples(st.just(("post", "/v1/bill-payments")),
                  from_schema(schemas["BillPaymentInitiation"]), _ascii),
        st.tuples(st.just(("get", "/v1/accounts/{account_id}")), account, st.just({})),
        st.tuples(st.just(("get", "/v1/accounts/{account_id}/balances")), account,
                  st.just({})),
        st.tuples(st.just(("get", "/v1/accounts/{account_id}/transactions")), account, query),
        st.tuples(st.just(("get", "/v1/payments/{payment_id}")), _ascii, st.just({})),
    )

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(operation)
    def run(op: tuple[tuple[str, str], Any, Any]) -> None:
        (method, path), arg, extra = op
        if method == "post":
            r = partner.post(path, json=arg, headers={"Idempotency-Key": extra})
        elif "{payment_id}" in path:
            r = partner.get(path.replace("{payment_id}", quote(arg, safe="")))
        else:
            r = partner.get(path.replace("{account_id}", quote(arg, safe="")), params=extra)
        _check_response(document, path, method, r)

    run()


def test_every_customer_route_is_documented_with_its_security(bank: Any) -> None:
    """Issue 15: each /v1/customer route customer.py serves is in the document, requires the
    mobile relay's certificate, and, behind a session, the DPoP-bound token and its proof;
    every 401 declares the `WWW-Authenticate: DPoP` challenge as a required header."""
    document = build_openapi()
    app = build_rest_app(bank.services, bank.adapter.app.settings, bank.adapter.app.customers)
    served = {(method.lower(), route.path) for route in app.routes
              if route.path.startswith(openapi_customer.PREFIX + "/")
              for method in (route.methods or ()) if method != "HEAD"}
    documented = {(method, path) for path, item in document["paths"].items()
                  if path.startswith(openapi_customer.PREFIX + "/") for method in item}
    assert documented == served
    schemes = document["components"]["securitySchemes"]
    assert (schemes["dpopToken"]["type"], schemes["dpopToken"]["scheme"]) == ("http", "DPoP")
    assert (schemes["dpopProof"]["in"], schemes["dpopProof"]["name"]) == ("header", "DPoP")
    assert schemes["mobileRelay"]["type"] == "mutualTLS"
    open_routes = {"/enrolment/start", "/enrolment/finish", "/login/start", "/login", "/token"}
    for method, path in documented:
        operation = document["paths"][path][method]
        needs_session = path.removeprefix(openapi_customer.PREFIX) not in open_routes
        assert operation["security"] == ([{"mobileRelay": [], "dpopToken": [],
                                           "dpopProof": []}] if needs_session
                                         else [{"mobileRelay": []}]), path
        challenge = operation["responses"]["401"]["headers"]["WWW-Authenticate"]
        assert challenge["required"] is True, path
