"""Parsing XML that came from the network: no DTD, no entities, no network, no huge trees.

Used by every SOAP listener of the project (the adapter's front-end and core_sim's service, both
through `adapter.infra.spyne_asgi`), so the two sides of the SOAP hop refuse the same documents.

Invariants:
- Rule 1: no DTD is loaded or validated, no entity is expanded, no URL is fetched, attribute
  defaults from a DTD are never applied and libxml2's huge-tree limits stay on (XXE, billion
  laughs, SSRF through the parser). Comments and processing instructions are dropped.
- Rule 2: a document with a DOCTYPE is refused even when its DTD would be harmless: no SOAP 1.1
  message may carry one ("A SOAP message MUST NOT contain a Document Type Declaration", SOAP 1.1
  section 3). It is looked for twice: cheaply in the raw bytes before parsing (an ASCII-compatible
  prolog), and in the parsed tree (any other encoding).
- Rule 3: a refusal is an `UntrustedXmlRefused` with a message fit for the caller; the caller's
  protocol decides how it is answered (spyne_asgi: a SOAP `Client.XmlRefused` fault).
- Rule 4: no SOAP-encoding `href` is resolved. spyne copies the element an `href="#id"` names
  into the referring one (SOAP 1.1 section 5.4.1), which an unknown id turned into an internal
  error and which document/literal never needs (WS-I Basic Profile 1.1 R1005 forbids
  soap:encodingStyle); an element with an href is just an empty element to the schema.
"""

from __future__ import annotations

import threading
from typing import Any

from lxml import etree

# lxml parser settings for untrusted XML (Rule 1). Also forced onto spyne's own protocol
# parsers as a second line, so no parser of the process is laxer than this.
HARDENED_PARSER_KWARGS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "attribute_defaults": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}

# How far into the body the cheap DOCTYPE look reaches: a prolog longer than this is unusual,
# and the check after parsing catches it anyway (Rule 2).
_PROLOG_BYTES = 4096


class _Parsers(threading.local):
    # A parser is reused (setting one up costs about a third of a small parse) but lxml's
    # parsers may not be shared between threads: one per thread.
    def __init__(self) -> None:
        self.parser = etree.XMLParser(**HARDENED_PARSER_KWARGS)


_parsers = _Parsers()


class UntrustedXmlRefused(ValueError):
    """The body is not XML we are willing to parse; the message says why (Rule 3)."""


def parse_untrusted_xml(body: bytes) -> tuple[etree._Element, dict[str, etree._Element]]:
    """Parse `body` under Rules 1-3; `(root, {})`, the (root, ids) pair spyne's Soap11 expects
    with no ids, so SOAP-encoding multi-references are never followed (Rule 4)."""
    if b"<!DOCTYPE" in body[:_PROLOG_BYTES]:
        raise UntrustedXmlRefused("a DOCTYPE is not allowed")
    try:
        root = etree.fromstring(body, _parsers.parser)
    except etree.XMLSyntaxError as exc:
        raise UntrustedXmlRefused(f"the body is not well-formed XML: {exc.msg}") from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UntrustedXmlRefused("a DOCTYPE is not allowed")
    return root, {}
