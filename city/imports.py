"""``kiosk-city import``: entries carried by hand from a kiosk with no network.

The export file (written by ``kiosk export``, format in ``sync/PROTOCOL.md``) is JSON Lines: a
header naming the kiosk and the export, one entry per line in the upload's wire shape (identity
still sealed), and an ``end`` line with the count. Entries go through the same validation and
idempotent ingest as an upload, so importing a file twice, or importing entries the kiosk later
also uploads, stores each entry once.

The result is an *import receipt*: the ids now held by the city, signed with the bundle key.
``kiosk export --receipt FILE`` on the kiosk checks the signature against
``sync.bundle_public_key`` and marks exactly those entries delivered. (A kiosk that later gets a
network connection needs no receipt: its upload of the same entries is acknowledged as
already present.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from city.store import CityStore, InvalidBatch, Refusal, now_iso
from sync.wire import EXPORT_FORMAT

CHUNK = 1000


class ExportFileError(ValueError):
    """The file is not a kiosk export, or names a kiosk this city has not enrolled."""


@dataclass
class ImportResult:
    export_id: str
    kiosk_id: str
    entries: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: list[Refusal] = field(default_factory=list)
    truncated: bool = False
    acked: list[str] = field(default_factory=list)


def _ingest_chunk(store: CityStore, chunk: list, kiosk_id: str, via: str, result: ImportResult, offset: int) -> None:
    try:
        outcome = store.ingest(chunk, kiosk_id, via=via)
    except InvalidBatch as exc:
        bad = {r.index for r in exc.refused}
        result.refused.extend(Refusal(offset + r.index, r.id, r.problem) for r in exc.refused)
        rest = [entry for index, entry in enumerate(chunk) if index not in bad]
        if not rest:
            return
        outcome = store.ingest(rest, kiosk_id, via=via)  # the rest was valid: it cannot fail again
    result.stored += outcome.stored
    result.duplicates += outcome.duplicates
    result.acked.extend(outcome.acked)


def import_file(store: CityStore, path: str | os.PathLike, *, allow_unknown_kiosk: bool = False,
                on_bytes: Callable[[int], None] | None = None) -> ImportResult:
    """Store the entries of an export file; entries that fail validation are listed, not stored.

    A file cut short (a half-copied USB stick) is imported up to its last complete line and
    reported as ``truncated``; the receipt covers only what was stored. ``on_bytes`` is told how
    many bytes of the file each stored chunk took (a progress bar).
    """
    with open(path, "rb") as fh:
        first = fh.readline()
        try:
            header = json.loads(first)
        except ValueError:
            raise ExportFileError(f"{path}: not a kiosk export (the first line is not JSON)") from None
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise ExportFileError(f"{path}: not a kiosk export (expected format {EXPORT_FORMAT!r})")
        kiosk_id, export_id = header.get("kiosk_id"), header.get("export_id")
        if not isinstance(kiosk_id, str) or not isinstance(export_id, str):
            raise ExportFileError(f"{path}: the header lacks kiosk_id or export_id")
        if not allow_unknown_kiosk and not store.is_enrolled(kiosk_id):
            raise ExportFileError(f"{path}: kiosk {kiosk_id!r} is not enrolled here (use --allow-unknown-kiosk to take it anyway)")
        result = ImportResult(export_id=export_id, kiosk_id=kiosk_id)
        via = f"import:{export_id}"[:100]
        chunk: list = []
        ended = False
        read = len(first)
        for line in fh:
            read += len(line)
            try:
                item = json.loads(line)
            except ValueError:
                result.truncated = True
                break
            if isinstance(item, dict) and item.get("type") == "end":
                ended = True
                if item.get("count") != result.entries + len(chunk):
                    result.truncated = True
                break
            chunk.append(item)
            if len(chunk) >= CHUNK:
                _ingest_chunk(store, chunk, kiosk_id, via, result, result.entries)
                result.entries += len(chunk)
                chunk = []
                if on_bytes is not None:
                    on_bytes(read)
                    read = 0
        if chunk:
            _ingest_chunk(store, chunk, kiosk_id, via, result, result.entries)
            result.entries += len(chunk)
        if on_bytes is not None:
            on_bytes(read)
        result.truncated = result.truncated or not ended
    store.record_import(export_id, kiosk_id, result.entries, result.stored)
    return result


def receipt_for(store: CityStore, result: ImportResult) -> bytes:
    """The signed receipt the kiosk reads back (``kiosk export --receipt FILE``)."""
    return store.sign_receipt({
        "export_id": result.export_id,
        "kiosk_id": result.kiosk_id,
        "imported_at": now_iso(),
        "ids": result.acked,
    })


def default_receipt_path(path: str | os.PathLike) -> Path:
    return Path(f"{path}.receipt.json")
