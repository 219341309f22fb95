"""Publishing a bundle, as ``kiosk-city publish`` and the console's bundles page both do it.

One path for both: the content is parsed, checked by the code the kiosks will load it with
(:func:`sync.content.check_content`: what a kiosk would refuse is refused here, with the
reason), signed by :meth:`city.store.CityStore.publish`, and the publication, or its refusal with
the reason, goes into the audit log with who asked.
"""

from __future__ import annotations

import json
from typing import Any

from city.console.records import ConsoleRecords
from city.store import CityStore
from sync import bundles
from sync.errors import BundleError


class PublishError(ValueError):
    """The content was refused; nothing was signed. The message says why."""


def parse(kind: str, raw: bytes, source: str = "the upload") -> Any:
    """A bundle's content from JSON bytes (raises :class:`PublishError`)."""
    if kind not in bundles.KINDS:
        raise PublishError(f"a bundle is one of {', '.join(bundles.KINDS)}")
    if not raw:
        raise PublishError(f"{source} is empty")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PublishError(f"{source} is not valid JSON: {exc}") from None


def check(kind: str, content: Any) -> None:
    """Refuse (:class:`PublishError`, with the reason) what a kiosk would refuse to load."""
    from sync.content import check_content

    if kind not in bundles.KINDS:
        raise PublishError(f"a bundle is one of {', '.join(bundles.KINDS)}")
    try:
        check_content(kind, content)
    except BundleError as exc:
        raise PublishError(f"kiosks would refuse it: {exc}") from None


def publish(store: CityStore, kind: str, content: Any, *, actor: str, records: ConsoleRecords,
            address: str = "", source: str = "") -> bundles.Bundle:
    """Check, sign and serve ``content`` as the next version of ``kind``; audit either outcome."""
    try:
        check(kind, content)
        bundle = store.publish(kind, content)
    except (ValueError, BundleError) as exc:  # PublishError is a ValueError
        records.audit(actor, "publish-refused", address, kind=kind, source=source, reason=str(exc))
        raise PublishError(str(exc)) from None
    records.audit(actor, "publish", address, kind=kind, source=source, version=bundle.version,
                  sha256=bundle.sha256, bytes=len(bundle.raw))
    return bundle


def publish_bytes(store: CityStore, kind: str, raw: bytes, *, actor: str, records: ConsoleRecords,
                  address: str = "", source: str = "the upload") -> bundles.Bundle:
    try:
        content = parse(kind, raw, source)
    except PublishError as exc:
        records.audit(actor, "publish-refused", address, kind=kind, source=source, reason=str(exc))
        raise
    return publish(store, kind, content, actor=actor, records=records, address=address, source=source)
