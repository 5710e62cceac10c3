"""The committed generated code is exactly what grpcio-tools makes from protos/ today."""

from __future__ import annotations

from pathlib import Path

from adapter.frontends.grpc import codegen


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    """Regenerating into a temporary folder gives byte-identical files, and no file is missing
    or extra (run `python -m adapter.frontends.grpc.codegen` after editing a .proto)."""
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in codegen.generate(tmp_path)}
    committed_root = codegen.REPO / codegen.VIRTUAL
    committed = {
        p.relative_to(codegen.REPO): p.read_bytes()
        for p in committed_root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(map(str, committed)) == sorted(map(str, fresh))
    stale = [str(path) for path, data in fresh.items() if committed[path] != data]
    assert stale == [], f"stale: {stale}; run python -m adapter.frontends.grpc.codegen"


def test_generated_code_imports_as_a_package() -> None:
    """The service module imports its messages through the adapter package, not a top-level
    `bank` package."""
    from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2, banking_pb2_grpc

    assert banking_pb2.DESCRIPTOR.package == "bank.adapter.v1"
    assert banking_pb2_grpc.BankingServiceStub.__module__ == (
        "adapter.frontends.grpc.gen.bank.adapter.v1.banking_pb2_grpc")
    source = Path(banking_pb2_grpc.__file__).read_text()
    assert "from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2" in source
