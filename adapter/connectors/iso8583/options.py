"""The ISO 8583 connector's options: every knob of the link, in one frozen value.

Owns: the names, defaults and limits of the connector's settings (moov-io/iso8583-connection
`options.go`: timeouts, echo, TLS peer name, in one place). The composition root builds it from
`Settings` (`adapter.connectors.factory.iso_options`); tests build it directly. Collaborators
(the TLS context, the reversal store, the read port, callbacks) are not options: they are
passed to the objects that use them.

Invariants:
- Rule 1: an `IsoOptions` that exists is valid: `__post_init__` refuses a terminal id that is
  not the 8 characters of field 41, and any non-positive timeout, interval or count.
- Rule 2: it never changes after construction (frozen); a variant is `dataclasses.replace`.
- Rule 3 (liveness bound): with the link idle, a core that stops answering is reported
  unhealthy at most `echo_interval + liveness_timeout` after the last byte it sent; with
  requests in flight, `liveness_timeout` after it (`liveness`, Rules 2 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapter.connectors.iso8583.spec import TERMINAL_ID_LEN, BitmapEncoding
from adapter.infra.group_commit import LINGER

SYNCHRONOUS_MODES = ("NORMAL", "FULL")


@dataclass(frozen=True, slots=True)
class IsoOptions:
    host: str
    port: int
    # Field 41, card acceptor terminal identification: ans 8 (ISO 8583:1987).
    terminal_id: str = "ADAPTER1"
    # The name the core's certificate must carry; None: `host`.
    server_hostname: str | None = None
    bitmap: BitmapEncoding = BitmapEncoding.ASCII_HEX
    # The client certificate's file stem in the PKI directory.
    client_name: str = "adapter-client"
    connect_timeout: float = 5.0
    # How long a sign-on or echo (0800) waits for its 0810.
    network_timeout: float = 5.0
    # An idle link sends an 0800/301 echo after this long without receiving a byte.
    echo_interval: float = 1.0
    # A link that owes a reply and has received nothing for this long is unhealthy.
    liveness_timeout: float = 2.0
    # Consecutive unanswered echoes after which the connection is dropped and made again.
    max_echo_failures: int = 3
    reversal_timeout: float = 5.0
    reversal_retry: float = 2.0
    # With nothing owed, the reverser still looks at its store this often: a store shared by
    # several processes (PostgreSQL) gains the rows a process that died still owed.
    reversal_scan: float = 5.0
    backoff_initial: float = 0.05
    backoff_max: float = 5.0
    # True: the reversal store writes every 0200 ahead (ARMED) itself. The adapter turns it
    # off: its payment journal is the write-ahead log (`connector`, Rule 1).
    write_ahead: bool = True
    # The reversal store's SQLite durability and commit pacing (`reversals`, Rules 1 and 4).
    synchronous: str = "NORMAL"
    linger: float = LINGER

    def __post_init__(self) -> None:
        if len(self.terminal_id) != TERMINAL_ID_LEN:
            raise ValueError(f"terminal id (field 41) is {TERMINAL_ID_LEN} characters, "
                             f"not {len(self.terminal_id)}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is outside 0..65535")
        for name in ("connect_timeout", "network_timeout", "echo_interval", "liveness_timeout",
                     "reversal_timeout", "reversal_retry", "reversal_scan", "backoff_initial",
                     "backoff_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be greater than 0, not {getattr(self, name)}")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must not be below backoff_initial")
        if self.max_echo_failures < 1:
            raise ValueError("max_echo_failures must be at least 1")
        if self.synchronous not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        if self.linger < 0:
            raise ValueError("linger must not be negative")

    @property
    def peer_name(self) -> str:
        return self.server_hostname or self.host
