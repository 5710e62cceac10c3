"""spyne's vendored `six`, served from the maintained `six` package on Python 3.12 and newer.

spyne 2.14.0, its last release, ships `spyne/util/six.py`, a copy of six 1.14 whose importer for
`six.moves` implements only `find_module`/`load_module`. Python 3.12 dropped that fallback from
the import system (PEP 451: a meta-path finder must have `find_spec`), so `import spyne` fails
with `ModuleNotFoundError: No module named 'spyne.util.six.moves'` (arskom/spyne#700, fixed on
spyne's main branch, not released).

Owns: one meta-path finder, for the one name `spyne.util.six`. Importing this module installs
it; every module of the project that imports spyne imports this module first (`import
adapter.infra.spyne_six`, kept first by ruff's isort section "spyne-shim"; a test reads every
source file to check it).

Invariants:
- Rule 1: the finder is installed before spyne is first imported. Installing it after spyne's own
  copy has been imported raises `RuntimeError` rather than leave half of spyne on each copy.
- Rule 2: `spyne.util.six` is the maintained six's source file executed under spyne's name,
  which is exactly what spyne's vendoring is, with six's current code: its `moves` (and
  `moves.*`) are served by that copy's own PEP 451 importer, registered as `spyne.util.six`.
  The `six` module itself (if imported) is a different module and is not changed.
- Rule 3: the copy also has the one helper spyne added to its own: `get_function_name`, which
  is `operator.attrgetter("__name__")` on Python 3 (spyne/util/six.py, `_func_name`).
- Rule 4: on Python 3.11, where spyne's copy works, nothing is installed unless forced (tests).
- Rule 5: installing twice leaves one finder.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import operator
import sys
import types
from collections.abc import Sequence

NAME = "spyne.util.six"
NEEDED_FROM = (3, 12)


class _SixCopyLoader(importlib.machinery.SourceFileLoader):
    """Runs six.py as `spyne.util.six`, then adds spyne's helper (Rules 2 and 3)."""

    def exec_module(self, module: types.ModuleType) -> None:
        super().exec_module(module)
        module.get_function_name = operator.attrgetter("__name__")  # type: ignore[attr-defined]


class SpyneSixFinder(importlib.abc.MetaPathFinder):
    """Answers for `spyne.util.six` only; everything below it is six's own importer's."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != NAME:
            return None
        six_spec = importlib.util.find_spec("six")
        if six_spec is None or six_spec.origin is None:
            raise ImportError(f"spyne needs the `six` package on Python "
                              f"{NEEDED_FROM[0]}.{NEEDED_FROM[1]}+: pip install six", name=NAME)
        # six.py is a package as far as the import system knows (it sets __path__ = [] itself,
        # for its moves); the spec says so as well.
        return importlib.util.spec_from_file_location(
            NAME, six_spec.origin, loader=_SixCopyLoader(NAME, six_spec.origin),
            submodule_search_locations=[])


def install(*, force: bool = False) -> bool:
    """Put the finder first on `sys.meta_path` where it is needed (or when forced); True if
    it is installed after the call."""
    if any(isinstance(f, SpyneSixFinder) for f in sys.meta_path):
        return True  # Rule 5
    if sys.version_info < NEEDED_FROM and not force:
        return False  # Rule 4
    if NAME in sys.modules:
        raise RuntimeError(  # Rule 1
            f"{NAME} was imported before adapter.infra.spyne_six: import adapter.infra.spyne_six"
            " before anything that imports spyne")
    # First, ahead of the path finder, which would find spyne's own spyne/util/six.py.
    sys.meta_path.insert(0, SpyneSixFinder())
    return True


install()
