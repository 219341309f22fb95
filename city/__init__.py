"""The reference city server: ``kiosk-city`` (FastAPI + uvicorn, SQLite in the data folder).

- :mod:`city.store`: keys, kiosks, idempotent ingest, bundles, imports;
- :mod:`city.app`: the HTTP API of ``sync/PROTOCOL.md``;
- :mod:`city.enroll`: tokens and ready-made kiosk configs;
- :mod:`city.embedded`: the server in a background thread (demo, tests, benchmarks);
- :mod:`city.trace`: who was where, when;
- :mod:`city.imports`: entries carried by hand, and signed import receipts;
- :mod:`city.cli`: the ``kiosk-city`` command line.
"""
