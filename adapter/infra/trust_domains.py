"""The two trust domains of the project and which certificate names belong to which.

A trust domain is one CA, its CRL and the certificates it signs. The files live side by side in
one PKI folder (`pki/`), named after the CA:

| domain    | CA files                         | CRL               | certificates it signs       |
|-----------|----------------------------------|-------------------|-----------------------------|
| callers   | `ca.crt`, `ca.key`               | `ca.crl`          | `server` (the adapter's     |
|           |                                  |                   | listeners) and every caller |
|           |                                  |                   | (`partner`, `legacy`, ...)  |
| core link | `core-link-ca.crt`, `.key`       | `core-link-ca.crl`| `core` (the core's          |
|           |                                  |                   | listeners), `adapter-client`|
|           |                                  |                   | and `core-operator`         |

Invariants:
- Rule 1: a name belongs to exactly one domain: the names in `CORE_LINK_NAMES` to the core
  link, every other name (including any issued later with `pki issue`) to the callers.
- Rule 2: each side of a hop trusts the CA of the hop's domain only, so nothing a caller holds
  can reach the core, and nothing of the core link is accepted by the adapter's listeners.
- Rule 3: on top of the CA, the core's listeners accept only named identities of their own
  domain (`CORE_SOAP_IDENTITIES`, `CORE_ISO_IDENTITIES`, `CORE_ADMIN_IDENTITIES`): a real
  bank's core admits its one integration partner, not whatever its CA has signed.

The callers' CA keeps the file name `ca.*` that PKI folders from before the split used, so the
certificates of existing callers stay valid through an upgrade.
"""

from __future__ import annotations

from pathlib import Path

CALLERS_CA = "ca"
CORE_LINK_CA = "core-link-ca"

CORE_SERVER = "core"
LINK_CLIENT = "adapter-client"
CORE_OPERATOR = "core-operator"
CORE_LINK_NAMES = frozenset({CORE_SERVER, LINK_CLIENT, CORE_OPERATOR})

# Rule 3: who may use what on the core. The operator changes the fault switches and nothing
# else; the adapter's link certificate books money and never touches the switches.
CORE_SOAP_IDENTITIES = frozenset({LINK_CLIENT})
CORE_ISO_IDENTITIES = frozenset({LINK_CLIENT})
CORE_ADMIN_IDENTITIES = frozenset({CORE_OPERATOR})


def domain_of(name: str) -> str:
    """The CA name (file stem) of the domain `name` belongs to (Rule 1)."""
    return CORE_LINK_CA if name in CORE_LINK_NAMES else CALLERS_CA


def ca_file(pki_dir: Path, domain: str) -> Path:
    return pki_dir / f"{domain}.crt"


def crl_file(pki_dir: Path, domain: str) -> Path:
    return pki_dir / f"{domain}.crl"
