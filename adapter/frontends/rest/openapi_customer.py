"""The customer routes (/v1/customer/..., customer.py) in the OpenAPI document (issue 15).

Owns their paths, their request and answer schemas and their security schemes; openapi.py
merges them into the one document. The wire shapes are customer.py's (README "Authentication
API"); this module only describes them, so a change of shape there must change this too:
tests/api/test_schemathesis.py runs schemathesis over these routes with the relay's
certificate and fails on an answer the document does not describe.

Invariants:
- Rule 1: every route requires the relay: the `mobileRelay` scheme, a client certificate of
  the bank's mobile back-end. Routes behind a customer's session also require `dpopToken`
  (`Authorization: DPoP <access token>`, RFC 9449) AND `dpopProof` (the `DPoP` header, a
  proof JWT signed by the device key the token is bound to).
- Rule 2: every 401 carries `WWW-Authenticate: DPoP algs="ES256"...` (RFC 9449 section 7.1,
  RFC 6750 section 3, with RFC 9470's `insufficient_user_authentication` for a payment that
  needs its own SCA): the document declares the header required, so a 401 without it is a
  failure of the response-headers check.
"""

from __future__ import annotations

from typing import Any

from adapter.frontends.rest import input_schema
from adapter.services.customers.service import DEVICE_NAME_MAX, PASSWORD_MAX, USERNAME_MAX

PREFIX = "/v1/customer"
REF = "#/components/schemas/{name}"
SCHEMES = {
    "mobileRelay": {
        "type": "mutualTLS",
        "description": "a client certificate of the bank's mobile back-end (a caller with "
                       "the relay_customers operation): it relays the app's requests; every "
                       "customer proof inside is verified by the adapter"},
    "dpopToken": {
        "type": "http", "scheme": "DPoP",
        "description": "`Authorization: DPoP <access token>` (RFC 9449): a token from "
                       "/v1/customer/login or /v1/customer/token, bound to the device key; "
                       "a Bearer token is refused"},
    "dpopProof": {
        "type": "apiKey", "in": "header", "name": "DPoP",
        "description": "a DPoP proof JWT (RFC 9449 section 4) signed with ES256 by the device "
                       "key the token is bound to, for this method and URL"},
}
_OPEN: list[dict[str, list[str]]] = [{"mobileRelay": []}]
_SESSION: list[dict[str, list[str]]] = [{"mobileRelay": [], "dpopToken": [], "dpopProof": []}]

# The service's own limits (devices.credential_id_of for the base64url ids).
_NO_CONTROL = r"[^\x00-\x1f\x7f]"
_TEXT = {"username": USERNAME_MAX, "password": PASSWORD_MAX, "deviceName": DEVICE_NAME_MAX}
_B64URL = r"^[A-Za-z0-9_-]{16,1366}$"
_JWT = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _text(name: str) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{_NO_CONTROL}{{1,{_TEXT[name]}}}$"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def schemas() -> dict[str, Any]:
    credential = {
        "type": "object", "required": ["id"],
        "description": "a WebAuthn credential or assertion as the browser API returns it, "
                       "binary members in base64url (W3C WebAuthn Level 3 `toJSON()`)",
        "properties": {"id": {"type": "string", "pattern": _B64URL},
                       "rawId": {"type": "string"}, "type": {"const": "public-key"},
                       "response": {"type": "object"}}}
    tokens = _object(["access_token", "token_type", "expires_in", "refresh_token"],
                     access_token={"type": "string"}, token_type={"const": "DPoP"},
                     expires_in={"type": "integer", "minimum": 1},
                     refresh_token={"type": "string"})
    return {
        "WebAuthnCredential": credential,
        "CustomerEnrolmentStart": _object(
            ["username", "password", "otp"], username=_text("username"),
            password=_text("password"),
            otp={"type": "string", "pattern": "^[0-9]{6}$",
                 "description": "the current TOTP code (RFC 6238, 6 digits, 30 s)"}),
        "CustomerEnrolmentFinish": _object(
            ["challengeId", "credential", "deviceName"], challengeId={"type": "string"},
            credential=_ref("WebAuthnCredential"), deviceName=_text("deviceName")),
        "CustomerLogin": _object(
            ["username", "password", "challengeId", "assertion"], username=_text("username"),
            password=_text("password"), challengeId={"type": "string"},
            assertion=_ref("WebAuthnCredential")),
        "CustomerTokenRefresh": _object(
            ["refresh_token"], refresh_token={"type": "string", "maxLength": 128}),
        "CustomerScaChallengeRequest": {
            "type": "object", "required": ["payment"],
            "properties": {"kind": {"enum": ["transfer", "bill_payment"],
                                    "default": "transfer"},
                           "payment": {"anyOf": [_ref("TransferInitiation"),
                                                 _ref("BillPaymentInitiation")]}}},
        "CustomerSca": _object(["challengeId", "assertion"], challengeId={"type": "string"},
                               assertion=_ref("WebAuthnCredential")),
        "CustomerTransfer": {
            "type": "object", "required": ["payment"],
            "properties": {"payment": _ref("TransferInitiation"), "sca": _ref("CustomerSca")}},
        "CustomerBillPayment": {
            "type": "object", "required": ["payment"],
            "properties": {"payment": _ref("BillPaymentInitiation"),
                           "sca": _ref("CustomerSca")}},
        "CustomerChallenge": _object(
            ["challengeId", "publicKey"], challengeId={"type": "string"},
            publicKey={"type": "object",
                       "description": "WebAuthn options for navigator.credentials"}),
        "CustomerScaChallenge": _object(
            ["challengeId", "publicKey", "text"], challengeId={"type": "string"},
            publicKey={"type": "object"},
            text={"type": "string", "description": "what the app shows before the "
                                                  "biometric: amount and payee (RTS art. 5)"}),
        "CustomerDevice": _object(["deviceId", "name"], deviceId={"type": "string"},
                                  name={"type": "string"}),
        "CustomerDevices": _object(["devices"], devices={"type": "array", "items": _object(
            ["deviceId", "name", "createdAt", "current"], deviceId={"type": "string"},
            name={"type": "string"}, createdAt={"type": "string", "format": "date-time"},
            current={"type": "boolean"})}),
        "CustomerTokens": tokens,
    }


def _problem(description: str, **headers: Any) -> dict[str, Any]:
    return {"description": description,
            "headers": {"X-Request-ID": {"$ref": "#/components/headers/XRequestID"},
                        **headers},
            "content": {"application/problem+json": {"schema": _ref("Problem")}}}


_CHALLENGE = {"WWW-Authenticate": {
    "required": True,
    "description": "RFC 9449 section 7.1: the DPoP scheme, its algorithm and, for a "
                   "refused token or proof, `error` (`invalid_token`, `invalid_dpop_proof`, "
                   "`insufficient_user_authentication` of RFC 9470 when a payment needs its "
                   "own SCA) and `error_description`",
    "schema": {"type": "string", "pattern": '^DPoP algs="ES256"'}}}
_ERRORS = {
    "400": _problem("VALIDATION: `violations` names each field"),
    "401": _problem("UNAUTHENTICATED, INVALID_CREDENTIALS, INVALID_TOKEN, "
                    "CHALLENGE_REFUSED, DEVICE_AUTHENTICATION_FAILED, SCA_REQUIRED",
                    **_CHALLENGE),
    "403": _problem("FORBIDDEN (not the relay, or not this customer's account), "
                    "CUSTOMER_LOCKED"),
    "413": _problem("PAYLOAD_TOO_LARGE"),
    "415": _problem("UNSUPPORTED_MEDIA_TYPE: send Content-Type: application/json"),
    "503": _problem("the password checks are busy; retry after `Retry-After` seconds"),
    "default": _problem("any other error, in the same problem+json shape"),
}
_DPOP_HEADER = {"name": "DPoP", "in": "header", "required": True,
                "description": "the DPoP proof JWT for this request, signed by the device key",
                "schema": {"type": "string", "pattern": _JWT}}
_IDEMPOTENCY_KEY = {"$ref": "#/components/parameters/IdempotencyKey"}


def _ok(schema: str, description: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description,
                     "headers": {"X-Request-ID": {"$ref": "#/components/headers/XRequestID"}},
                     "content": {"application/json": {"schema": _ref(schema)}}}}


def _op(op_id: str, summary: str, security: list[dict[str, list[str]]],
        answers: dict[str, Any], *, body: str | None = None,
        parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op_id, "summary": summary, "tags": ["customer"], "security": security,
        "responses": {**answers, **_ERRORS}}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(body)}}}
    return operation


def _no_content(description: str) -> dict[str, Any]:
    return {"204": {"description": description}}


def _account_path() -> dict[str, Any]:
    return {"name": "account_id", "in": "path", "required": True,
            "description": "one of the customer's own accounts, by id or IBAN",
            "schema": input_schema.account_path()}


def _payment_created() -> dict[str, Any]:
    answer = _ok("PaymentResource", "the payment (or the replay of it)", "201")["201"]
    answer["headers"].update({
        "Location": {"schema": {"type": "string"}, "description": "the payment resource"},
        "Sca": {"schema": {"type": "string"},
                "description": "how the payment was authorised: its SCA, an exemption, or a "
                               "replay"}})
    return {"201": answer}


def paths(history_query: list[dict[str, Any]]) -> dict[str, Any]:
    """The customer routes; `history_query` is the partner API's own (the same service
    answers both)."""
    p = PREFIX
    payment_id = {"name": "payment_id", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": input_schema.PAYMENT_ID_PATTERN}}
    return {
        f"{p}/enrolment/start": {"post": _op(
            "customerEnrolmentStart", "password and TOTP: a WebAuthn registration challenge",
            _OPEN, _ok("CustomerChallenge", "the challenge"), body="CustomerEnrolmentStart")},
        f"{p}/enrolment/finish": {"post": _op(
            "customerEnrolmentFinish", "register the device key", _OPEN,
            _ok("CustomerDevice", "the device", "201"), body="CustomerEnrolmentFinish")},
        f"{p}/login/start": {"post": _op(
            "customerLoginStart", "a WebAuthn authentication challenge", _OPEN,
            _ok("CustomerChallenge", "the challenge"))},
        f"{p}/login": {"post": _op(
            "customerLogin", "device assertion with user verification plus password: tokens",
            _OPEN, _ok("CustomerTokens", "DPoP-bound tokens"), body="CustomerLogin",
            parameters=[_DPOP_HEADER])},
        f"{p}/token": {"post": _op(
            "customerTokenRefresh", "rotate the refresh token (a replayed one revokes the "
            "session)", _OPEN, _ok("CustomerTokens", "new tokens"),
            body="CustomerTokenRefresh", parameters=[_DPOP_HEADER])},
        f"{p}/logout": {"post": _op("customerLogout", "end the session", _SESSION,
                                    _no_content("logged out"))},
        f"{p}/devices": {"get": _op("customerDevices", "the customer's devices", _SESSION,
                                    _ok("CustomerDevices", "the devices"))},
        f"{p}/devices/{{device_id}}": {"delete": _op(
            "customerRemoveDevice", "revoke one device", _SESSION, _no_content("revoked"),
            parameters=[{"name": "device_id", "in": "path", "required": True,
                         "description": "a `deviceId` from /v1/customer/devices",
                         "schema": {"type": "string", "pattern": _B64URL}}])},
        f"{p}/accounts": {"get": _op("customerAccounts", "the customer's own accounts",
                                     _SESSION, _ok("AccountList", "the accounts"))},
        f"{p}/accounts/{{account_id}}/balances": {"get": _op(
            "customerBalances", "an own account's balances", _SESSION,
            _ok("BalancesResponse", "the balances"), parameters=[_account_path()])},
        f"{p}/accounts/{{account_id}}/transactions": {"get": _op(
            "customerTransactions", "an own account's booked transactions", _SESSION,
            _ok("TransactionsResponse", "one page"),
            parameters=[_account_path(), *history_query])},
        f"{p}/sca/challenges": {"post": _op(
            "customerScaChallenge", "an SCA challenge bound to one payment's amount and "
            "payee (dynamic linking, RTS art. 5)", _SESSION,
            _ok("CustomerScaChallenge", "the challenge", "201"),
            body="CustomerScaChallengeRequest")},
        f"{p}/transfers": {"post": _op(
            "customerTransfer", "a transfer from an own account; above the SCA threshold or "
            "to a new payee it needs `sca`", _SESSION, _payment_created(),
            body="CustomerTransfer", parameters=[_IDEMPOTENCY_KEY])},
        f"{p}/bill-payments": {"post": _op(
            "customerBillPayment", "a bill payment from an own account", _SESSION,
            _payment_created(), body="CustomerBillPayment",
            parameters=[_IDEMPOTENCY_KEY])},
        f"{p}/payments/{{payment_id}}": {"get": _op(
            "customerPayment", "one of the customer's payments", _SESSION,
            _ok("PaymentResource", "the payment"), parameters=[payment_id])},
    }
