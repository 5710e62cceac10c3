"""Fixtures for the gRPC front-end tests (see `support` for the harness and helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.grpc.support import Env, grpc_env


@pytest.fixture(scope="module")
def env(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A core_sim with the demo ledger and an adapter in front of it, shared by one module."""
    with grpc_env(tmp_path_factory.mktemp("grpc"), pki_dir) as shared:
        yield shared
