"""Credentials split over several QR codes, decided once, whole.

A format may say a text is one part of a larger credential (``chunk(text) -> (group, index,
count)``) and join a full set (``assemble(texts)``); SMART Health Cards too large for one QR
code were issued so. The assembler holds parts until the set is complete — shown one after
another, or together in one frame — and hands the whole text on. A set left incomplete for
``wait_seconds`` is handed on part by part, so each is refused with its reason and the visitor
is not left waiting in silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from kiosk import formats
from kiosk.formats.base import CredentialFormat


class Recognised(NamedTuple):
    """A text to decide, and the format that recognised it (None: no format does)."""

    text: str
    format: CredentialFormat | None


@dataclass
class _Pending:
    first_seen: float
    format: CredentialFormat
    parts: dict[int, str] = field(default_factory=dict)


class ChunkAssembler:
    def __init__(self, wait_seconds: float = 10.0):
        self.wait_seconds = wait_seconds
        self._pending: dict[str, _Pending] = {}

    def feed(self, text: str, now: float) -> list[Recognised]:
        """What to decide now: ``text`` itself, a whole credential it completes, or nothing.

        The one place a text's format is recognised; the loop hands it on to the verifier."""
        fmt = formats.recognise(text)
        chunk_of = getattr(fmt, "chunk", None)
        info = chunk_of(text) if chunk_of is not None else None
        if info is None:
            return [Recognised(text, fmt)]
        group, index, _count = info
        pending = self._pending.setdefault(group, _Pending(now, fmt))
        pending.parts[index] = text
        whole = fmt.assemble(pending.parts.values())
        if whole is None:
            return []
        del self._pending[group]
        return [Recognised(whole, fmt)]

    def expired(self, now: float) -> list[Recognised]:
        """Parts of sets that stayed incomplete too long, to be decided (and refused) as they are."""
        late = [g for g, p in self._pending.items() if now - p.first_seen > self.wait_seconds]
        texts = []
        for group in late:
            pending = self._pending.pop(group)
            texts.extend(Recognised(text, pending.format) for text in pending.parts.values())
        return texts
