"""Shared fixtures: one development PKI per test session (and a foreign one for refusals)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from adapter.security import pki
from tests.harness.core import core_sim  # noqa: F401

# Property tests (tests/fuzz and elsewhere): a fixed, bounded run by default and in CI, so a
# failure reproduces; `--fuzz` runs many more random examples for people who want more.
settings.register_profile("ci", derandomize=True, max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=3000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz", action="store_true",
                     help="run the property tests with 3000 random examples each")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fuzz"):
        settings.load_profile("fuzz")


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
