"""Store-and-forward sync between a kiosk and the city server.

The kiosk records every decision in its journal first (``kiosk.journal``); this package moves the
records on, separately from the gate loop, so the network can never stall the gate:

- :mod:`sync.seal` seals a visitor's identity to the city's public key (libsodium sealed boxes)
  before it touches the kiosk's disk; only the city can open it.
- :mod:`sync.trust` reads what the city's trust-list and revocations bundles (and the kiosk's own
  trust files) hold: document signing certificates and revocation hashes, into a trust store.
- :mod:`sync.bundles` checks the city's signed bundles (trust list, revocation list, rules) and
  keeps the last good copy of each in the state folder.
- :mod:`sync.client` is the uploader behind ``kiosk sync``: batches, acknowledgements, backoff,
  quarantine of refused entries, bundle fetches and heartbeats.
- :mod:`sync.retention` purges delivered entries after the retention period and watches the disk.
- the reference city server behind ``kiosk-city`` is its own package, :mod:`city`, which speaks this protocol.

The wire protocol is documented in ``sync/PROTOCOL.md``. Errors (:mod:`sync.errors`), all rooted
in :class:`sync.errors.ProtocolError`, which the kiosk reuses as ``kiosk.errors.KioskError``::

    ProtocolError                                    (kiosk.errors.KioskError)
    ├── ConfigError(ProtocolError, ValueError)       a key or setting cannot be used
    ├── SyncError(ProtocolError, ConnectionError)
    │   ├── TransientError                           network down, 5xx, 408, 429, timeouts: retry later
    │   ├── AuthError                                401/403: the token is wrong or revoked
    │   └── BatchRefused                             4xx for a batch: quarantine, never retry as is
    └── TrustError(ProtocolError, ValueError)
        └── BundleError                              unsigned, tampered, wrong key, rolled back
"""

PROTOCOL_VERSION = 1
