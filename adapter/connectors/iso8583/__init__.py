"""The ISO 8583 (1987) connector to the core: codec | framing | channel | mux | session.

    spec        the fields, MTIs, processing and response codes, as data
    codec       sans-IO message <-> bytes on pyiso8583 (ASCII; binary bitmap optional)
    framing     2-byte big-endian length prefix: bytes in, whole frames out
    channel     asyncio mutual-TLS stream of frames; reconnect backoff
    mux         many requests in flight, replies matched on (field 11, field 41)
    stan        field 11 allocation, skipping keys still in flight
    liveness    is the core answering? (last byte received, echoes, oldest request)
    session     the link: connect, sign-on, echo, read loop, reconnect, the send gate
    mapping     canonical <-> ISO 8583 messages and field 39 <-> canonical errors
    exceptions  the connector's failures -> canonical errors, at one boundary
    (the reversals still owed: `adapter.ports.reversals`, in SQLite `adapter.stores.sqlite`)
    reverser    0420/0421 until 0430, in the background and after a restart
    options     `IsoOptions`, every knob, one frozen value
    connector   `IsoCoreConnector`, the `CorePort` implementation over all of the above
"""

from adapter.connectors.iso8583.codec import Codec, CodecError
from adapter.connectors.iso8583.connector import IsoCoreConnector
from adapter.connectors.iso8583.options import IsoOptions
from adapter.connectors.iso8583.spec import BitmapEncoding

__all__ = ["BitmapEncoding", "Codec", "CodecError", "IsoCoreConnector", "IsoOptions"]
