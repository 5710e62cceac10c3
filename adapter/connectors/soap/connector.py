"""The SOAP connector: `CorePort` over the core's SOAP 1.1 service, with zeep on aiohttp.

Owns the zeep client, the pooled mutual-TLS connection to the core (one `aiohttp.ClientSession`
per connector), per-call timeouts, and the translation between the core's SOAP types and the
canonical model.

Invariants:
- Rule 1: the WSDL is the committed file (wsdl/core_sim.wsdl); nothing is fetched at start-up
  or later (any attempt raises), and the service is bound to the configured address.
- Rule 2: trust comes only from `adapter.infra.tls.client_context` with the project's CA;
  `trust_env=False`, so no environment variable (SSL_CERT_FILE, proxies, ...) can change it.
- Rule 3: every call is bounded by its `timeout` (one deadline for queueing, connecting,
  sending and reading), and every exception leaves through `errors.map_exception`
  (`raise ... from exc`).
- Rule 4: a posting is never sent twice by this class, nor by aiohttp (it retries a broken
  keep-alive connection only for idempotent methods; SOAP is POST); `resolve` asks for the
  status and, if the core has never seen the reference, fences it with CancelTransfer.
- Rule 5: request and response bodies are never logged (they carry full account numbers).
- Rule 6: the link's client certificate, key and CA are read from a `ReloadableClientContext`
  at each request: aiohttp pools connections per SSLContext, so after a reload new requests
  open connections with the new certificate, a request in flight finishes on its connection,
  and the idle connections of the old context close at their keep-alive expiry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import aiohttp
from lxml import etree
from zeep import AsyncClient, Settings
from zeep.exceptions import TransportError
from zeep.proxy import AsyncServiceProxy
from zeep.transports import Transport

from adapter.connectors.soap.errors import CORE_NS, map_exception
from adapter.infra.tls import ReloadableClientContext, TlsFiles
from adapter.model import (
    Account,
    AccountRef,
    AccountStatus,
    Balance,
    CreditDebit,
    HistoryQuery,
    Money,
    Transaction,
    TransactionPage,
)
from adapter.model.errors import CoreUnavailable, InternalError
from adapter.ports.core import CoreBooking, CoreBookingState, CoreOutcomeUnknown, CorePosting

logger = logging.getLogger(__name__)

# A symlink to the committed wsdl/core_sim.wsdl: a wheel carries the file itself, so an
# installed (not only an editable) adapter finds the core's contract.
DEFAULT_WSDL = Path(__file__).with_name("core_sim.wsdl")
BINDING = f"{{{CORE_NS}}}CoreBankingService"
HEALTH_REFERENCE = "HEALTHCHECK"
# Shorter than the core's keep-alive (75 s): aiohttp never reuses a connection idle for longer
# (checked when one is taken from the pool), so a request is not written into a connection the
# core is closing at that moment. If it still happens, aiohttp raises ServerDisconnectedError
# and a posting is CoreOutcomeUnknown (see errors): resolved, never re-sent.
KEEPALIVE_EXPIRY_S = 30.0


class _Reply:
    """The part of a `requests.Response` that zeep's `process_reply` reads: status_code,
    headers (case-insensitive `.get`), content and encoding (for multipart/related only)."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def encoding(self) -> str | None:
        return aiohttp.helpers.parse_mimetype(self.headers.get("Content-Type", "")
                                              ).parameters.get("charset")


class _CoreTransport(Transport):  # type: ignore[misc]
    """zeep's transport on one shared `aiohttp.ClientSession`, created on first use inside the
    running event loop. Sends only what zeep posts; never loads documents (Rule 1) and never
    logs bodies (Rule 5). The deadline is the caller's (`SoapCoreConnector._call`)."""

    def __init__(self, tls: ReloadableClientContext, *, max_connections: int,
                 connect_timeout: float) -> None:
        # Not Transport.__init__: it builds a requests.Session, used only to fetch documents.
        self.cache = None
        self.load_timeout = connect_timeout
        self.operation_timeout = None
        self.logger = logger
        self._close_session = False
        self._tls = tls
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        if self._closed:
            raise CoreUnavailable("the connector to the core is closed")
        connector = aiohttp.TCPConnector(
            ssl=self._tls.current, limit=self._max_connections,
            limit_per_host=self._max_connections, keepalive_timeout=KEEPALIVE_EXPIRY_S,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
            # The deadline is enforced by the caller; aiohttp only bounds the TCP+TLS set-up
            # (ConnectionTimeoutError: nothing was sent).
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
            # We do not ask for compressed answers; the core sends plain XML.
            skip_auto_headers=("Accept-Encoding",),
            raise_for_status=False,
        )
        return self._session

    async def post_xml(self, address: str, envelope: etree._Element,
                       headers: dict[str, str]) -> _Reply:
        message = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        session = self._session or self._open()
        # Rule 6: the context of the latest reload; its connections are pooled apart.
        async with session.post(address, data=message, headers=headers,
                                ssl=self._tls.current) as response:
            content = await response.read()
            return _Reply(response.status, response.headers, content)

    async def post(self, address: str, message: bytes, headers: dict[str, str]) -> NoReturn:
        raise TransportError("the core connector only posts envelopes (post_xml)")

    async def get(self, address: str, params: Any, headers: dict[str, str]) -> NoReturn:
        raise TransportError("the core's binding is SOAP over HTTP POST; GET is not used")

    def _load_remote_data(self, url: str) -> bytes:
        raise TransportError(f"refusing to fetch {url}: the core's WSDL is a committed file")

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _state(value: str | None) -> CoreBookingState:
    try:
        return CoreBookingState((value or "").lower())
    except ValueError:
        raise InternalError(f"the core answered an unknown transfer state {value!r}") from None


def _booking(result: Any) -> CoreBooking:
    return CoreBooking(reference=result.Reference, state=_state(result.State),
                       transaction_id=result.TransactionId, booked_at=result.BookedAt)


def _account(a: Any) -> Account:
    return Account(id=a.AccountId, iban=a.Iban, currency=a.Currency, name=a.Name or "",
                   status=AccountStatus(a.Status or "enabled"))


def _items(value: Any, name: str) -> list[Any]:
    """zeep hands an array type back as a list at the top level and as an object with the
    item element inside a structure; accept both."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return list(getattr(value, name, None) or [])


def _money(amount: Decimal | None, currency: str) -> Money:
    return Money(amount=amount if amount is not None else Decimal(0), currency=currency)


class SoapCoreConnector:
    """`CorePort` over SOAP. Build it with `create`; close it with `aclose`."""

    def __init__(self, client: AsyncClient, transport: _CoreTransport, address: str, *,
                 max_in_flight: int = 32) -> None:
        self._client = client
        self._slots = asyncio.Semaphore(max_in_flight)
        self._transport = transport
        self.address = address
        self._service = AsyncServiceProxy(client, client.wsdl.bindings[BINDING], address=address)

    @classmethod
    def create(cls, address: str, pki_dir: Path, *, wsdl_path: Path = DEFAULT_WSDL,
               client_name: str = "adapter-client", max_connections: int = 10,
               default_timeout: float = 10.0,
               tls: ReloadableClientContext | None = None) -> SoapCoreConnector:
        """A connector to the core at `address` (e.g. https://localhost:7443/core/v1),
        authenticating with `<pki_dir>/<client_name>.crt` and trusting the core-link CA, or
        with `tls`, the link's reloadable context the composition root shares (Rule 6).
        `default_timeout` bounds setting up one connection (TCP and TLS)."""
        if tls is None:
            tls = ReloadableClientContext(TlsFiles.from_dir(pki_dir, client_name))
        transport = _CoreTransport(tls, max_connections=max_connections,
                                   connect_timeout=default_timeout)
        settings = Settings(strict=True, xml_huge_tree=False, forbid_dtd=True,
                            forbid_entities=True, forbid_external=True)
        client = AsyncClient(str(wsdl_path), transport=transport, settings=settings)
        return cls(client, transport, address, max_in_flight=max_connections)

    async def _call(self, operation: str, *, timeout: float, posting: bool, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Queue here, in front of the connection pool: a call that times out while queued was
        # certainly not sent (CoreUnavailable), and the pool never holds waiters. A free slot
        # is taken without suspending, so the timer is only armed when the call must wait.
        if self._slots.locked():
            try:
                async with asyncio.timeout_at(deadline):
                    await self._slots.acquire()
            except TimeoutError as exc:
                raise CoreUnavailable("no connection to the core became free in time") from exc
        else:
            await self._slots.acquire()
        try:
            async with asyncio.timeout_at(deadline):
                return await getattr(self._service, operation)(**kwargs)
        except Exception as exc:
            raise map_exception(exc, posting=posting) from exc
        finally:
            self._slots.release()

    # -- CorePort ---------------------------------------------------------------------------

    async def list_accounts(self, *, timeout: float) -> list[Account]:
        result = await self._call("ListAccounts", timeout=timeout, posting=False)
        return [_account(a) for a in _items(result, "Account")]

    async def get_account(self, ref: AccountRef, *, timeout: float) -> Account:
        result = await self._call("GetAccount", timeout=timeout, posting=False,
                                  AccountId=ref.id, Iban=ref.iban)
        return _account(result)

    async def get_balance(self, account_id: str, *, timeout: float) -> Balance:
        b = await self._call("GetBalance", timeout=timeout, posting=False, AccountId=account_id)
        return Balance(account_id=b.AccountId, booked=_money(b.Booked, b.Currency),
                       available=_money(b.Available, b.Currency),
                       as_of=b.AsOf or datetime.now().astimezone())

    async def get_history(self, account_id: str, query: HistoryQuery, *,
                          timeout: float) -> TransactionPage:
        page = await self._call("GetHistory", timeout=timeout, posting=False,
                                AccountId=account_id, Cursor=query.cursor, Limit=query.limit,
                                FromDate=query.from_date, ToDate=query.to_date)
        entries = _items(page.Entries, "Entry")
        items = tuple(
            Transaction(
                # The booking's id, the one the payment shows (issue 12.5), not the entry's.
                transaction_id=e.TransactionId, account_id=account_id,
                amount=_money(e.Amount, e.Currency), credit_debit=CreditDebit(e.CreditDebit),
                booked_at=e.BookedAt, value_date=e.ValueDate,
                counterparty_account_id=e.CounterpartyAccountId,
                counterparty_iban=e.CounterpartyIban, reference=e.Reference,
                end_to_end_id=e.EndToEndId, remittance=e.Remittance,
                balance_after=_money(e.BalanceAfter, e.Currency)
                if e.BalanceAfter is not None else None,
            )
            for e in entries
        )
        return TransactionPage(items=items, next_cursor=page.NextCursor)

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        result = await self._call(
            "PostTransfer", timeout=timeout, posting=True,
            Reference=posting.reference, DebtorAccountId=posting.debtor_account_id,
            CreditorAccountId=posting.creditor_account_id, BillerId=posting.biller_id,
            CustomerReference=posting.customer_reference, Amount=posting.amount.amount,
            Currency=posting.amount.currency, EndToEndId=posting.end_to_end_id,
            Remittance=posting.remittance,
        )
        try:
            booking = _booking(result)
        except Exception as exc:
            raise map_exception(exc, posting=True) from exc
        if booking.state is not CoreBookingState.BOOKED:
            # PostTransfer answers BOOKED or a fault; anything else is a core we do not
            # understand, and the money may have moved.
            raise CoreOutcomeUnknown(f"the core answered {booking.state.value} to a posting")
        return booking

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        status = await self._call("GetTransferStatus", timeout=timeout, posting=True,
                                  Reference=posting.reference)
        booking = self._parse(status)
        if booking.state is not CoreBookingState.NOT_FOUND:
            return booking
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise CoreOutcomeUnknown("no time left to fence the posting")
        fenced = self._parse(await self._call("CancelTransfer", timeout=remaining, posting=True,
                                              Reference=posting.reference))
        if fenced.state is CoreBookingState.NOT_FOUND:
            raise CoreOutcomeUnknown("the core did not fence the posting")
        logger.info("resolved posting %s as %s", posting.reference, fenced.state.value)
        return fenced

    @staticmethod
    def _parse(result: Any) -> CoreBooking:
        try:
            return _booking(result)
        except Exception as exc:
            raise map_exception(exc, posting=True) from exc

    async def healthy(self) -> bool:
        try:
            await self._call("GetTransferStatus", timeout=2.0, posting=False,
                             Reference=HEALTH_REFERENCE)
        except Exception as exc:
            logger.warning("core health check failed: %s", type(exc).__name__)
            return False
        return True

    async def aclose(self) -> None:
        await self._transport.aclose()
