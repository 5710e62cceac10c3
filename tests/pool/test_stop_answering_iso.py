"""The ISO 8583 host's `stop_answering` switch: nothing applied, nothing answered, 0800s too."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter.model.errors import CoreUnavailable
from adapter.ports.core import CoreOutcomeUnknown
from tests.iso8583.support import iso_env, run, transfer


def test_silent_iso_host_books_nothing_and_fails_echoes(pki_dir: Path, tmp_path: Path):
    """While silent: a 0200 times out unanswered and books nothing, the echo fails, and the
    next posting is refused before it is sent (the link is unhealthy); switched back on, the
    echo passes again."""

    async def main() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector(network_timeout=0.3)
            before = env.balance("10000001")
            env.faults.update(stop_answering=True)
            with pytest.raises(CoreOutcomeUnknown):
                await conn.post(transfer("SILENT000001"), timeout=0.3)
            assert await conn.echo() is False
            with pytest.raises(CoreUnavailable):
                await conn.post(transfer("SILENT000002"), timeout=0.3)
            assert env.ledger.transfer_status("SILENT000001") is None
            assert env.ledger.transfer_status("SILENT000002") is None
            assert env.balance("10000001") == before
            env.faults.update(stop_answering=False)
            assert await conn.echo() is True

    run(main())
