"""Canonical error -> SOAP 1.1 Fault, in one place.

Invariants:
- Rule 1: `faultcode` is `Client.<CODE>` for a `ClientError` and `Server.<CODE>` for anything
  else, found by walking the error's class hierarchy (`FAULT_CLASSES`), so a new subclass of
  the canonical tree inherits its parent's class without touching this module.
- Rule 2: every Fault carries `<detail><AdapterFault>` (types.AdapterFault) with the canonical
  code and the correlation id, plus the payment id and per-field violations when there are any,
  and for RATE_LIMITED `RetryAfter`, whole seconds as REST's Retry-After header.
- Rule 3: spyne's own faults (unparseable XML, schema violations, unknown operations) are
  rewritten into the same shape before they are serialised (`normalise_spyne_fault`), so a
  caller meets one fault format whatever failed. A `Server` fault's text never reaches the
  caller: it becomes INTERNAL with the canonical default message.
- Rule 4: `faultstring` is the canonical message, which is caller-safe by construction
  (model.errors Rule 3); no stack trace is ever serialised.
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import logging
import math
import re
from typing import Any

from lxml import etree
from spyne import Fault

from adapter.model.errors import (
    AdapterError,
    ClientError,
    FieldViolation,
    InternalError,
    RateLimited,
    ServerError,
    ValidationError,
)
from adapter.services.context import new_correlation_id

from .types import TNS

log = logging.getLogger("adapter.soap")

FAULT_CLASSES: dict[type[AdapterError], str] = {ClientError: "Client", ServerError: "Server"}

_DETAIL_TAG = f"{{{TNS}}}AdapterFault"
_MAX_CLIENT_TEXT = 300
_PYTHON_TEXT = re.compile(r"Error\(|<class |Operation\(|Could not cast")
_QUOTED = re.compile(r"'[^']*'")


def fault_class(exc: AdapterError) -> str:
    for cls in type(exc).__mro__:
        prefix = FAULT_CLASSES.get(cls)
        if prefix is not None:
            return prefix
    return "Server"


def _sub(parent: etree._Element, name: str, text: str) -> None:
    etree.SubElement(parent, f"{{{TNS}}}{name}").text = text


def to_fault(exc: AdapterError, correlation_id: str) -> Fault:
    """The SOAP Fault for a canonical error (Rules 1, 2 and 4)."""
    exc.with_correlation(correlation_id)
    cid = exc.correlation_id or correlation_id
    detail = etree.Element(_DETAIL_TAG, nsmap={"tns": TNS})
    _sub(detail, "Code", exc.code)
    _sub(detail, "Message", exc.message)
    _sub(detail, "CorrelationId", cid)
    if exc.payment_id:
        _sub(detail, "PaymentId", exc.payment_id)
    if exc.violations:
        violations = etree.SubElement(detail, f"{{{TNS}}}Violations")
        for violation in exc.violations:
            item = etree.SubElement(violations, f"{{{TNS}}}FieldViolation")
            _sub(item, "Field", violation.field)
            _sub(item, "Description", violation.description)
    if isinstance(exc, RateLimited):
        _sub(detail, "RetryAfter", str(max(1, math.ceil(exc.retry_after))))
    return Fault(f"{fault_class(exc)}.{exc.code}", exc.message, detail=detail)


def is_canonical(fault: Any) -> bool:
    detail = getattr(fault, "detail", None)
    return isinstance(detail, etree._Element) and detail.tag == _DETAIL_TAG


def canonical_for_spyne_fault(fault: Any) -> AdapterError:
    """The canonical error standing for one of spyne's own faults (Rule 3)."""
    code = str(getattr(fault, "faultcode", "") or "")
    text = str(getattr(fault, "faultstring", "") or "")[:_MAX_CLIENT_TEXT]
    if not code.startswith("Client"):
        return InternalError()
    if "ResourceNotFound" in code:
        return ClientError(f"no such operation in this service: {text}")
    if "ValidationError" in code or "XmlRefused" in code:
        if _PYTHON_TEXT.search(text):
            # spyne's lexical errors quote Python exceptions; keep only the refused value.
            value = _QUOTED.search(text)
            text = (f"the value {value.group(0)[:64]} does not match its schema type"
                    if value else "a value does not match its schema type")
        return ValidationError(f"invalid request: {text}",
                               violations=(FieldViolation("body", text),))
    return ClientError(text or None)


def normalise_spyne_fault(ctx: Any) -> None:
    """spyne event listener ('method_exception_object'): rewrite a spyne fault in place."""
    error = ctx.out_error
    if error is None or is_canonical(error):
        return
    udc = getattr(ctx, "udc", None)
    correlation_id = getattr(udc, "correlation_id", None) or new_correlation_id()
    canonical = canonical_for_spyne_fault(error) if isinstance(error, Fault) else InternalError()
    if isinstance(canonical, ServerError):
        log.error("SOAP request failed inside spyne: %r [%s]", error, correlation_id)
    else:
        log.info("SOAP request refused: %s %s [%s]", canonical.code,
                 getattr(error, "faultcode", type(error).__name__), correlation_id)
    fault = to_fault(canonical, correlation_id)
    ctx.out_error = fault
    if ctx.in_error is not None:
        ctx.in_error = fault
