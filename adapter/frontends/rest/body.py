"""Reading a JSON request body: media type first, then the size limit while reading.

Invariant: no more than `limit` bytes of a body are ever held. A declared Content-Length
over the limit is refused before reading anything; a body sent without one (chunked) is
refused as soon as the bytes received pass the limit.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

from adapter.frontends.rest.problems import PayloadTooLarge, UnsupportedMediaType
from adapter.model.errors import FieldViolation, ValidationError


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"


async def read_json(request: Request, limit: int) -> bytes:
    headers = request.headers
    if not _is_json(headers.get("content-type")):
        raise UnsupportedMediaType(
            "the request body must be sent as Content-Type: application/json")
    declared = headers.get("content-length")
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
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
