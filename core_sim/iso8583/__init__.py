"""The simulated core's side of the ISO 8583 link, written independently of the adapter.

The interface between the two sides is the README's "ISO 8583 connector" section; the message
layout is ISO 8583:1987. Nothing here imports the adapter's ISO 8583 code, so a wrong field
length or currency entry on one side shows up as a failing test instead of breaking both
sides the same way.

    fields     the data elements the core reads and writes, as data (ISO 8583:1987 formats)
    messages   MTIs, which fields each request must or may carry, field 3 / 39 / 70 codes
    codec      bytes <-> message on pyiso8583, with the content-class checks of `fields`
    elements   field helpers: field 4 amounts, field 48 TLV, field 54 balances, field 90
    stream     the 2-byte length framing on an asyncio stream pair, writes batched per turn
"""
