"""model.trusted builds what pydantic's model_construct builds, and refuses what it would
silently get wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import BaseModel, Field, PrivateAttr

from adapter.model import Money
from adapter.model.payments import Payment, PaymentKind
from adapter.model.status import PaymentStatus
from adapter.model.trusted import trusted

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PAYMENT = dict(
    payment_id="0193a6f0-0000-7000-8000-000000000001", kind=PaymentKind.TRANSFER,
    status=PaymentStatus.ACCEPTED, caller_id="partner", debtor_account_id="10000001",
    creditor_account_id="10000002", amount=Money(amount=Decimal("12.50"), currency="EUR"),
    end_to_end_id="E2E-1", core_reference="0123456789AB", created_at=NOW, updated_at=NOW,
)


def test_the_same_object_as_model_construct() -> None:
    built = trusted(Payment, **PAYMENT)
    expected = Payment.model_construct(**PAYMENT)
    assert built == expected
    assert list(built.__dict__) == list(expected.__dict__) == list(Payment.model_fields)
    assert built.model_fields_set == expected.model_fields_set == set(PAYMENT)
    assert built.model_dump_json() == expected.model_dump_json()
    assert built.debtor_iban is None and built.booked_at is None  # defaults filled in


def test_a_copy_and_a_transition_behave_as_on_a_validated_payment() -> None:
    built = trusted(Payment, **PAYMENT)
    booked = built.transition(PaymentStatus.BOOKED, NOW, core_transaction_id="T1")
    assert booked.status is PaymentStatus.BOOKED and booked.core_transaction_id == "T1"
    assert built.status is PaymentStatus.ACCEPTED  # the original is untouched
    assert Payment.model_validate(built.model_dump()) == built


def test_a_missing_required_field_or_an_unknown_name_is_refused() -> None:
    partial = {k: v for k, v in PAYMENT.items() if k != "amount"}
    with pytest.raises(TypeError, match="Payment: missing amount"):
        trusted(Payment, **partial)
    with pytest.raises(TypeError, match="Payment: no field amount_minor"):
        trusted(Payment, **PAYMENT, amount_minor=1250)


class _Listing(BaseModel):
    items: list[str] = Field(default_factory=list)
    tags: list[str] = []


class _Aliased(BaseModel):
    links: str = Field(alias="_links")


class _Private(BaseModel):
    name: str
    _seen: int = PrivateAttr(default=0)


def test_models_it_cannot_build_cheaply_go_to_model_construct() -> None:
    first, second = trusted(_Listing), trusted(_Listing)
    first.items.append("a")
    first.tags.append("b")
    assert second.items == [] and second.tags == []  # each object its own fresh default
    assert trusted(_Aliased, _links="x").links == "x"
    assert trusted(_Aliased, links="y").links == "y"
    private = trusted(_Private, name="n")
    assert private.name == "n" and private._seen == 0
