"""The customer use cases on the in-memory store with a hand-moved clock: factors, lockout,
tokens, SCA with dynamic linking, alerts."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from adapter.model.errors import ValidationError
from adapter.services.customers import totp
from adapter.services.customers.devices import DeviceRefused
from adapter.services.customers.dpop import InvalidDpopProof, ProofRequest
from adapter.services.customers.errors import (
    ChallengeRefused,
    CustomerLocked,
    InvalidCredentials,
    InvalidToken,
    ScaRequired,
)
from adapter.services.customers.sca import PaymentSummary
from adapter.services.customers.service import CustomerService
from adapter.stores.customers_memory import MemoryCustomerStore
from examples.device import SoftwareDevice
from tests.customers.support import (
    LOGIN_URL,
    ORIGIN,
    PASSWORD,
    RP_ID,
    Clock,
    Enrolled,
    enrol,
    login,
    make_service,
)

ACCOUNTS_URL = "https://localhost/v1/customer/accounts"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryCustomerStore:
    return MemoryCustomerStore()


@pytest.fixture
def service(store: MemoryCustomerStore, clock: Clock) -> CustomerService:
    return make_service(store, clock)


async def kinds(store: MemoryCustomerStore, customer_id: str) -> list[str]:
    return [e.kind for e in await store.audit_trail(customer_id)]


async def alerts(store: MemoryCustomerStore) -> list[str]:
    return [e.kind for e in await store.alerts_since(0, 100)]


def test_enrolment_registers_the_device_and_alerts(service: CustomerService, clock: Clock,
                                                    store: MemoryCustomerStore) -> None:
    """Password + TOTP enrol a device; the new device is an alert in the outbox."""
    async def go() -> None:
        who = await enrol(service, clock)
        devices = await store.list_devices(who.customer_id)
        assert [(d.name, d.sign_count, d.revoked_at) for d in devices] == [
            ("test phone", 0, None)]
        assert await alerts(store) == ["new_device"]
    run(go())


def test_a_totp_code_is_accepted_once(service: CustomerService, clock: Clock,
                                      store: MemoryCustomerStore) -> None:
    """RFC 6238 5.2: the same code again within its window is refused and counted."""
    async def go() -> None:
        new = await service.add_customer("alice", PASSWORD, frozenset({"10000001"}))
        code = totp.code_at(new.totp_secret, clock.now)
        await service.start_enrolment("alice", PASSWORD, code)
        with pytest.raises(InvalidCredentials) as refused:
            await service.start_enrolment("alice", PASSWORD, code)
        assert "4 attempts left" in refused.value.message
        assert (await store.get_lock("alice")).failures == 1
    run(go())


def test_totp_beyond_one_step_of_skew_is_refused(service: CustomerService,
                                                 clock: Clock) -> None:
    """A code from two steps ago is clock skew beyond the window."""
    async def go() -> None:
        new = await service.add_customer("alice", PASSWORD, frozenset({"10000001"}))
        old = totp.code_at(new.totp_secret, clock.now)
        clock.advance(seconds=60)
        with pytest.raises(InvalidCredentials):
            await service.start_enrolment("alice", PASSWORD, old)
        clock.advance(seconds=-30)  # one step of skew is allowed
        await service.start_enrolment("alice", PASSWORD, old)
    run(go())


def test_another_customers_totp_is_refused(service: CustomerService, clock: Clock) -> None:
    async def go() -> None:
        await service.add_customer("alice", PASSWORD, frozenset({"10000001"}))
        bob = await service.add_customer("bob", PASSWORD, frozenset({"10000002"}))
        with pytest.raises(InvalidCredentials):
            await service.start_enrolment("alice", PASSWORD,
                                          totp.code_at(bob.totp_secret, clock.now))
    run(go())


def test_registration_without_user_verification_is_refused(
        service: CustomerService, clock: Clock, store: MemoryCustomerStore) -> None:
    """WebAuthn UV flag: a key used without the biometric registers nothing."""
    async def go() -> None:
        new = await service.add_customer("alice", PASSWORD, frozenset({"10000001"}))
        cid, options = await service.start_enrolment(
            "alice", PASSWORD, totp.code_at(new.totp_secret, clock.now))
        device = SoftwareDevice(ORIGIN, RP_ID)
        with pytest.raises(DeviceRefused, match="verif"):
            await service.finish_enrolment(cid, device.register(options, user_verified=False),
                                           "phone")
        assert await store.list_devices(new.customer.customer_id) == []
        with pytest.raises(ChallengeRefused):  # the challenge was used up
            await service.finish_enrolment(cid, device.register(options), "phone")
    run(go())


def test_login_issues_tokens_bound_to_the_device(service: CustomerService, clock: Clock,
                                                 store: MemoryCustomerStore) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        proof = who.device.dpop("GET", ACCOUNTS_URL, access_token=tokens.access_token,
                                iat=clock.ts)
        principal = await service.authenticate(tokens.access_token, proof,
                                               ProofRequest("GET", ACCOUNTS_URL))
        assert principal.id == "customer:" + who.customer_id
        assert principal.accounts == frozenset({"10000001"})
        assert principal.may_use_account("10000001")
        assert not principal.may_use_account("10000002")
        assert await alerts(store) == ["new_device", "login_from_new_device"]
        await login(service, clock, who)  # the second login from it is no alert
        assert await alerts(store) == ["new_device", "login_from_new_device"]
    run(go())


def test_a_token_with_another_devices_proof_is_refused(service: CustomerService,
                                                       clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        thief = SoftwareDevice(ORIGIN, RP_ID)
        for proof in (None, thief.dpop("GET", ACCOUNTS_URL, access_token=tokens.access_token,
                                       iat=clock.ts)):
            with pytest.raises(InvalidDpopProof):
                await service.authenticate(tokens.access_token, proof,
                                           ProofRequest("GET", ACCOUNTS_URL))
    run(go())


@pytest.mark.parametrize("change", ["alg_none", "typ", "htu", "htm", "iat", "ath", "jti",
                                    "private_jwk"])
def test_bad_dpop_proofs_are_refused(service: CustomerService, clock: Clock,
                                     change: str) -> None:
    """RFC 9449 section 4.3: each check refuses its own kind of bad proof."""
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        d, at, url = who.device, tokens.access_token, ACCOUNTS_URL
        proofs = {
            "alg_none": d.dpop("GET", url, access_token=at, iat=clock.ts).split(".")[1],
            "typ": d.dpop("GET", url, access_token=at, iat=clock.ts, header={"typ": "JWT"}),
            "htu": d.dpop("GET", "https://evil.example/v1/customer/accounts",
                          access_token=at, iat=clock.ts),
            "htm": d.dpop("POST", url, access_token=at, iat=clock.ts),
            "iat": d.dpop("GET", url, access_token=at, iat=clock.ts - 300),
            "ath": d.dpop("GET", url, access_token="at_other", iat=clock.ts),
            "jti": d.dpop("GET", url, access_token=at, iat=clock.ts, jti="x"),
            "private_jwk": d.dpop("GET", url, access_token=at, iat=clock.ts, header={
                "jwk": {**d.public_jwk(), "d": "AAAA"}}),
        }
        proof = proofs[change]
        if change == "alg_none":
            import base64
            import json
            head = base64.urlsafe_b64encode(json.dumps(
                {"typ": "dpop+jwt", "alg": "none", "jwk": d.public_jwk()}).encode()).rstrip(b"=")
            proof = head.decode() + "." + proof + "."
        with pytest.raises(InvalidDpopProof):
            await service.authenticate(at, proof, ProofRequest("GET", url))
    run(go())


def test_a_dpop_proof_is_used_once(service: CustomerService, clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        proof = who.device.dpop("GET", ACCOUNTS_URL, access_token=tokens.access_token,
                                iat=clock.ts)
        await service.authenticate(tokens.access_token, proof, ProofRequest("GET", ACCOUNTS_URL))
        with pytest.raises(InvalidDpopProof, match="used already"):
            await service.authenticate(tokens.access_token, proof,
                                       ProofRequest("GET", ACCOUNTS_URL))
    run(go())


def test_a_cloned_authenticator_is_refused_by_its_sign_count(service: CustomerService,
                                                             clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        await login(service, clock, who)  # the device's count is now 1
        cid, options = await service.start_login()
        with pytest.raises(DeviceRefused, match="sign count"):
            await service.finish_login(
                who.username, PASSWORD, cid, who.device.assert_(options, count=1),
                who.device.dpop("POST", LOGIN_URL, iat=clock.ts), ProofRequest("POST", LOGIN_URL))
    run(go())


def test_an_assertion_over_another_challenge_is_refused(service: CustomerService,
                                                        clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        cid, options = await service.start_login()
        with pytest.raises(DeviceRefused, match="challenge"):
            await service.finish_login(
                who.username, PASSWORD, cid, who.device.assert_(options, challenge=b"x" * 32),
                who.device.dpop("POST", LOGIN_URL, iat=clock.ts), ProofRequest("POST", LOGIN_URL))
    run(go())


def test_an_expired_challenge_is_refused(service: CustomerService, clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        cid, options = await service.start_login()
        clock.advance(minutes=3)
        with pytest.raises(ChallengeRefused, match="expired"):
            await service.finish_login(
                who.username, PASSWORD, cid, who.device.assert_(options),
                who.device.dpop("POST", LOGIN_URL, iat=clock.ts), ProofRequest("POST", LOGIN_URL))
    run(go())


def test_lockout_grows_then_is_permanent_with_a_warning(service: CustomerService, clock: Clock,
                                                        store: MemoryCustomerStore) -> None:
    """RTS art. 4(3)(b): 5 failures lock for 15 min, then 60 min, then for good."""
    async def go() -> None:
        who = await enrol(service, clock)
        messages = []
        for lock_number in range(3):
            for _ in range(5):
                with pytest.raises((InvalidCredentials, CustomerLocked)) as refused:
                    await login(service, clock, who, password="wrong password!")
                messages.append(refused.value.message)
            assert isinstance(refused.value, CustomerLocked)
            with pytest.raises(CustomerLocked):  # the right password does not help now
                await login(service, clock, who)
            clock.advance(minutes=15 * 4 ** lock_number + 1)
        assert messages[0].endswith("4 attempts left before login is locked")
        assert "permanent" not in messages[5]
        # The second lock, and every failure after it, warn that the next lock is permanent.
        assert "next lock will be permanent" in messages[9]
        assert "next lock will be permanent" in messages[10]
        assert "contact the bank" in messages[-1]
        with pytest.raises(CustomerLocked):
            await login(service, clock, who)
        assert (await alerts(store)).count("customer_locked") == 3
        await service.unlock(who.username, by="internal")
        await login(service, clock, who)
    run(go())


def test_a_lock_expires_after_its_time(service: CustomerService, clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        for _ in range(5):
            with pytest.raises((InvalidCredentials, CustomerLocked)):
                await login(service, clock, who, password="wrong password!")
        clock.advance(minutes=14)
        with pytest.raises(CustomerLocked):
            await login(service, clock, who)
        clock.advance(minutes=2)
        await login(service, clock, who)
    run(go())


def test_an_unknown_username_looks_like_a_known_one(service: CustomerService,
                                                    clock: Clock) -> None:
    """Same messages, same lock, for a username nobody has: no enumeration."""
    async def go() -> None:
        who = await enrol(service, clock)
        ghost = Enrolled("ghost", "-", who.secret, who.device)
        seen: dict[str, list[str]] = {}
        for person in (who, ghost):
            seen[person.username] = []
            for _ in range(6):
                with pytest.raises((InvalidCredentials, CustomerLocked)) as refused:
                    await login(service, clock, person, password="wrong password!")
                seen[person.username].append(
                    f"{refused.value.code}:{refused.value.message.split(' for ')[0]}")
        assert seen["alice"] == seen["ghost"]
    run(go())


def test_refresh_rotates_and_a_replay_revokes_the_family(service: CustomerService,
                                                         clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        first = await login(service, clock, who)
        url = "https://localhost/v1/customer/token"

        def proof() -> str:
            return who.device.dpop("POST", url, iat=clock.ts)
        second = await service.refresh(first.refresh_token, proof(), ProofRequest("POST", url))
        assert second.refresh_token != first.refresh_token
        with pytest.raises(InvalidToken, match="used already"):
            await service.refresh(first.refresh_token, proof(), ProofRequest("POST", url))
        # The family is gone: the newest refresh and access tokens are dead too.
        with pytest.raises(InvalidToken):
            await service.refresh(second.refresh_token, proof(), ProofRequest("POST", url))
        with pytest.raises(InvalidToken):
            await service.authenticate(second.access_token, who.device.dpop(
                "GET", ACCOUNTS_URL, access_token=second.access_token, iat=clock.ts),
                ProofRequest("GET", ACCOUNTS_URL))
    run(go())


def test_inactivity_ends_the_session(service: CustomerService, clock: Clock) -> None:
    """RTS art. 4(3)(d): 5 minutes without activity end the session, refresh included."""
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        clock.advance(minutes=4)
        await service.authenticate(tokens.access_token, who.device.dpop(
            "GET", ACCOUNTS_URL, access_token=tokens.access_token, iat=clock.ts),
            ProofRequest("GET", ACCOUNTS_URL))
        clock.advance(minutes=5, seconds=1)
        url = "https://localhost/v1/customer/token"
        with pytest.raises(InvalidToken, match="without activity"):
            await service.refresh(tokens.refresh_token, who.device.dpop("POST", url, iat=clock.ts),
                                  ProofRequest("POST", url))
    run(go())


def test_logout_revokes_the_token(service: CustomerService, clock: Clock) -> None:
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)

        async def use() -> Any:
            return await service.authenticate(tokens.access_token, who.device.dpop(
                "GET", ACCOUNTS_URL, access_token=tokens.access_token, iat=clock.ts),
                ProofRequest("GET", ACCOUNTS_URL))
        await service.logout(await use())
        with pytest.raises(InvalidToken, match="ended"):
            await use()
    run(go())


def summary(amount: str, payee: str = "iban:DE02120300000000202051") -> PaymentSummary:
    return PaymentSummary("transfer", Decimal(amount), "EUR", payee, "id:10000001")


def test_sca_is_linked_to_amount_and_payee(service: CustomerService, clock: Clock,
                                           store: MemoryCustomerStore) -> None:
    """RTS art. 5: a code for one amount and payee does not authorise another."""
    async def go() -> None:
        who = await enrol(service, clock)
        await login(service, clock, who)
        tokens = await login(service, clock, who)
        principal = await service.authenticate(tokens.access_token, who.device.dpop(
            "GET", ACCOUNTS_URL, access_token=tokens.access_token, iat=clock.ts),
            ProofRequest("GET", ACCOUNTS_URL))
        big = summary("500.00")
        with pytest.raises(ScaRequired):
            await service.authorise_payment(principal, big, None)
        for tampered in (summary("5000.00"), summary("500.00", "iban:DE89370400440532013000")):
            cid, options = await service.sca_challenge(principal, big)
            with pytest.raises(InvalidCredentials):
                await service.authorise_payment(principal, tampered, {
                    "challengeId": cid, "assertion": who.device.assert_(options)})
        cid, options = await service.sca_challenge(principal, big)
        sca = {"challengeId": cid, "assertion": who.device.assert_(options)}
        assert await service.authorise_payment(principal, big, sca) == "sca"
        with pytest.raises(ChallengeRefused):  # one payment per code
            await service.authorise_payment(principal, big, sca)
        await service.payment_booked(principal, big, "sca")
        # Known payee now, and small: exempt, and the exemption is recorded.
        assert await service.authorise_payment(principal, summary("12.50"), None) == "exempt"
        assert (await kinds(store, who.customer_id)).count("sca_exempt") == 1
        with pytest.raises(ScaRequired):  # known payee but above the threshold
            await service.authorise_payment(principal, summary("30.01"), None)
    run(go())


def test_bad_field_shapes_are_validation_errors(service: CustomerService) -> None:
    async def go() -> None:
        for username, password in (("a" * 65, PASSWORD), ("al\x00ice", PASSWORD),
                                   ("alice", "p" * 257), (None, PASSWORD)):
            with pytest.raises(ValidationError):
                await service.start_enrolment(username, password, "123456")
    run(go())


def test_password_rehash_on_login_when_parameters_change(store: MemoryCustomerStore,
                                                         clock: Clock) -> None:
    """RFC 9106 parameters raised: the next successful login stores a new hash."""
    from argon2 import PasswordHasher

    from adapter.services.customers.passwords import PasswordVerifier

    async def go() -> None:
        service = make_service(store, clock)
        who = await enrol(service, clock)
        old = (await store.get_customer(who.customer_id)).password_hash  # type: ignore[union-attr]
        service.passwords = PasswordVerifier(PasswordHasher(time_cost=2, memory_cost=2048,
                                                            parallelism=1))
        await login(service, clock, who)
        new = (await store.get_customer(who.customer_id)).password_hash  # type: ignore[union-attr]
        assert old.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
        assert new.startswith("$argon2id$v=19$m=2048,t=2,p=1$")
    run(go())


def test_a_password_change_ends_every_session_and_alerts(service: CustomerService,
                                                         clock: Clock,
                                                         store: MemoryCustomerStore) -> None:
    """The old password and every token of the customer stop working; the new password
    logs in; password_changed is an alert and in the audit trail."""
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        await service.change_password(who.username, "a brand new password", by="cli")
        proof = who.device.dpop("GET", ACCOUNTS_URL, access_token=tokens.access_token,
                                iat=clock.ts)
        with pytest.raises(InvalidToken):
            await service.authenticate(tokens.access_token, proof,
                                       ProofRequest("GET", ACCOUNTS_URL))
        with pytest.raises(InvalidCredentials):
            await login(service, clock, who)
        await login(service, clock, who, password="a brand new password")
        assert (await alerts(store)).count("password_changed") == 1
        assert "password_changed" in await kinds(store, who.customer_id)
    run(go())


BAD_DEVICE_DATA = ["login: expired challenge", "login: replayed challenge",
                   "login: malformed assertion", "sca: replayed challenge",
                   "sca: expired challenge", "sca: malformed assertion", "sca: not an object"]


@pytest.mark.parametrize("kind", BAD_DEVICE_DATA)
def test_bad_device_data_counts_toward_lockout(service: CustomerService, clock: Clock,
                                               kind: str, store: MemoryCustomerStore) -> None:
    """Rule 2, the issue's "bad input" list: malformed, replayed or expired WebAuthn data or
    challenges, even with the right password, are failed attempts: the fifth locks."""
    async def go() -> None:
        who = await enrol(service, clock)
        tokens = await login(service, clock, who)
        cid, options = await service.start_login()
        spent = who.device.assert_(options)
        await service.finish_login(who.username, PASSWORD, cid, spent,
                                   who.device.dpop("POST", LOGIN_URL, iat=clock.ts),
                                   ProofRequest("POST", LOGIN_URL))
        principal = await service.authenticate(tokens.access_token, who.device.dpop(
            "GET", ACCOUNTS_URL, access_token=tokens.access_token, iat=clock.ts),
            ProofRequest("GET", ACCOUNTS_URL))
        big = summary("500.00")
        sca_id, sca_options = await service.sca_challenge(principal, big)
        used = {"challengeId": sca_id, "assertion": who.device.assert_(sca_options)}
        assert await service.authorise_payment(principal, big, used) == "sca"

        async def attempt() -> None:
            if kind.startswith("login"):
                challenge, opts = await service.start_login()
                assertion: Any = who.device.assert_(opts)
                if kind == "login: expired challenge":
                    clock.advance(minutes=3)
                elif kind == "login: replayed challenge":
                    challenge, assertion = cid, spent
                else:
                    assertion = {"id": "not base64url!"}
                await service.finish_login(who.username, PASSWORD, challenge, assertion,
                                           who.device.dpop("POST", LOGIN_URL, iat=clock.ts),
                                           ProofRequest("POST", LOGIN_URL))
            else:
                sca: Any = used
                if kind == "sca: expired challenge":
                    challenge, opts = await service.sca_challenge(principal, big)
                    clock.advance(minutes=3)
                    sca = {"challengeId": challenge, "assertion": who.device.assert_(opts)}
                elif kind == "sca: malformed assertion":
                    sca = {"challengeId": sca_id, "assertion": ["x"]}
                elif kind == "sca: not an object":
                    sca = "a string"
                await service.authorise_payment(principal, big, sca)

        for n in range(5):
            with pytest.raises((ChallengeRefused, ValidationError, CustomerLocked)) as refused:
                await attempt()
            assert isinstance(refused.value, CustomerLocked) == (n == 4), refused.value
        with pytest.raises(CustomerLocked):
            await login(service, clock, who)
        trail = [e.detail.get("factor") for e in await store.audit_trail(who.customer_id)
                 if e.kind == "authentication_failed"]
        assert len(trail) == 5
    run(go())
