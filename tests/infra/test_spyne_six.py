"""spyne's vendored six served from the maintained six (adapter.infra.spyne_six): every spyne
import of the project goes through it, and spyne works on the copy it serves."""

from __future__ import annotations

import adapter.infra.spyne_six as shim

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIM = "adapter.infra.spyne_six"


def _run(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh interpreter (import state is per process), from the project root."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _spyne_imports(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            lines += [node.lineno for a in node.names if a.name.split(".")[0] == "spyne"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "spyne":
            lines.append(node.lineno)
    return lines


def _shim_import_line(tree: ast.Module) -> int | None:
    for node in tree.body:  # module level only: it must run before any function does
        if isinstance(node, ast.Import) and any(a.name == SHIM for a in node.names):
            return node.lineno
    return None


def test_every_module_that_imports_spyne_imports_the_shim_first() -> None:
    """In adapter, core_sim, bench and tests, a module importing spyne (at any depth) imports
    adapter.infra.spyne_six at module level, above its first spyne import."""
    checked, offenders = [], []
    for folder in ("adapter", "core_sim", "bench", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            spyne_lines = _spyne_imports(tree)
            if not spyne_lines:
                continue
            checked.append(path.relative_to(ROOT).as_posix())
            shim_line = _shim_import_line(tree)
            if shim_line is None or shim_line > min(spyne_lines):
                offenders.append(path.relative_to(ROOT).as_posix())
    assert offenders == []
    assert {"adapter/frontends/soap/types.py", "adapter/infra/spyne_asgi.py",
            "core_sim/soap_service.py", "bench/servers.py"} <= set(checked)


def test_needed_only_from_python_3_12() -> None:
    """Installed on 3.12+ (spyne's copy cannot import there), not on 3.11; once at most."""
    finders = [f for f in sys.meta_path if isinstance(f, shim.SpyneSixFinder)]
    assert len(finders) == (1 if sys.version_info >= (3, 12) else 0)
    assert shim.install() is (sys.version_info >= (3, 12))


def test_forced_shim_serves_spyne_from_the_maintained_six() -> None:
    """With the finder forced (on 3.11 too), spyne runs on six's own file: the helper spyne added
    is there, moves resolve, six itself is untouched, both committed WSDLs come out byte for byte
    and a SOAP call goes through the ASGI bridge."""
    result = _run("""
        import adapter.infra.spyne_six as shim
        assert shim.install(force=True) and shim.install(force=True)
        import asyncio, collections.abc, importlib.util, sys
        from pathlib import Path
        import spyne.util.six as copy
        assert copy.__file__ == importlib.util.find_spec("six").origin, copy.__file__
        assert copy.get_function_name(len) == "len"
        assert sys.modules["spyne.util.six.moves.collections_abc"] is collections.abc
        import six
        assert six is not copy and not hasattr(six, "get_function_name")
        assert sum(isinstance(f, shim.SpyneSixFinder) for f in sys.meta_path) == 1
        from adapter.frontends.soap import service_wsdl as adapter_wsdl
        from core_sim.soap_service import service_wsdl as core_wsdl
        assert adapter_wsdl() == Path("wsdl/bank_adapter.wsdl").read_bytes()
        assert core_wsdl() == Path("wsdl/core_sim.wsdl").read_bytes()
        from bench.servers import SOAP_ECHO_TNS, soap_echo_app
        body = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:e="'
                + SOAP_ECHO_TNS + '"><s:Body><e:Echo><e:Text>hello</e:Text></e:Echo></s:Body>'
                '</s:Envelope>').encode()
        sent = []
        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}
        async def send(message):
            sent.append(message)
        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
                 "headers": [(b"content-type", b"text/xml")]}
        asyncio.run(soap_echo_app()(scope, receive, send))
        print(sent[0]["status"], sent[1]["body"].count(b">hello</"))
    """)
    assert (result.returncode, result.stdout, result.stderr) == (0, "200 1\n", "")


def test_installing_after_spyne_is_refused() -> None:
    """If spyne's own copy was imported first, installing is an error, not half a fix."""
    result = _run("""
        import sys, types
        sys.modules["spyne.util.six"] = types.ModuleType("spyne.util.six")  # spyne came first
        try:
            import adapter.infra.spyne_six as shim  # on 3.12+ this installs, and refuses
            shim.install(force=True)  # on 3.11 forcing it refuses
        except RuntimeError as exc:
            print(exc)
    """)
    assert (result.returncode, result.stdout) == (0, (
        "spyne.util.six was imported before adapter.infra.spyne_six: import "
        "adapter.infra.spyne_six before anything that imports spyne\n"))
