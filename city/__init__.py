"""The reference city server: ``kiosk-city`` (FastAPI + uvicorn; SQLite in the data folder, or PostgreSQL).

It speaks the protocol of :mod:`sync` and imports nothing from ``kiosk/``.

- :mod:`city.store`: keys, kiosks, idempotent ingest, retention, bundles, imports;
- :mod:`city.storage`: the storage engines behind one interface (SQLite, PostgreSQL) and the
  versioned migrations (another module adds its tables with ``city.storage.migrations.register``);
- :mod:`city.blind`: the blind index (keyed hashes of normalised identifiers) a trace searches;
- :mod:`city.app`: the HTTP API of ``sync/PROTOCOL.md``;
- :mod:`city.enroll`: tokens and ready-made kiosk configs;
- :mod:`city.embedded`: the server in a background thread (demo, tests, benchmarks);
- :mod:`city.trace`: who was where, when;
- :mod:`city.imports`: entries carried by hand, and signed import receipts;
- :mod:`city.cli`: the ``kiosk-city`` command line.
"""
