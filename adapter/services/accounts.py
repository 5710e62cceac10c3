"""Account reads: the caller's accounts, one account, its balance, its transaction history."""

from __future__ import annotations

from adapter.model import Account, AccountRef, Balance, HistoryQuery, TransactionPage
from adapter.model.errors import FieldViolation, ValidationError
from adapter.model.identifiers import CURSOR_RULE, HISTORY_CURSOR
from adapter.ports.core import CorePort
from adapter.services.clients import Operation
from adapter.services.context import RequestContext
from adapter.services.directory import AccountDirectory


class AccountService:
    def __init__(self, core: CorePort, directory: AccountDirectory, *,
                 core_timeout: float = 5.0) -> None:
        self._core = core
        self._directory = directory
        self._core_timeout = core_timeout

    async def list_accounts(self, ctx: RequestContext) -> list[Account]:
        ctx.caller.require(Operation.READ)
        timeout = ctx.remaining(self._core_timeout)
        if ctx.caller.all_accounts:
            return await self._core.list_accounts(timeout=timeout)
        accounts = [
            await self._directory.get(AccountRef(id=account_id), timeout=timeout)
            for account_id in sorted(ctx.caller.accounts)
        ]
        return accounts

    async def get_account(self, ctx: RequestContext, ref: AccountRef) -> Account:
        ctx.caller.require(Operation.READ)
        if ref.id is not None:
            ctx.caller.require_account(ref.id)
        account = await self._directory.get(ref, timeout=ctx.remaining(self._core_timeout))
        ctx.caller.require_account(account.id)
        return account

    async def get_balance(self, ctx: RequestContext, ref: AccountRef) -> Balance:
        account = await self.get_account(ctx, ref)
        return await self._core.get_balance(
            account.id, timeout=ctx.remaining(self._core_timeout))

    async def list_transactions(
        self, ctx: RequestContext, ref: AccountRef, query: HistoryQuery
    ) -> TransactionPage:
        account = await self.get_account(ctx, ref)
        try:
            return await self._core.get_history(
                account.id, query, timeout=ctx.remaining(self._core_timeout))
        except ValidationError as exc:
            if query.cursor is None or exc.violations:
                raise
            # Everything else in the query was checked by the model; a well-formed cursor is
            # the one thing only the core that made it can refuse. Name it, as the edge would.
            raise ValidationError(
                "invalid request: cursor: not a cursor of this account's history",
                violations=(FieldViolation(HISTORY_CURSOR, CURSOR_RULE),),
            ) from None
