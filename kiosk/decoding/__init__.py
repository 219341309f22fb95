"""Helpers of the QR decoding pipeline in :mod:`kiosk.decode` (finder search, rectification)."""
