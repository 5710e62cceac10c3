"""Payments: transfers and bill payments, their idempotency, journal and in-doubt resolution.

Invariants:
- Rule 1: money moves at most once. Each payment has one core reference, the core books each
  reference at most once, and a payment whose core answer was lost is IN_DOUBT until
  `CorePort.resolve` settles it; it is never posted again blindly.
- Rule 2: money is never lost from view. A payment is journalled (ACCEPTED) together with its
  idempotency key before the core is called, so a crash at any point leaves a record the
  resolver finds.
- Rule 3: once the core has been called, the work finishes even if the caller goes away
  (deadline, disconnect): it runs shielded from the caller's cancellation.
- Rule 4: refusals before the core is called (validation, authorisation, unknown account)
  store nothing.
- Rule 5: a payment settled by resolution (in line or by the resolver) answers with the
  payment in its final status, booked, rejected or reversed (reason CORE_TIMEOUT), and that
  is the stored outcome of its key: the first answer and every replay agree, and only a
  payment still in doubt is CORE_TIMEOUT ("pending, will be resolved").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from adapter.infra.logmask import mask
from adapter.model import (
    Account,
    AccountRef,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from adapter.model.accounts import AccountStatus
from adapter.model.commands import BillPaymentCommand, GetPaymentQuery, TransferCommand
from adapter.model.errors import (
    BY_CODE,
    AccountBlocked,
    AdapterError,
    ClientError,
    CoreTimeout,
    CoreUnavailable,
    CurrencyMismatch,
    FieldViolation,
    IdempotencyConflict,
    PaymentNotFound,
    RequestInProgress,
    ValidationError,
)
from adapter.model.identifiers import new_core_reference, new_payment_id
from adapter.model.trusted import trusted
from adapter.ports.core import (
    CoreBooking,
    CoreBookingState,
    CoreOutcomeUnknown,
    CorePort,
    CorePosting,
)
from adapter.ports.idempotency import IdempotencyKeys, IdempotencyRecord, KeyState, Outcome
from adapter.ports.journal import PaymentJournal, StaleWrite
from adapter.services.clients import Operation
from adapter.services.context import RequestContext
from adapter.services.directory import AccountDirectory
from adapter.services.events import EventBus
from adapter.services.idempotency import KEY_TTL, fingerprint

log = logging.getLogger("adapter.payments")

def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    replayed: bool = False


class PaymentService:
    def __init__(
        self,
        core: CorePort,
        journal: PaymentJournal,
        keys: IdempotencyKeys,
        directory: AccountDirectory,
        events: EventBus,
        *,
        core_timeout: float = 5.0,
        resolve_timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._core = core
        self._journal = journal
        self._keys = keys
        self._directory = directory
        self._events = events
        self._core_timeout = core_timeout
        self._resolve_timeout = resolve_timeout
        self._clock = clock
        self._inflight: set[str] = set()
        self._lock_for = timedelta(seconds=core_timeout + resolve_timeout + 5)
        self.in_doubt_found = asyncio.Event()  # wakes the resolver early

    def is_running(self, payment_id: str) -> bool:
        """True while this process is still executing the payment's first attempt (the
        resolver's shortcut for its own process; across processes the key's lock rules)."""
        return payment_id in self._inflight

    # -- use cases ---------------------------------------------------------------------

    async def transfer(self, ctx: RequestContext, command: TransferCommand) -> PaymentResult:
        ctx.caller.require(Operation.TRANSFER)
        request, idempotency_key = command.request, command.key
        fp = fingerprint("transfer", request)
        replay = await self._replay(ctx, idempotency_key, fp)
        if replay is not None:
            return replay
        timeout = ctx.remaining(self._core_timeout)
        debtor = await self._usable_debtor(ctx, request.debtor, request.amount.currency, timeout)
        creditor = await self._directory.get(request.creditor, timeout=timeout)
        if creditor.id == debtor.id:
            raise ValidationError(
                "debtor and creditor must be different accounts",
                violations=(FieldViolation("creditor", "same account as the debtor"),),
            )
        if creditor.currency != request.amount.currency:
            raise CurrencyMismatch(
                f"the creditor account is held in {creditor.currency}, "
                f"the amount is in {request.amount.currency}"
            )
        payment = self._new_payment(
            ctx, PaymentKind.TRANSFER, request.amount, request.end_to_end_id,
            request.remittance, debtor,
            creditor_account_id=creditor.id, creditor_iban=creditor.iban,
        )
        return await self._submit(ctx, idempotency_key, fp, payment)

    async def pay_bill(self, ctx: RequestContext, command: BillPaymentCommand) -> PaymentResult:
        ctx.caller.require(Operation.BILL_PAYMENT)
        request, idempotency_key = command.request, command.key
        fp = fingerprint("bill_payment", request)
        replay = await self._replay(ctx, idempotency_key, fp)
        if replay is not None:
            return replay
        timeout = ctx.remaining(self._core_timeout)
        debtor = await self._usable_debtor(ctx, request.debtor, request.amount.currency, timeout)
        payment = self._new_payment(
            ctx, PaymentKind.BILL_PAYMENT, request.amount, request.end_to_end_id,
            request.remittance, debtor,
            biller_id=request.biller_id, customer_reference=request.customer_reference,
        )
        return await self._submit(ctx, idempotency_key, fp, payment)

    async def get_payment(self, ctx: RequestContext, query: GetPaymentQuery) -> Payment:
        ctx.caller.require(Operation.READ)
        payment_id = query.payment_id
        payment = await self._journal.get(payment_id)
        if payment is None or not self._may_see(ctx, payment):
            # Another caller's payment is reported as absent, not as forbidden: payment ids
            # must not be probeable.
            raise PaymentNotFound(f"no payment {payment_id!r} for this client")
        return payment

    # -- steps -------------------------------------------------------------------------

    @staticmethod
    def _may_see(ctx: RequestContext, payment: Payment) -> bool:
        caller = ctx.caller
        return (
            payment.caller_id == caller.id
            or caller.may_use_account(payment.debtor_account_id)
            or (payment.creditor_account_id is not None
                and caller.may_use_account(payment.creditor_account_id))
        )

    async def _usable_debtor(
        self, ctx: RequestContext, ref: AccountRef, currency: str, timeout: float
    ) -> Account:
        if ref.id is not None:
            ctx.caller.require_account(ref.id)
        account = await self._directory.get(ref, timeout=timeout)
        ctx.caller.require_account(account.id)
        if account.status is AccountStatus.BLOCKED:
            raise AccountBlocked("the debtor account is blocked")
        if account.currency != currency:
            raise CurrencyMismatch(
                f"the debtor account is held in {account.currency}, the amount is in {currency}"
            )
        return account

    def _new_payment(self, ctx: RequestContext, kind: PaymentKind, amount, e2e: str,
                     remittance: str | None, debtor: Account, **extra) -> Payment:
        now = self._clock()
        # Every value here is already canonical (validated at the edge or read from the core):
        # trusted() skips a second validation pass on the hot path.
        return trusted(Payment,
            payment_id=new_payment_id(),
            kind=kind,
            status=PaymentStatus.ACCEPTED,
            caller_id=ctx.caller.id,
            debtor_account_id=debtor.id,
            debtor_iban=debtor.iban,
            amount=amount,
            end_to_end_id=e2e,
            remittance=remittance,
            core_reference=new_core_reference(),
            created_at=now,
            updated_at=now,
            **extra,
        )

    async def _submit(
        self, ctx: RequestContext, key: str, fp: str, payment: Payment
    ) -> PaymentResult:
        now = self._clock()
        record = IdempotencyRecord(
            caller_id=ctx.caller.id, key=key, fingerprint=fp, state=KeyState.IN_PROGRESS,
            payment_id=payment.payment_id, created_at=now, locked_until=now + self._lock_for,
            expires_at=now + KEY_TTL,
        )
        stored = await self._journal.claim(record, payment)
        if stored.payment_id != payment.payment_id:
            # Lost a race with a concurrent request under the same key.
            replay = await self._replay(ctx, key, fp)
            assert replay is not None
            return replay
        log.debug(
            "payment %s accepted: %s from %s, ref %s, caller %s [%s]",
            payment.payment_id, payment.amount, mask(payment.debtor_account_id),
            payment.core_reference, ctx.caller.id, ctx.correlation_id,
        )
        timeout = ctx.remaining(self._core_timeout)
        self._inflight.add(payment.payment_id)
        work = asyncio.ensure_future(self._execute(ctx, key, payment, timeout))
        work.add_done_callback(lambda _: self._inflight.discard(payment.payment_id))
        payment = await asyncio.shield(work)
        return PaymentResult(payment)

    async def _execute(
        self, ctx: RequestContext, key: str, payment: Payment, timeout: float
    ) -> Payment:
        posting = posting_for(payment)
        try:
            booking = await self._core.post(posting, timeout=timeout)
        except CoreUnavailable as exc:
            # Certainly not delivered: nothing moved, so the key is released for a retry.
            rejected = payment.transition(
                PaymentStatus.REJECTED, self._clock(),
                reason_code=exc.code, reason_message=exc.message,
            )
            await self._save(rejected, was=payment.status)
            await self._keys.release(ctx.caller.id, key)
            raise self._for_caller(exc, ctx, payment) from None
        except ClientError as exc:
            rejected = payment.transition(
                PaymentStatus.REJECTED, self._clock(),
                reason_code=exc.code, reason_message=exc.message,
            )
            await self._save(rejected, Outcome(error_code=exc.code, error_message=exc.message),
                             was=payment.status)
            raise self._for_caller(exc, ctx, payment) from None
        except Exception as exc:
            # Anything else after the request may have left (CoreTimeout, CoreOutcomeUnknown,
            # a dropped connection, a bug in a connector) means "the core may have booked it".
            log.warning("payment %s in doubt after %r [%s]",
                        payment.payment_id, exc, ctx.correlation_id)
            in_doubt = payment.transition(
                PaymentStatus.IN_DOUBT, self._clock(), reason_code=CoreTimeout.code,
                core_node=exc.core_node if isinstance(exc, CoreOutcomeUnknown) else None)
            await self._save(in_doubt, was=payment.status)
            settled = await self.settle(in_doubt)
            return self._outcome_for_caller(settled, ctx)
        booked = self._apply_booking(payment, booking)
        await self._save(booked, Outcome(), was=payment.status)
        return booked

    async def settle(self, payment: Payment) -> Payment:
        """Resolve a payment that is ACCEPTED or IN_DOUBT with the core (Rule 1).

        Safe to run twice at once (the inline path and the resolver, or two processes):
        `resolve` is idempotent at the core, and the store refuses the second write
        (StaleWrite), so the first outcome stands and is returned."""
        try:
            return await self._settle(payment)
        except StaleWrite:
            current = await self._journal.get(payment.payment_id)
            assert current is not None
            return current

    async def _settle(self, payment: Payment) -> Payment:
        if payment.status is PaymentStatus.ACCEPTED:
            in_doubt = payment.transition(PaymentStatus.IN_DOUBT, self._clock(),
                                          reason_code=CoreTimeout.code)
            await self._save(in_doubt, was=payment.status)
            payment = in_doubt
        try:
            booking = await self._core.resolve(posting_for(payment), timeout=self._resolve_timeout)
        except Exception as exc:
            log.warning("payment %s still in doubt: %r", payment.payment_id, exc)
            self.in_doubt_found.set()
            return payment
        if booking.state is CoreBookingState.NOT_FOUND:
            log.error("resolve() returned NOT_FOUND for %s; keeping it in doubt",
                      payment.payment_id)
            return payment
        if booking.state is CoreBookingState.BOOKED:
            settled = self._apply_booking(payment, booking)
            await self._save(settled, Outcome(), was=payment.status)
        else:
            target = (PaymentStatus.REVERSED if booking.state is CoreBookingState.REVERSED
                      else PaymentStatus.REJECTED)
            message = ("the core did not answer in time; the payment was not booked"
                       if target is PaymentStatus.REJECTED else
                       "the core did not answer in time; the payment was reversed")
            settled = payment.transition(target, self._clock(), reason_code=CoreTimeout.code,
                                         reason_message=message)
            # Final (Rule 5): the key now answers the payment itself, RJCT or CANC with its
            # reason, never again "the core did not answer in time".
            await self._save(settled, Outcome(), was=payment.status)
        log.info("payment %s resolved: %s", payment.payment_id, settled.status.value)
        return settled

    def _apply_booking(self, payment: Payment, booking: CoreBooking) -> Payment:
        return payment.transition(
            PaymentStatus.BOOKED, self._clock(),
            core_transaction_id=booking.transaction_id,
            # The node it was sent to; a resolve may have been answered by another node.
            core_node=payment.core_node or booking.node,
            booked_at=booking.booked_at or self._clock(),
            reason_code=None, reason_message=None,
        )

    async def _save(self, payment: Payment, outcome: Outcome | None = None, *,
                    was: PaymentStatus) -> None:
        event = await self._journal.record(payment, expected=was, outcome=outcome)
        if event is not None:
            self._events.publish(event)

    # -- replays -----------------------------------------------------------------------

    async def _replay(self, ctx: RequestContext, key: str, fp: str) -> PaymentResult | None:
        record = await self._keys.get(ctx.caller.id, key)
        if record is None:
            return None
        if record.fingerprint != fp:
            raise IdempotencyConflict(
                "this idempotency key was already used for a different request"
            )
        payment = await self._journal.get(record.payment_id)
        assert payment is not None, "a key always has its payment (journal Rule 1)"
        if record.state is KeyState.COMPLETED:
            if record.error_code == CoreTimeout.code and payment.status.is_final:
                # A key completed with CORE_TIMEOUT before Rule 5 held: its payment is settled,
                # so the payment is the answer.
                return PaymentResult(payment, replayed=True)
            if record.error_code is not None:
                error = BY_CODE.get(record.error_code, AdapterError)(
                    record.error_message, payment_id=payment.payment_id)
                raise error.with_correlation(ctx.correlation_id)
            return PaymentResult(payment, replayed=True)
        now = self._clock()
        # The key's lock is the first attempt's lease, in the database: whichever process
        # holds it, a retry anywhere waits for it to end or lapse (longer than the first
        # attempt can run), and `relock` lets one taker through after that.
        if record.locked_until > now:
            raise RequestInProgress()
        if not await self._keys.relock(ctx.caller.id, key, now=now,
                                       locked_until=now + self._lock_for):
            raise RequestInProgress()
        # The first attempt ended without an outcome (in doubt, or the process died).
        settled = await self.settle(payment)
        return PaymentResult(self._outcome_for_caller(settled, ctx), replayed=True)

    def _outcome_for_caller(self, payment: Payment, ctx: RequestContext) -> Payment:
        """The answer once resolution has run (Rule 5): the payment if it is final, else
        CORE_TIMEOUT naming it."""
        if payment.status.is_final:
            return payment
        raise CoreTimeout(
            "the core did not answer in time; the payment is pending and will be resolved",
            correlation_id=ctx.correlation_id, payment_id=payment.payment_id,
        )

    @staticmethod
    def _for_caller(exc: AdapterError, ctx: RequestContext, payment: Payment) -> AdapterError:
        exc.payment_id = payment.payment_id
        return exc.with_correlation(ctx.correlation_id)


def posting_for(payment: Payment) -> CorePosting:
    return trusted(CorePosting,
        reference=payment.core_reference,
        debtor_account_id=payment.debtor_account_id,
        creditor_account_id=payment.creditor_account_id,
        biller_id=payment.biller_id,
        customer_reference=payment.customer_reference,
        amount=payment.amount,
        end_to_end_id=payment.end_to_end_id,
        remittance=payment.remittance,
    )


__all__ = ["PaymentResult", "PaymentService", "posting_for"]
