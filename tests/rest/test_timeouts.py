"""A core that does not answer in time: 504 CORE_TIMEOUT naming the pending payment, which
the adapter later settles with the core, so money still moves exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rest.conftest import Bank, new_key, start_bank, transfer_body


@pytest.fixture(scope="module")
def slow_bank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    """An adapter with short core and resolve timeouts, on its own core."""
    with start_bank(tmp_path_factory.mktemp("rest-timeouts"), pki_dir,
                    core_timeout=1.0, resolve_timeout=1.0) as b:
        yield b


def test_core_timeout_is_504_with_payment_id_then_settles(slow_bank: Bank) -> None:
    """The transfer times out (504, PDNG), then the resolver books it once: ACSC."""
    faults = slow_bank.core.faults
    with slow_bank.client("partner") as partner:
        # Warm the account directory and the core connection. A cold first call may take
        # longer than the short core timeout (504): it is asked again at once, each try
        # bounded by that timeout, never a wait of the test's own.
        for path in ("/v1/accounts/10000001", "/v1/accounts/10000002"):
            codes = []
            while len(codes) < 3 and 200 not in codes:
                codes.append(partner.get(path).status_code)
            assert codes[-1] == 200, codes
        before = slow_bank.booked("10000001")

        def status() -> str:
            return partner.get(f"/v1/payments/{payment_id}").json()["transactionStatus"]

        try:
            faults.update(latency_ms=2500)
            r = partner.post("/v1/transfers", headers={"Idempotency-Key": new_key()},
                             json=transfer_body("5.00"))
            assert r.status_code == 504, r.text
            problem = r.json()
            assert problem["code"] == "CORE_TIMEOUT"
            payment_id = problem["paymentId"]
            # The core books after its latency: wait for that, not for a fixed time. The
            # latency stays on until then, so a resolve the adapter sends meanwhile cannot
            # reach the ledger first and fence the reference (CancelTransfer) before it books.
            assert slow_bank.core.ledger.wait_until(
                lambda: slow_bank.booked("10000001") == before - 500, 10)
        finally:
            faults.reset()
        assert status() == "PDNG"
        # The resolver's pass during the latency timed out and it now waits its interval
        # (5 s); settle this one now through the same service call it would make.
        payments, journal = slow_bank.services.payments, slow_bank.services.storage.journal
        settled = slow_bank.run(payments.settle(slow_bank.run(journal.get(payment_id))))
        assert settled.status.value == "booked"
        assert status() == "ACSC"
        assert slow_bank.booked("10000001") == before - 500
