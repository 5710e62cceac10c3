"""Turning pydantic's validation errors into the canonical VALIDATION error, once for all
front-ends, with one field violation per problem, named in the caller's own vocabulary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar, get_args, get_origin

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


# The python-mode wording of a type error, for a value that came from JSON, as JSON calls it.
JSON_TYPE_MESSAGES = {"model_type": "Input should be an object",
                      "model_attributes_type": "Input should be an object",
                      "dict_type": "Input should be an object",
                      "list_type": "Input should be an array"}


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def violations_of(exc: pydantic.ValidationError, rename: Mapping[str, str] | None = None,
                  messages: Mapping[str, str] | None = None) -> tuple[FieldViolation, ...]:
    rename = rename or {}
    messages = messages or {}
    return tuple(
        FieldViolation(_field_path(tuple(err["loc"]), rename),
                       messages.get(err["type"]) or _clean(err["msg"]))
        for err in exc.errors(include_url=False)
    )


def to_canonical(exc: pydantic.ValidationError, rename: Mapping[str, str] | None = None,
                 messages: Mapping[str, str] | None = None) -> ValidationError:
    violations = violations_of(exc, rename, messages)
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
    return ValidationError(f"invalid request: {summary}", violations=violations)


def build(model: type[M], data: Any, rename: Mapping[str, str] | None = None) -> M:
    """Validate `data` into `model`, raising the canonical ValidationError on failure."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise to_canonical(exc, rename) from None



# id(type) -> (type, its check). Keyed by identity: hashing an `Annotated` type runs
# typing's and its metadata's __hash__ in Python on every call; the type is kept in the value,
# so its id cannot be reused while the entry exists.
_CHECKS: dict[int, tuple[Any, Callable[[Any], Any]]] = {}


def _check_of(type_: Any) -> Callable[[Any], Any]:
    """The one function that validates `type_`. For `Annotated[str, BeforeValidator(f)]`
    (model.identifiers' types) that is `f` itself: it refuses anything but a well-formed str,
    so pydantic's own str step after it adds nothing but a call through pydantic-core (which
    cost more than the rule, on every payment's idempotency key)."""
    if get_origin(type_) is Annotated:
        base, *metadata = get_args(type_)
        if base is str and len(metadata) == 1 and isinstance(metadata[0],
                                                            pydantic.BeforeValidator):
            check: Callable[[Any], Any] = metadata[0].func  # type: ignore[assignment]
            return check
    return pydantic.TypeAdapter(type_).validate_python


def value(type_: Any, data: Any, field: str) -> Any:
    """Validate one value against a canonical type (an Annotated identifier), naming `field`."""
    entry = _CHECKS.get(id(type_))
    if entry is None:
        entry = _CHECKS[id(type_)] = (type_, _check_of(type_))
    check = entry[1]
    try:
        return check(data)
    except pydantic.ValidationError as exc:
        violations = tuple(FieldViolation(field, _clean(err["msg"]))
                           for err in exc.errors(include_url=False))
    except ValueError as exc:
        violations = (FieldViolation(field, str(exc)),)
    raise ValidationError(f"invalid request: {field}: {violations[0].description}",
                          violations=violations)


def gather(**parts: Callable[[], Any]) -> dict[str, Any]:
    """Run every part's validation and report all their violations together, in order: a
    caller fixing a request learns everything wrong with it at once."""
    values: dict[str, Any] = {}
    violations: list[FieldViolation] = []
    for name, part in parts.items():
        try:
            values[name] = part()
        except ValidationError as exc:
            violations.extend(exc.violations)
    if violations:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        raise ValidationError(f"invalid request: {summary}", violations=tuple(violations))
    return values
