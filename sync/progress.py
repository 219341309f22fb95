"""Progress and an ETA for long work, on a terminal only (tqdm).

``kiosk sync --once`` on a large backlog, ``kiosk export`` and ``kiosk-city import`` can run
for minutes; an admin at a terminal sees how far they are and how long is left. When the
output is not a terminal (systemd's journal, a pipe, a test) nothing at all is written: tqdm
is disabled, so logs and scripts see exactly what they saw before.
"""

from __future__ import annotations

import sys
from typing import IO, Any

__all__ = ["progress"]


def progress(total: int | None, description: str, *, unit: str = "entries", stream: IO[str] | None = None,
             **options: Any):
    """A tqdm bar on ``stream`` (stderr by default) if it is a terminal, else one that draws
    nothing; use ``update(n)`` and ``close()`` (or ``with``). ``unit="B"`` counts bytes."""
    from tqdm import tqdm

    stream = stream if stream is not None else sys.stderr
    live = bool(getattr(stream, "isatty", lambda: False)())
    return tqdm(total=total, desc=description, unit=unit, file=stream, disable=not live, dynamic_ncols=True,
                mininterval=0.5, unit_scale=unit == "B", **options)
