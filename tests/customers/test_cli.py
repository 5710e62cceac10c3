"""`bank-adapter customers add|list|unlock|reset-otp` on a state folder's customer store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapter.cli import main
from adapter.config import Settings
from adapter.customer_root import build_customer_service
from adapter.ports.customers import LockState


def test_add_list_unlock_reset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    (state / "pki").mkdir(parents=True)
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n")
    args = ["customers", "--state-dir", str(state)]
    assert main([*args, "add", "Carol", "--accounts", "10000003",
                 "--password-file", str(pw)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("added carol owning 10000003\nTOTP: otpauth://totp/bank-adapter:carol?")
    assert "password" not in out  # given in a file: never printed
    assert main([*args, "add", "carol", "--accounts", "10000003"]) == 1
    assert "exists already" in capsys.readouterr().err

    async def lock() -> None:
        service = build_customer_service(Settings(state_dir=state))
        await service.store.save_lock("carol", LockState(lock_count=3, permanent=True))
        await service.store.aclose()
    asyncio.run(lock())
    assert main([*args, "list"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split() == ["carol", "10000003", "0",
                                                               "permanent"]
    assert main([*args, "unlock", "carol"]) == 0
    assert main([*args, "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split() == ["carol", "10000003", "0", "-"]
    assert main([*args, "reset-otp", "carol"]) == 0
    assert "new TOTP for carol: otpauth://totp/" in capsys.readouterr().out
    assert main([*args, "unlock", "nobody"]) == 1
    assert "no customer 'nobody'" in capsys.readouterr().err


def test_set_password_alerts_and_is_never_printed_from_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`customers set-password` stores a new hash, writes the password_changed alert with
    by=cli, prints a generated password once and never one read from a file."""
    state = tmp_path / "state"
    (state / "pki").mkdir(parents=True)
    pw = tmp_path / "pw"
    pw.write_text("another long password\n")
    args = ["customers", "--state-dir", str(state)]
    assert main([*args, "add", "dora", "--accounts", "10000003"]) == 0
    capsys.readouterr()
    assert main([*args, "set-password", "dora", "--password-file", str(pw)]) == 0
    out = capsys.readouterr().out
    assert out == "new password for dora; every session of it ended\n"
    assert main([*args, "set-password", "dora"]) == 0
    generated = capsys.readouterr().out.splitlines()[1].removeprefix("password: ")
    assert len(generated) >= 20
    pw.write_text("short\n")
    assert main([*args, "set-password", "dora", "--password-file", str(pw)]) == 1
    assert "password must be a string of 10 to 256" in capsys.readouterr().err

    async def check() -> tuple[list[tuple[str, dict[str, object]]], bool]:
        service = build_customer_service(Settings(state_dir=state))
        try:
            alerts = [(a.kind, a.detail) for a in await service.store.alerts_since(0, 100)]
            record = await service.customer("dora")
            ok, _ = await service.passwords.verify(record.password_hash, generated)
            return alerts, ok
        finally:
            await service.store.aclose()
            service.passwords.close()
    alerts, ok = asyncio.run(check())
    assert alerts == [("password_changed", {"by": "cli"})] * 2
    assert ok
