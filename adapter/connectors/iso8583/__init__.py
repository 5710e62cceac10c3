"""The ISO 8583 (1987) connector to the core: codec | framing | channel | mux | connector.

    spec        the fields, MTIs, processing and response codes, as data
    codec       sans-IO message <-> bytes on pyiso8583 (ASCII; binary bitmap optional)
    framing     2-byte big-endian length prefix: bytes in, whole frames out
    channel     asyncio mutual-TLS stream of frames; reconnect backoff
    mux         many requests in flight, replies matched on (field 11, field 41)
    mapping     canonical <-> ISO 8583 messages and field 39 <-> canonical errors
    connector   `IsoCoreConnector`, the `CorePort` implementation; the reversals it still owes
                are kept behind `adapter.ports.reversals` (SQLite: `adapter.stores.sqlite`)
"""

from adapter.connectors.iso8583.codec import Codec, CodecError
from adapter.connectors.iso8583.connector import IsoCoreConnector
from adapter.connectors.iso8583.spec import BitmapEncoding

__all__ = ["BitmapEncoding", "Codec", "CodecError", "IsoCoreConnector"]
