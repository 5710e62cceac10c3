"""The gRPC front-end (`bank.adapter.v1.BankingService`, health, reflection) over mutual TLS.

The contract is protos/bank/adapter/v1/banking.proto; the generated code lives in `gen/`
(see `codegen`). `start_grpc_server` is what the composition root calls.
"""

from adapter.frontends.grpc.server import GrpcServer, start_grpc_server

__all__ = ["GrpcServer", "start_grpc_server"]
