"""Format registry: find the plug-in that recognises a QR text and let it verify.

Built-in formats are listed in ``BUILTIN``; more can be added by other packages through the
``kiosk.formats`` entry-point group (each entry point names a format object). The loop only ever
calls :func:`verify`, so adding a format never touches it.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache

from kiosk.formats.base import MAX_QR_TEXT, CredentialFormat, VerifyContext
from kiosk.model import Credential, Status

log = logging.getLogger(__name__)

# module:attribute of each built-in format, in the order they are tried
BUILTIN = (
    "kiosk.formats.eu_dcc:FORMAT",
    "kiosk.formats.shc:FORMAT",
    "kiosk.formats.pc_covid:FORMAT",
    "kiosk.formats.cccd:FORMAT",
)


def _load(spec: str) -> CredentialFormat:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


@cache
def formats() -> tuple[CredentialFormat, ...]:
    found = []
    for spec in BUILTIN:
        try:
            found.append(_load(spec))
        except ModuleNotFoundError as exc:
            if exc.name != spec.partition(":")[0]:
                raise
            log.warning("built-in format %s is not installed", spec)
    from importlib.metadata import entry_points

    for ep in entry_points(group="kiosk.formats"):
        try:
            found.append(ep.load())
        except Exception:  # a broken plug-in must not stop the gate
            log.exception("format plug-in %s failed to load", ep.name)
    return tuple(found)


def recognise(text: str) -> CredentialFormat | None:
    for fmt in formats():
        if fmt.recognises(text):
            return fmt
    return None


def verify(text: str, context: VerifyContext) -> Credential:
    """Recognise and verify one QR text. Never raises."""
    if len(text) > MAX_QR_TEXT:
        return Credential("unknown", Status.MALFORMED, detail="text longer than any QR code")
    fmt = recognise(text)
    if fmt is None:
        return Credential("unknown", Status.UNSUPPORTED, detail="no format recognises this text")
    try:
        return fmt.verify(text, context)
    except Exception as exc:  # a plug-in bug is a refused code, not a dead gate
        log.error("format %s raised %s while verifying; treated as malformed", fmt.id, type(exc).__name__)
        return Credential(fmt.id, Status.MALFORMED, detail=f"internal error: {type(exc).__name__}")


def prepare() -> None:
    """Let each format load now what its first verification would load (a format may have a
    ``prepare()``; EU DCCs compile their schemas), so that the first visitor after a start waits
    no longer than the others. Never raises: a format that fails here fails when verifying."""
    for fmt in formats():
        try:
            getattr(fmt, "prepare", lambda: None)()
        except Exception as exc:
            log.error("format %s could not prepare: %s", fmt.id, type(exc).__name__)
