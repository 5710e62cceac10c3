"""Registering a service (BankingService, CustomerAdminService) with deserializers that
turn bad bytes into a clear answer, through generic handlers only.

grpc's generated registration parses a request with `FromString`; when the bytes are not a
valid message of that type, grpc answers UNKNOWN with the parser's exception text, which is
neither the caller's fault code (INVALID_ARGUMENT) nor the adapter's error shape. Here each
method gets a deserializer that hands the handler a `MalformedRequest` instead, and the
handlers' one error path (servicer._unary / WatchTransactions) answers INVALID_ARGUMENT with
`ErrorInfo` (VALIDATION) and a `BadRequest` naming the message type.

No service is added as "registered methods" (`GenericOnly`): grpc's AIO server keeps one
pending request per registered method and, after every call it accepts, waits again on all of
them (`asyncio.wait` over the whole set), so each registered method costs every call of every
method. A generic handler is one pending request however many methods the listener serves;
the method is then found by one dictionary lookup per service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.model.errors import FieldViolation, ValidationError

SERVICE = pb.DESCRIPTOR.services_by_name["BankingService"]


@dataclass(frozen=True)
class MalformedRequest:
    """Stands in for request bytes that are not a valid `type_name` message."""

    type_name: str

    def error(self) -> ValidationError:
        return ValidationError(
            f"the request is not a valid {self.type_name} message",
            violations=(FieldViolation("request", "not a valid protobuf message of this type"),),
        )


def _lenient(message_type: type[Message]) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Message | MalformedRequest:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return MalformedRequest(message_type.DESCRIPTOR.full_name)

    return deserialize


class Registrar(Protocol):
    def add_generic_rpc_handlers(
            self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None: ...


class GenericOnly:
    """The server as a generated `add_<Service>Servicer_to_server` sees it: its generic
    handler is added, its registered methods are not (see the module docstring)."""

    def __init__(self, server: Registrar) -> None:
        self._server = server

    def add_generic_rpc_handlers(
            self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: Mapping[str, Any]) -> None:
        """Not added: the generic handler serves these methods."""


def register(servicer: Any, server: Registrar, service: ServiceDescriptor = SERVICE,
             messages: ModuleType = pb) -> None:
    """What a generated `add_<Service>Servicer_to_server` does, with `_lenient`; `messages`
    is the generated module holding the service's request and response types."""
    handlers = {}
    for method in service.methods:
        request_type = getattr(messages, method.input_type.name)
        response_type = getattr(messages, method.output_type.name)
        factory = (grpc.unary_stream_rpc_method_handler if method.server_streaming
                   else grpc.unary_unary_rpc_method_handler)
        handlers[method.name] = factory(
            getattr(servicer, method.name),
            request_deserializer=_lenient(request_type),
            response_serializer=response_type.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
