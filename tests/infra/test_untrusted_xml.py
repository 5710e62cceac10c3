"""Parsing XML from the network (adapter.infra.untrusted_xml): exact refusals, nothing expanded."""

from __future__ import annotations

import pytest

from adapter.infra.untrusted_xml import UntrustedXmlRefused, parse_untrusted_xml


def test_a_plain_document_parses_without_comments_or_processing_instructions() -> None:
    """The root and an id map (the pair spyne's Soap11 expects); comments and PIs are dropped."""
    root, ids = parse_untrusted_xml(b"<r><!-- note --><?pi x?><a>1</a></r>")
    assert (root.tag, [(c.tag, c.text) for c in root], ids) == ("r", [("a", "1")], {})


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    b'<!DOCTYPE r><r/>',
    # UTF-16: the look at the raw bytes cannot see it, the check on the parsed tree does.
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "boom">]><r>&x;</r>'
    .encode("utf-16"),
], ids=["xxe", "bare-doctype", "utf-16-doctype"])
def test_any_doctype_is_refused(body: bytes) -> None:
    """A DOCTYPE in any encoding is refused (SOAP 1.1 section 3), nothing expanded."""
    with pytest.raises(UntrustedXmlRefused) as caught:
        parse_untrusted_xml(body)
    assert str(caught.value) == "a DOCTYPE is not allowed"


def test_an_undeclared_entity_is_not_well_formed() -> None:
    """Without a DTD an entity reference is a syntax error, reported with libxml2's reason."""
    with pytest.raises(UntrustedXmlRefused) as caught:
        parse_untrusted_xml(b"<r>&x;</r>")
    assert str(caught.value) == (
        "the body is not well-formed XML: Entity 'x' not defined, line 1, column 7")


def test_malformed_xml_is_refused() -> None:
    """Broken markup is refused with the parser's message, not an lxml exception."""
    with pytest.raises(UntrustedXmlRefused) as caught:
        parse_untrusted_xml(b"<r><a></r>")
    assert str(caught.value).startswith("the body is not well-formed XML: ")


def test_no_ids_are_collected_and_a_malformed_body_leaves_the_parser_usable() -> None:
    """Elements with `id` attributes give no ids (no SOAP-encoding href is ever resolved), and
    the reused parser parses the next body after a malformed one."""
    with pytest.raises(UntrustedXmlRefused):
        parse_untrusted_xml(b"<a><b></a>")
    root, ids = parse_untrusted_xml(b'<a><b id="x"/><c href="#x"/><d xml:id="y"/></a>')
    assert (root.tag, ids, len(root)) == ("a", {}, 3)
