"""The demo kit: generated visitors, the simulation that runs them through the real loop, and test
issuers of health certificates. Used by ``kiosk demo``/``simulate``, the tests and the benchmarks;
the visitor's path in ``kiosk/`` never imports it."""
