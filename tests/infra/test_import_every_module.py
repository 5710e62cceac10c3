"""Every module of the product imports on this interpreter (the Python 3.12 CI run relies on it)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import adapter
import core_sim


def _modules() -> list[str]:
    names = []
    for package in (adapter, core_sim):
        names.append(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            # A __main__ runs its program when imported; its module is what it imports.
            if not info.name.endswith(".__main__"):
                names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_whole_product() -> None:
    """The walk reaches into subpackages: the generated gRPC code and every spyne user."""
    for name in ("adapter.frontends.grpc.gen.bank.adapter.v1.banking_pb2",
                 "adapter.frontends.soap.service", "adapter.infra.spyne_asgi",
                 "core_sim.soap_service", "core_sim.server"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name: str) -> None:
    """Importing the module raises nothing."""
    importlib.import_module(name)
