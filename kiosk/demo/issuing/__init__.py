"""Test and demo issuers: sign credentials of every format with the kiosk's own test keys."""
