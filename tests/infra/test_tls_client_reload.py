"""`ReloadableClientContext` (tls Rule 5): a new context only when the files changed, and
the current one kept when they do not load."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest

from adapter.infra.tls import ReloadableClientContext, TlsFiles
from adapter.security import pki


def test_unchanged_files_keep_the_context_and_changed_ones_replace_it(tmp_path: Path) -> None:
    """A reload of the same files keeps the very context (warm connections stay pooled); a
    re-issued certificate and key build a new one, generation 1."""
    pki.init(tmp_path)
    link = ReloadableClientContext(TlsFiles.from_dir(tmp_path, "adapter-client"))
    first = link.current
    assert (link.reload(), link.current is first, link.generation) == (False, True, 0)
    pki.revoke(tmp_path, "adapter-client")
    pki.issue(tmp_path, "adapter-client")
    assert (link.reload(), link.current is first, link.generation) == (True, False, 1)
    assert link.paths() == (tmp_path / "adapter-client.crt", tmp_path / "adapter-client.key",
                            tmp_path / "core-link-ca.crt")


def test_a_key_that_does_not_match_keeps_the_current_context(tmp_path: Path) -> None:
    """The key of another certificate: the reload raises and `current` stays; once the pair
    matches again (here: the right key back), the next reload builds a context."""
    pki.init(tmp_path)
    link = ReloadableClientContext(TlsFiles.from_dir(tmp_path, "adapter-client"))
    first = link.current
    own_key = (tmp_path / "adapter-client.key").read_bytes()
    shutil.copyfile(tmp_path / "core-operator.key", tmp_path / "adapter-client.key")
    with pytest.raises(ssl.SSLError):
        link.reload()
    assert (link.current is first, link.generation) == (True, 0)
    (tmp_path / "adapter-client.key").write_bytes(own_key)
    assert link.reload() is False  # the files are what the current context was made of
    assert link.current is first
