"""deploy/Containerfile builds an image that runs `bank-adapter up` and answers /healthz.

No container engine daemon runs on the project's machines and no image registry is reachable,
so the test builds the way a bank's isolated build host would: a Debian base made with
debootstrap (cached between runs), the project and its dependencies as a wheelhouse, and
buildah (vfs storage, chroot isolation) for the image. It takes several minutes, so it runs
only when asked: BANK_ADAPTER_TEST_CONTAINER=1 with `buildah` and `debootstrap` installed
(apt-get install -y buildah debootstrap).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter.infra import tls
from adapter.infra.tls import TlsFiles

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("BANK_ADAPTER_CONTAINER_CACHE", Path.home() / ".cache/bank-adapter"))
BASE_IMAGE = "localhost/bank-adapter-base:bookworm"
IMAGE = "localhost/bank-adapter:test"
BUILDAH = ["buildah", "--storage-driver", "vfs"]

pytestmark = pytest.mark.skipif(
    os.environ.get("BANK_ADAPTER_TEST_CONTAINER") != "1"
    or not shutil.which("buildah") or not shutil.which("debootstrap"),
    reason="container build test: set BANK_ADAPTER_TEST_CONTAINER=1 and install buildah and "
           "debootstrap (apt-get install -y buildah debootstrap)",
)


def run(cmd: list[str], **kwargs: object) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{cmd[:4]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return str(done.stdout)


def base_image() -> None:
    """A Debian bookworm base with python3 and venv, made once with debootstrap."""
    if subprocess.run([*BUILDAH, "inspect", BASE_IMAGE], capture_output=True).returncode == 0:
        return
    rootfs = CACHE / "rootfs-bookworm"
    if not (rootfs / "usr/bin/python3").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv",
             "bookworm", str(rootfs), "http://deb.debian.org/debian"], timeout=1800)
    ctr = run([*BUILDAH, "from", "scratch"]).strip()
    try:
        run([*BUILDAH, "copy", ctr, str(rootfs), "/"])
        run([*BUILDAH, "commit", "-q", ctr, BASE_IMAGE])
    finally:
        run([*BUILDAH, "rm", ctr])


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    base_image()
    context = tmp_path_factory.mktemp("context")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir",
         str(context / "wheelhouse"), str(ROOT)], timeout=1800)
    run([*BUILDAH, "bud", "--isolation", "chroot", "-f", str(ROOT / "deploy/Containerfile"),
         "--build-arg", f"BASE={BASE_IMAGE}", "-t", IMAGE, str(context)], timeout=1800)
    return IMAGE


@pytest.fixture
def running(image: str, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 10001, 10001)
    ctr = run([*BUILDAH, "from", image]).strip()
    log = tmp_path / "up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*BUILDAH, "run", "--isolation", "chroot", "-v", f"{state}:/var/lib/bank-adapter",
             ctr, "--", "/opt/bank-adapter/bin/bank-adapter", "up", "--http-port", "0",
             "--grpc-port", "0", "--core-soap-port", "0", "--core-iso-port", "0"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "bank-adapter is up" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        port = int(re.search(r"HTTPS listening on https://[^:]+:(\d+)", log.read_text())[1])  # type: ignore[index]
        yield state, port
    finally:
        # The whole session: buildah does not pass SIGTERM on to `up` inside the container,
        # and `up` stops its core_sim child itself once it gets one.
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        run([*BUILDAH, "rm", ctr])


def test_image_serves_healthz_over_mutual_tls(running: tuple[Path, int]) -> None:
    """The image's `up` makes its state in the mounted volume, as the image's own unprivileged
    user, and answers /healthz to the demo partner's certificate."""
    state, port = running
    files = TlsFiles.from_dir(state / "pki", "partner")
    with httpx.Client(verify=tls.client_context(files, state / "pki/ca.crt")) as c:
        r = c.get(f"https://localhost:{port}/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert (state / "adapter.db").stat().st_uid == 10001
