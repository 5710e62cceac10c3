"""Play the bank's mobile app against a running `bank-adapter up`: enrol a device, log in,
read the balance, make an exempt and a challenged transfer, log out. Exits 0 when all of it
worked, 1 (with the problem printed) when something did not.

    python examples/mobile_device.py --state-dir bank-adapter-state [--customer alice]

curl cannot do this: every request carries a DPoP proof signed by the device key, and the
login and the large transfer carry WebAuthn assertions (examples/device.py plays the secure
hardware). The connection is the mobile back-end's: mutual TLS with the `mobile` client
certificate from the state folder. The customer's password and TOTP secret come from the
state folder's demo-customers.json, as `bank-adapter up` printed them.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyotp

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.device import SoftwareDevice

PREFIX = "/v1/customer"


class Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text}
        self.problem = body
        super().__init__(f"{response.request.method} {response.request.url.path}: "
                         f"{response.status_code} {body.get('code')}: {body.get('detail')}")


class MobileApp:
    """The app: one device, one customer, the relay's mTLS connection."""

    def __init__(self, client: httpx.Client, device: SoftwareDevice) -> None:
        self.http = client
        self.device = device
        self.access_token: str | None = None
        self.refresh_token: str | None = None

    def url(self, path: str) -> str:
        return str(self.http.base_url).rstrip("/") + path

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = True,
             proof: bool = True, headers: dict[str, str] | None = None,
             expect: int | None = None) -> httpx.Response:
        h = dict(headers or {})
        if auth and self.access_token is not None:
            h["Authorization"] = f"DPoP {self.access_token}"
        if proof:
            h["DPoP"] = self.device.dpop(method, self.url(path),
                                         access_token=self.access_token if auth else None)
        r = self.http.request(method, path, json=body, headers=h)
        if expect is not None and r.status_code != expect:
            raise Refused(r)
        return r

    def enrol(self, username: str, password: str, otp: str, name: str = "demo phone") -> str:
        start = self.call("POST", f"{PREFIX}/enrolment/start", {
            "username": username, "password": password, "otp": otp},
            auth=False, proof=False, expect=200).json()
        finish = self.call("POST", f"{PREFIX}/enrolment/finish", {
            "challengeId": start["challengeId"],
            "credential": self.device.register(start["publicKey"]), "deviceName": name},
            auth=False, proof=False, expect=201).json()
        device_id: str = finish["deviceId"]
        return device_id

    def login(self, username: str, password: str) -> httpx.Response:
        start = self.call("POST", f"{PREFIX}/login/start", auth=False, proof=False,
                          expect=200).json()
        r = self.call("POST", f"{PREFIX}/login", {
            "username": username, "password": password, "challengeId": start["challengeId"],
            "assertion": self.device.assert_(start["publicKey"])}, auth=False)
        if r.status_code == 200:
            self._keep(r.json())
        return r

    def refresh(self) -> httpx.Response:
        r = self.call("POST", f"{PREFIX}/token", {"refresh_token": self.refresh_token},
                      auth=False)
        if r.status_code == 200:
            self._keep(r.json())
        return r

    def _keep(self, tokens: dict[str, Any]) -> None:
        assert tokens["token_type"] == "DPoP"
        self.access_token = tokens["access_token"]
        self.refresh_token = tokens["refresh_token"]

    def logout(self) -> httpx.Response:
        return self.call("POST", f"{PREFIX}/logout")

    def balance(self, account_id: str) -> Decimal:
        body = self.call("GET", f"{PREFIX}/accounts/{account_id}/balances", expect=200).json()
        booked = next(b for b in body["balances"] if b["balanceType"] == "interimBooked")
        return Decimal(booked["balanceAmount"]["amount"])

    def transfer(self, payment: dict[str, Any], *, sca: bool, key: str | None = None,
                 tamper: dict[str, Any] | None = None) -> httpx.Response:
        """A transfer; with `sca`, first a challenge for exactly this payment, signed after
        the device checked that the challenge is the payment it shows (dynamic linking)."""
        body: dict[str, Any] = {"payment": payment}
        if sca:
            challenge = self.call("POST", f"{PREFIX}/sca/challenges",
                                  {"kind": "transfer", "payment": payment}, expect=201).json()
            body["sca"] = {"challengeId": challenge["challengeId"],
                           "assertion": self.device.assert_(challenge["publicKey"])}
        if tamper:
            body["payment"] = {**payment, **tamper}
        return self.call("POST", f"{PREFIX}/transfers", body,
                         headers={"Idempotency-Key": key or str(uuid.uuid4())})


def transfer_body(amount: str, creditor: dict[str, str], debtor: dict[str, str],
                  e2e: str = "MOBILE-DEMO") -> dict[str, Any]:
    return {"debtorAccount": debtor, "creditorAccount": creditor,
            "instructedAmount": {"currency": "EUR", "amount": amount},
            "endToEndIdentification": e2e}


def _client(state: Path, base_url: str) -> httpx.Client:
    pki = state / "pki"
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "mobile.crt"), str(pki / "mobile.key"))
    return httpx.Client(base_url=base_url, verify=ctx, timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--url", default="https://localhost:8443",
                        help="the adapter's HTTPS address (default https://localhost:8443)")
    parser.add_argument("--customer", default="alice")
    parser.add_argument("--origin", default="https://localhost")
    parser.add_argument("--rp-id", default="localhost")
    args = parser.parse_args(argv)
    demo = json.loads((args.state_dir / "demo-customers.json").read_text())["customers"]
    me = next(c for c in demo if c["username"] == args.customer)
    others = [c for c in demo if c["username"] != args.customer]
    own = me["accounts"][0]
    payee = others[0]["accounts"][0] if others else "10000003"
    device = SoftwareDevice(args.origin, args.rp_id)
    try:
        with _client(args.state_dir, args.url) as client:
            app = MobileApp(client, device)
            otp = pyotp.TOTP(me["totp_secret"]).now()
            print(f"enrolled device {app.enrol(me['username'], me['password'], otp)[:12]}...")
            r = app.login(me["username"], me["password"])
            if r.status_code != 200:
                raise Refused(r)
            print("logged in: access token bound to the device key (DPoP)")
            print(f"balance of {own}: {app.balance(own)}")
            small = app.transfer(transfer_body("1.00", {"id": payee}, {"id": own}), sca=False)
            if small.status_code != 201:
                raise Refused(small)
            print(f"exempt transfer of 1.00 EUR to trusted payee {payee}: "
                  f"{small.json()['transactionStatus']} (sca: {small.headers['sca']})")
            big = app.transfer(transfer_body("100.00", {"id": payee}, {"id": own}), sca=True)
            if big.status_code != 201:
                raise Refused(big)
            print(f"challenged transfer of 100.00 EUR: {big.json()['transactionStatus']} "
                  f"(sca: {big.headers['sca']})")
            print(f"balance of {own}: {app.balance(own)}")
            if app.logout().status_code != 204:
                raise RuntimeError("logout failed")
            print("logged out")
    except (Refused, httpx.HTTPError, OSError) as exc:
        print(f"mobile_device: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
