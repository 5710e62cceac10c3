"""Reading a JSON request body: media type first, then the size limit while reading, then
a strict parse.

Invariants:
- Rule 1: no more than `limit` bytes of a body are ever held. A declared Content-Length over
  the limit is refused before reading anything; a body sent without one (chunked) is refused
  as soon as the bytes received pass the limit.
- Rule 2: the body is UTF-8 JSON text (RFC 8259 section 8.1) and every object's member names
  are unique, at every nesting level. RFC 8259 section 4 leaves duplicates to the receiver,
  and the usual "last one wins" would let a second "amount" override the one a signer or a
  log saw: a duplicate is refused, naming its path.
- Rule 3: NaN, Infinity and -Infinity, which Python's json module would read, are not JSON
  (RFC 8259 section 6) and are refused.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from adapter.frontends.rest.headers import header
from adapter.frontends.rest.problems import PayloadTooLarge, UnsupportedMediaType
from adapter.model.errors import FieldViolation, ValidationError


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"


def _invalid(detail: str, field: str = "body") -> ValidationError:
    return ValidationError(f"invalid request: {field}: {detail}",
                           violations=(FieldViolation(field, detail),))


class _Duplicate(Exception):
    """Some object of the body repeats a member name (which one: `_duplicate_path`)."""


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # the name itself is found again on the error path
        raise _Duplicate()
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


class _Marked(dict[str, Any]):
    duplicate: str | None = None


def _marking(pairs: list[tuple[str, Any]]) -> _Marked:
    obj = _Marked()
    for name, value in pairs:
        if name in obj and obj.duplicate is None:
            obj.duplicate = name
        obj[name] = value
    return obj


def _find(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    if isinstance(value, _Marked):
        if value.duplicate is not None:
            return (*path, value.duplicate)
        items: Any = value.items()
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for name, item in items:
        found = _find(item, (*path, name))
        if found is not None:
            return found
    return None


# One decoder for every body: json.loads with hooks builds a new decoder and scanner per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_constant=_no_constant)


def _duplicate_path(text: str) -> str:
    """The dotted path of the first duplicated member (Rule 2). Parsing again with the members
    marked happens only on this error path, so a valid body is parsed once, by the C scanner,
    and a duplicate in a nested object is named with its parents."""
    found = _find(json.loads(text, object_pairs_hook=_marking), ())
    assert found is not None
    return ".".join(found)[:128]


def parse_json(body: bytes) -> Any:
    """The body as Python values (Rules 2 and 3), or VALIDATION naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("Invalid JSON: the body is not UTF-8") from None
    try:
        return _DECODER.decode(text)
    except _Duplicate:
        path = _duplicate_path(text)
        raise _invalid("this member appears more than once in its object", path) from None
    except ValueError as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _invalid(f"Invalid JSON: {reason}") from None


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, parsed (see the module docstring)."""
    scope = request.scope
    if not _is_json(header(scope, b"content-type")):
        raise UnsupportedMediaType(
            "the request body must be sent as Content-Type: application/json")
    declared = header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ValidationError("Content-Length is not a number", violations=(
                FieldViolation("Content-Length", "a non-negative integer"),))
        if int(declared) > limit:
            raise PayloadTooLarge(f"the request body must not exceed {limit} bytes")
    chunks: list[bytes] = []
    received = 0
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"the request body must not exceed {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if not received:
        raise ValidationError("the request body is empty: send a JSON object",
                              violations=(FieldViolation("body", "a JSON object is required"),))
    return parse_json(chunks[0] if len(chunks) == 1 else b"".join(chunks))
