"""spyne's process-wide settings are one explicit call; building a bridge changes none of them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bridge_changes_nothing_and_the_call_sets_gc_and_loggers() -> None:
    """In a fresh process: a SpyneAsgi leaves spyne's GC interval and loggers as spyne has them;
    configure_spyne_process() turns spyne's own collections off and quiets its loggers."""
    code = textwrap.dedent("""
        import logging
        import spyne.const
        from spyne import Application, Service, Unicode, rpc
        from spyne.protocol.soap import Soap11
        from adapter.infra.spyne_asgi import SpyneAsgi
        from adapter.infra.spyne_process import configure_spyne_process

        class S(Service):
            @rpc(Unicode, _returns=Unicode)
            def Echo(ctx, text):
                return text

        def state():
            names = ("spyne", "spyne.application.client", "spyne.application.server",
                     "spyne.server._base")
            return spyne.const.MIN_GC_INTERVAL, [logging.getLogger(n).level for n in names]

        before = state()
        SpyneAsgi(Application([S], tns="urn:t", in_protocol=Soap11(), out_protocol=Soap11()))
        print(before == state(), before)
        configure_spyne_process()
        print(state())
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    code = "import adapter.infra.spyne_six\n" + code
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == ["True (1.0, [0, 0, 0, 0])", "(inf, [30, 50, 50, 50])"]
