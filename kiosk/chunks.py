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

from kiosk import formats


@dataclass
class _Pending:
    first_seen: float
    parts: dict[int, str] = field(default_factory=dict)


class ChunkAssembler:
    def __init__(self, wait_seconds: float = 10.0):
        self.wait_seconds = wait_seconds
        self._pending: dict[str, _Pending] = {}

    def feed(self, text: str, now: float) -> list[str]:
        """The texts to decide now: ``text`` itself, a whole credential it completes, or none."""
        fmt = formats.recognise(text)
        chunk_of = getattr(fmt, "chunk", None)
        info = chunk_of(text) if chunk_of is not None else None
        if info is None:
            return [text]
        group, index, _count = info
        pending = self._pending.setdefault(group, _Pending(now))
        pending.parts[index] = text
        whole = fmt.assemble(pending.parts.values())
        if whole is None:
            return []
        del self._pending[group]
        return [whole]

    def expired(self, now: float) -> list[str]:
        """Parts of sets that stayed incomplete too long, to be decided (and refused) as they are."""
        late = [g for g, p in self._pending.items() if now - p.first_seen > self.wait_seconds]
        texts = []
        for group in late:
            texts.extend(self._pending.pop(group).parts.values())
        return texts
