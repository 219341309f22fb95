"""QR gate kiosk: decode, verify, decide, record, act, sync."""

__version__ = "0.1.0"
