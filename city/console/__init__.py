"""The city's web console (``/console/``): for contact tracers and the city's admins.

- :mod:`city.console.pages`: the pages (Jinja2 templates in ``templates/``, no JavaScript);
- :mod:`city.console.records`: accounts and the append-only audit log;
- :mod:`city.console.security`: sessions, CSRF tokens, sign-in throttling, headers;
- :mod:`city.console.fleet`: each kiosk's health from its heartbeat;
- :mod:`city.console.messages`: Vietnamese and English;
- :mod:`city.console.vietnamese`: dictionary order and search without diacritics.
"""
