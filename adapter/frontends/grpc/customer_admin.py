"""The `bank.adapter.v1.CustomerAdminService` servicer: the bank's internal services
administer mobile-app customers (protos/bank/adapter/v1/customer_admin.proto).

Each RPC is a translation only, entered through the one call pipeline with the gRPC edge's
table (servicer.grpc_call / grpc_edge), so the correlation id, the control-character check,
the deadline and every later pipeline step apply as on BankingService.

Invariants:
- Rule 1: the caller needs the `customer_admin` operation (clients file); without it the
  answer is PERMISSION_DENIED before the customer store is read, so a refused caller learns
  nothing, not even whether the username exists.
- Rule 2: every change goes through CustomerService, the same use case the CLI and the app
  call, so it writes the same audit event (and, for a device removal or an OTP reset, the
  same alert) with `by` = "grpc:<caller id>".
- Rule 3: an unknown username is NOT_FOUND on every RPC, in one shape (ErrorInfo reason
  NOT_FOUND); another customer's device is NOT_FOUND as an unknown device is.
- Rule 4: the otpauth:// URI of ResetOtp is in the answer only: never in a log line.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from adapter.frontends.grpc.convert import timestamp
from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2_grpc as pb_grpc
from adapter.frontends.grpc.servicer import grpc_call
from adapter.services.banking import BankingServices
from adapter.services.clients import Operation
from adapter.services.context import RequestContext
from adapter.services.customers.service import CustomerService
from adapter.services.pipeline import Edge

SERVICE = pb.DESCRIPTOR.services_by_name["CustomerAdminService"]

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[["CustomerAdminServicer", Req, RequestContext], Awaitable[Resp]]


def _admin(fn: Handler[Req, Resp]) -> Callable[..., Awaitable[Resp]]:
    """Run the RPC through the pipeline, for a caller granted `customer_admin` (Rule 1)."""
    @functools.wraps(fn)
    async def handler(self: CustomerAdminServicer, request: Req,
                      context: grpc.aio.ServicerContext) -> Resp:
        call = grpc_call(self.edge, fn.__name__, request, context)

        async def admitted(ctx: RequestContext) -> Resp:
            ctx.caller.require(Operation.CUSTOMER_ADMIN)
            return await fn(self, request, ctx)

        result: Resp = await self._services.pipeline.run(call, admitted)
        return result

    return handler


def _by(ctx: RequestContext) -> str:
    return f"grpc:{ctx.caller.id}"


class CustomerAdminServicer(pb_grpc.CustomerAdminServiceServicer):
    def __init__(self, services: BankingServices, customers: CustomerService,
                 edge: Edge) -> None:
        self._services = services
        self._customers = customers
        self.edge = edge

    @_admin
    async def UnlockCustomer(self, request: pb.UnlockCustomerRequest,
                             ctx: RequestContext) -> pb.UnlockCustomerResponse:
        was_locked = await self._customers.unlock(request.username, by=_by(ctx))
        return pb.UnlockCustomerResponse(was_locked=was_locked)

    @_admin
    async def ListDevices(self, request: pb.ListDevicesRequest,
                          ctx: RequestContext) -> pb.ListDevicesResponse:
        devices = await self._customers.devices_of(request.username)
        out = []
        for d in devices:
            device = pb.Device(device_id=d.credential_id, name=d.name,
                               created_at=timestamp(d.created_at))
            if d.revoked_at is not None:
                device.revoked_at.CopyFrom(timestamp(d.revoked_at))
            out.append(device)
        return pb.ListDevicesResponse(devices=out)

    @_admin
    async def RevokeDevice(self, request: pb.RevokeDeviceRequest,
                           ctx: RequestContext) -> pb.RevokeDeviceResponse:
        customer = await self._customers.customer(request.username)
        revoked = await self._customers.revoke_device(customer.customer_id, request.device_id,
                                                      by=_by(ctx))
        return pb.RevokeDeviceResponse(revoked=revoked)

    @_admin
    async def ResetOtp(self, request: pb.ResetOtpRequest,
                       ctx: RequestContext) -> pb.ResetOtpResponse:
        _, uri = await self._customers.reset_otp(request.username, by=_by(ctx))
        return pb.ResetOtpResponse(otpauth_uri=uri)


__all__ = ["SERVICE", "CustomerAdminServicer"]
