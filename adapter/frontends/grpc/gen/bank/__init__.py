"""Generated from protos/ by adapter.frontends.grpc.codegen; do not edit."""
