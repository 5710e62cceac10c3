"""Generate the Python code for `protos/` with grpcio-tools (a development tool, not run at
start-up; the generated code is committed and a test fails when it is stale).

    python -m adapter.frontends.grpc.codegen            # rewrite adapter/frontends/grpc/gen

Layout: protoc's `-I<virtual>=<physical>` maps `protos/` to the virtual directory
`adapter/frontends/grpc/gen`, so the generated `_pb2_grpc` module imports its messages as
`adapter.frontends.grpc.gen.bank.adapter.v1.banking_pb2`: a package import, with no top-level
`bank` package and no rewriting of generated files.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PROTOS = REPO / "protos"
VIRTUAL = "adapter/frontends/grpc/gen"
PROTO_FILES = ("bank/adapter/v1/banking.proto", "bank/adapter/v1/customer_admin.proto")
# Every directory on the way down to the generated modules must be a regular package.
PACKAGE_DIRS = ("", "bank", "bank/adapter", "bank/adapter/v1")
INIT_TEXT = '"""Generated from protos/ by adapter.frontends.grpc.codegen; do not edit."""\n'


def generate(out_root: Path, protos: Path = PROTOS) -> list[Path]:
    """Write the generated modules under `out_root / VIRTUAL`; return every file written."""
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    out_root.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{VIRTUAL}={protos}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(f"{VIRTUAL}/{name}" for name in PROTO_FILES),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    gen = out_root / VIRTUAL
    for package in PACKAGE_DIRS:
        init = gen / package / "__init__.py"
        init.parent.mkdir(parents=True, exist_ok=True)
        init.write_text(INIT_TEXT)
    return sorted(p for p in gen.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def main() -> int:
    for path in generate(REPO):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
