"""Turning pydantic's validation errors into the canonical VALIDATION error, once for all
front-ends, with one field violation per problem, named in the caller's own vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from adapter.model.errors import FieldViolation, ValidationError

M = TypeVar("M", bound=pydantic.BaseModel)


def _field_path(loc: tuple[Any, ...], rename: Mapping[str, str]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-"))]
    path = ".".join(parts) or "body"
    # The longest known prefix wins: "debtor.iban" may be renamed as a whole.
    for internal in sorted(rename, key=len, reverse=True):
        if path == internal or path.startswith(internal + "."):
            return rename[internal] + path[len(internal):]
    return path


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def violations_of(exc: pydantic.ValidationError,
                  rename: Mapping[str, str] | None = None) -> tuple[FieldViolation, ...]:
    rename = rename or {}
    return tuple(
        FieldViolation(_field_path(tuple(err["loc"]), rename), _clean(err["msg"]))
        for err in exc.errors(include_url=False)
    )


def to_canonical(exc: pydantic.ValidationError,
                 rename: Mapping[str, str] | None = None) -> ValidationError:
    violations = violations_of(exc, rename)
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
    return ValidationError(f"invalid request: {summary}", violations=violations)


def build(model: type[M], data: Any, rename: Mapping[str, str] | None = None) -> M:
    """Validate `data` into `model`, raising the canonical ValidationError on failure."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise to_canonical(exc, rename) from None

