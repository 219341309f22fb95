"""Entries carried by hand: ``kiosk export`` for a venue with no network.

The export file is JSON Lines (format in ``sync/PROTOCOL.md``): a header, one undelivered entry
a line in the upload's wire shape with the identity still sealed (so the USB stick is as safe as
the SD card), and an ``end`` line with the count (a half-copied file is detected).

Exporting marks entries ``exported_at`` but **not** delivered: they stay in the queue. They
count as delivered once the city has them, learnt either way:

1. ``kiosk-city import FILE`` writes a receipt signed with the city's bundle key;
   ``kiosk export --receipt RECEIPT`` verifies it against ``sync.bundle_public_key`` and marks
   exactly the ids listed delivered (:func:`apply_receipt`); or
2. the next online sync sends them again and the city acknowledges them as already present.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiosk.journal import Journal, utc_iso
from sync.bundles import RECEIPT_KIND, verify_bundle
from sync.errors import BundleError
from sync.wire import EXPORT_FORMAT, to_wire


@dataclass(frozen=True)
class ExportResult:
    export_id: str
    path: Path
    entries: int


def write_export(journal: Journal, kiosk_id: str, venue: str, out: str | os.PathLike, *, page: int = 1000,
                 on_page: Callable[[int], None] | None = None) -> ExportResult:
    """Write every undelivered entry (quarantined ones too: the city may take them by hand) to
    ``out``, atomically, and mark them exported. Memory stays flat: rows are streamed a page
    at a time."""
    out = Path(out)
    export_id = str(uuid.uuid4())
    now = utc_iso(dt.datetime.now(dt.timezone.utc))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    count, after, ids = 0, 0, []
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"format": EXPORT_FORMAT, "type": "header", "export_id": export_id,
                             "kiosk_id": kiosk_id, "venue": venue, "created_at": now}) + "\n")
        while True:
            rows = journal.undelivered(page, after)
            if not rows:
                break
            for row in rows:
                fh.write(json.dumps(to_wire(row), ensure_ascii=False, separators=(",", ":")) + "\n")
                ids.append(row["id"])
            count += len(rows)
            after = rows[-1]["seq"]
            if on_page is not None:
                on_page(len(rows))
        fh.write(json.dumps({"type": "end", "count": count}) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, out)
    journal.mark_exported(ids, now)
    return ExportResult(export_id, out, count)


def apply_receipt(journal: Journal, kiosk_id: str, bundle_public_key: str, receipt: str | os.PathLike) -> int:
    """Mark delivered the entries a signed import receipt lists; return how many changed.

    Raises BundleError when the receipt is not signed by the city's key or is for another kiosk.
    """
    raw = Path(receipt).read_bytes()
    bundle = verify_bundle(raw, bundle_public_key, RECEIPT_KIND)
    content = bundle.content
    if not isinstance(content, dict) or not isinstance(content.get("ids"), list):
        raise BundleError("receipt refused: no list of ids")
    if content.get("kiosk_id") != kiosk_id:
        raise BundleError(f"receipt refused: it is for kiosk {content.get('kiosk_id')!r}, this is {kiosk_id!r}")
    ids = [entry_id for entry_id in content["ids"] if isinstance(entry_id, str)]
    return journal.mark_delivered(ids, str(content.get("imported_at") or utc_iso(dt.datetime.now(dt.timezone.utc))))


__all__ = ["write_export", "apply_receipt", "ExportResult", "EXPORT_FORMAT"]
