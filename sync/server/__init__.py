"""The reference city server: ``kiosk-city`` (FastAPI + uvicorn, SQLite in the data folder).

- :mod:`sync.server.store`: keys, kiosks, idempotent ingest, bundles, imports;
- :mod:`sync.server.app`: the HTTP API of ``sync/PROTOCOL.md``;
- :mod:`sync.server.enroll`: tokens and ready-made kiosk configs;
- :mod:`sync.server.embedded`: the server in a background thread (demo, tests, benchmarks);
- :mod:`sync.server.trace`: who was where, when;
- :mod:`sync.server.imports`: entries carried by hand, and signed import receipts;
- :mod:`sync.server.cli`: the ``kiosk-city`` command line.
"""
