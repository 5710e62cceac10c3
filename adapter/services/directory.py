"""A short-lived cache of account facts (id <-> IBAN, currency, status) read from the core.

Why: every payment needs the debtor's and creditor's ids and currencies for authorisation and
checks; these facts change rarely, so a few seconds of staleness is harmless, while a core
round trip per lookup would double the cost of a transfer. Balances are never cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from adapter.model import Account, AccountRef
from adapter.ports.core import CorePort


class AccountDirectory:
    def __init__(self, core: CorePort, *, ttl: float = 30.0, size: int = 10_000) -> None:
        self._core = core
        self._ttl = ttl
        self._size = size
        self._cache: OrderedDict[str, tuple[float, Account]] = OrderedDict()

    async def get(self, ref: AccountRef, *, timeout: float) -> Account:
        key = ref.key()
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            self._cache.move_to_end(key)
            return hit[1]
        account = await self._core.get_account(ref, timeout=timeout)
        self._put(account, now + self._ttl)
        return account

    def _put(self, account: Account, expires: float) -> None:
        keys = [account.id] + ([f"iban:{account.iban}"] if account.iban else [])
        for key in keys:
            self._cache[key] = (expires, account)
            self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
