"""Shared fixtures: one development PKI per test session (and a foreign one for refusals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.security import pki
from tests.harness.core import core_sim  # noqa: F401


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's dev PKI: CA, server, core, adapter-client, partner, legacy, internal."""
    path = tmp_path_factory.mktemp("pki")
    pki.init(path)
    pki.issue(path, "stranger")  # signed by our CA, never registered in a clients file
    return path


@pytest.fixture(scope="session")
def foreign_pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, unrelated CA and its certificates: everything it signs must be refused."""
    path = tmp_path_factory.mktemp("foreign-pki")
    pki.init(path)
    return path
