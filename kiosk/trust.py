"""Whom to trust: document signing certificates (EU DCC), SMART Health Card issuers, revocations.

Filled from the config's trust files, ``kiosk verify --trust-list/--dsc/--shc-issuer``, or a
verified city bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrustStore:
    # EU DCC: key id (8 bytes) -> list of DSCs (a key id may collide across countries)
    dscs: dict[bytes, list] = field(default_factory=dict)
    # SMART Health Cards: issuer URL (iss) -> issuer keys / revocations
    shc_issuers: dict[str, object] = field(default_factory=dict)
    # EU DCC revocation hashes (first 16 bytes of SHA-256), by kind
    dcc_revoked: set[bytes] = field(default_factory=set)
