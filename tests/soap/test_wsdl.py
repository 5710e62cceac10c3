"""The committed contract: the served WSDL is the committed one, and its rules hold."""

from __future__ import annotations

from pathlib import Path

import httpx
from lxml import etree

from adapter.frontends.soap import COMMITTED_ADDRESS, service_wsdl
from tests.harness.adapter import RunningAdapter

COMMITTED = Path(__file__).parents[2] / "wsdl" / "bank_adapter.wsdl"
XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
NS = {"xs": XS, "wsdl": WSDL}


def test_served_wsdl_is_the_committed_one(adapter: RunningAdapter, http: httpx.Client) -> None:
    """GET ?wsdl returns the committed WSDL byte for byte, but for the soap:address."""
    response = http.get(f"{adapter.soap_url}?wsdl")
    served = response.content.replace(adapter.soap_url.encode(), COMMITTED_ADDRESS.encode())
    assert response.status_code == 200
    assert served == COMMITTED.read_bytes(), (
        "the served WSDL differs from wsdl/bank_adapter.wsdl; regenerate it with "
        "`.venv/bin/python -m adapter.frontends.soap > wsdl/bank_adapter.wsdl`")


def test_generated_wsdl_is_the_committed_one() -> None:
    """The WSDL generated in this process (its own hash seed) is the committed one."""
    assert service_wsdl() == COMMITTED.read_bytes()


def test_no_element_is_nillable_and_required_ones_are_min_occurs_1() -> None:
    """No element is nillable; request fields the services need have no minOccurs=0."""
    root = etree.parse(str(COMMITTED)).getroot()
    assert root.findall(f".//{{{XS}}}element[@nillable='true']") == []
    transfer = root.find(".//xs:complexType[@name='TransferFunds']", NS)
    optional = [e.get("name") for e in transfer.iter(f"{{{XS}}}element")
                if e.get("minOccurs") == "0"]
    assert optional == ["Remittance"]


def test_decimals_carry_fraction_digits() -> None:
    """Every xs:decimal restriction declares totalDigits 18 and fractionDigits 4."""
    root = etree.parse(str(COMMITTED)).getroot()
    decimals = root.findall(".//xs:restriction[@base='xs:decimal']", NS)
    assert len(decimals) == 2
    for restriction in decimals:
        assert restriction.find("xs:totalDigits", NS).get("value") == "18"
        assert restriction.find("xs:fractionDigits", NS).get("value") == "4"


def test_every_operation_declares_the_adapter_fault() -> None:
    """Each of the seven operations declares the AdapterFault detail element."""
    root = etree.parse(str(COMMITTED)).getroot()
    operations = root.findall("wsdl:portType/wsdl:operation", NS)
    assert sorted(o.get("name") for o in operations) == [
        "GetAccount", "GetBalance", "GetPaymentStatus", "GetTransactionHistory",
        "ListAccounts", "PayBill", "TransferFunds"]
    for operation in operations:
        assert operation.find("wsdl:fault", NS).get("message") == "tns:AdapterFault"
    part = root.find("wsdl:message[@name='AdapterFault']/wsdl:part", NS)
    assert part.get("element") == "tns:AdapterFault"
    detail = root.find(".//xs:complexType[@name='AdapterFault']", NS)
    assert [e.get("name") for e in detail.iter(f"{{{XS}}}element")] == [
        "Code", "Message", "CorrelationId", "PaymentId", "Violations", "RetryAfter"]
