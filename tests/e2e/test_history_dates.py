"""A history date the core cannot take is refused at the edge, naming the field, on every
protocol (issue 12.2: `dateFrom=0218-07-15` was "the core refused the request as malformed",
with no field named). The canonical HistoryQuery refuses years before 1000; nothing reaches
the core. One live adapter, real core_sim, real mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import zeep
import zeep.exceptions

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra.tls import grpc_channel_credentials
from tests.grpc.support import rich_error
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client, zeep_client
from tests.harness.core import running_core

RULE = "must be a date from 1000-01-01 to 9999-12-31"


@pytest.fixture(scope="module")
def adapter(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[RunningAdapter]:
    tmp = tmp_path_factory.mktemp("history-dates")
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url) as running:
        yield running


@pytest.mark.parametrize("day", ["0218-07-15", "0999-12-31"])
def test_rest_names_the_parameter(adapter: RunningAdapter, day: str) -> None:
    with https_client(adapter, "partner", base_url=adapter.base_url) as http:
        r = http.get("/v1/accounts/10000001/transactions", params={"dateTo": day})
        ok = http.get("/v1/accounts/10000001/transactions", params={"dateTo": "1000-01-01"})
    assert (r.status_code, r.json()["code"], r.json()["violations"]) == (
        400, "VALIDATION", [{"field": "dateTo", "description": RULE}])
    assert ok.status_code == 200


def test_soap_names_the_element(adapter: RunningAdapter) -> None:
    client: zeep.Client = zeep_client(adapter)
    try:
        with pytest.raises(zeep.exceptions.Fault) as info:
            client.service.GetTransactionHistory(Account={"AccountId": "10000003"},
                                                 FromDate="0218-07-15")
        ok = client.service.GetTransactionHistory(Account={"AccountId": "10000003"},
                                                  FromDate="1000-01-01")
    finally:
        client.transport.session.close()
    detail: Any = info.value.detail
    text = "" if detail is None else "".join(detail.itertext())
    assert "VALIDATION" in text and "FromDate" in text and RULE in text, text
    assert ok is not None


def test_grpc_names_the_field(adapter: RunningAdapter) -> None:
    creds = grpc_channel_credentials(adapter.client("internal"), adapter.ca)
    with grpc.secure_channel(adapter.grpc_target, creds) as channel:
        stub: Any = pb_grpc.BankingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ListTransactions(pb.ListTransactionsRequest(
                account=pb.AccountRef(id="10000002"), from_date="0218-07-15"), timeout=15)
        stub.ListTransactions(pb.ListTransactionsRequest(
            account=pb.AccountRef(id="10000002"), from_date="1000-01-01"), timeout=15)
    error = rich_error(info.value)  # type: ignore[arg-type]
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert list(error.violations) == [("from_date", RULE)]
