"""Formats: find the plug-in that recognises a QR text and let it verify.

The formats are those of :data:`kiosk.plugins.FORMATS`: the built-in ones, then any another
package adds through the ``kiosk.formats`` entry-point group (each entry point, named by the
format's id, names a format object). The loop only ever calls :func:`recognise` and
:func:`verify`, so adding a format never touches it.
"""

from __future__ import annotations

import logging
from functools import cache

from kiosk.formats.base import MAX_QR_TEXT, CredentialFormat, VerifyContext
from kiosk.model import Credential, Status
from kiosk.plugins import FORMATS

log = logging.getLogger(__name__)

# verify()'s "recognise the text yourself"
RECOGNISE = object()


@cache
def formats() -> tuple[CredentialFormat, ...]:
    """Every installed format, in the order they are tried."""
    found = []
    for name in FORMATS.names():
        try:
            found.append(FORMATS.load(name))
        except ModuleNotFoundError as exc:
            if name in FORMATS.builtin and exc.name == FORMATS.builtin[name].partition(":")[0]:
                log.warning("built-in format %s is not installed", name)
                continue
            log.exception("format %s failed to load", name)
        except Exception:  # a broken plug-in must not stop the gate
            log.exception("format plug-in %s failed to load", name)
    return tuple(found)


def recognise(text: str) -> CredentialFormat | None:
    for fmt in formats():
        if fmt.recognises(text):
            return fmt
    return None


def verify(text: str, context: VerifyContext, fmt: CredentialFormat | None | object = RECOGNISE) -> Credential:
    """Recognise and verify one QR text. Never raises.

    ``fmt``: the format that already recognised ``text`` (None: none did), so that a text is
    recognised once on its way through the loop (:mod:`kiosk.chunks` recognises it first).
    """
    if len(text) > MAX_QR_TEXT:
        return Credential("unknown", Status.MALFORMED, detail="text longer than any QR code")
    if fmt is RECOGNISE:
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
