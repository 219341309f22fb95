"""Enrolling a kiosk: a token for it, and a complete kiosk config that points at this city.

``kiosk-city enroll`` prints :meth:`Enrollment.toml`; the demo and tests use
:func:`enroll_kiosk` directly and take :attr:`Enrollment.config` (a dict shaped like the TOML
file, accepted by :func:`kiosk.config.parse`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

from city.store import CityStore
from sync.files import private_dir


@dataclass(frozen=True)
class Enrollment:
    kiosk_id: str
    url: str
    token: str
    token_file: Path
    seal_public_key: str
    bundle_public_key: str
    config: dict  # the kiosk config, as the parsed TOML would be

    def sync_section(self) -> dict:
        """The ``[sync]`` table alone (url, token_file, seal and bundle keys)."""
        return dict(self.config["sync"])

    def toml(self) -> str:
        """The config as a commented TOML file."""
        return _render(self)


def _safe_name(kiosk_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", kiosk_id) or "kiosk"


def write_token(path: Path, token: str) -> None:
    """Write a token readable by its owner only (0600), replacing any earlier one."""
    private_dir(path.parent)  # a folder made for it is 0700 (the state folder, with --state)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def enroll_kiosk(
    store: CityStore | str | os.PathLike,
    kiosk_id: str,
    url: str,
    *,
    state_dir: str | os.PathLike | None = None,
    simulated: bool = False,
    venue: str | Sequence[str] | None = None,
    token_file: str | os.PathLike | None = None,
    ca_file: str | os.PathLike | None = None,
) -> Enrollment:
    """Register ``kiosk_id`` with the city (a new token; an earlier one stops working), write the
    token to a 0600 file, and build the kiosk's config.

    ``venue`` is the venue (or venues) the kiosk may record entries for; the first goes into its
    config. The default is a venue named as the kiosk.

    The token goes to ``token_file``, else ``<state_dir>/city-token``, else
    ``./city-token-<kiosk_id>``. ``simulated`` picks the replay camera (a folder of frames in
    the state folder, made with one blank frame), mock pins and no screen.
    """
    venues = [venue] if isinstance(venue, str) else list(venue or [kiosk_id])
    own_store = not isinstance(store, CityStore)
    city = CityStore(store) if own_store else store
    try:
        token = city.enroll(kiosk_id, venues)
        keys = city.keys
    finally:
        if own_store:
            city.close()
    state = Path(state_dir).resolve() if state_dir else None
    if token_file:
        token_path = Path(token_file).resolve()
    elif state:
        token_path = state / "city-token"
    else:
        token_path = Path.cwd() / f"city-token-{_safe_name(kiosk_id)}"
    write_token(token_path, token)

    config: dict = {
        "kiosk": {"id": kiosk_id, "venue": venues[0]},
        "sync": {
            "url": url.rstrip("/"),
            "token_file": str(token_path),
            "seal_public_key": keys.seal_public,
            "bundle_public_key": keys.bundle_public,
        },
    }
    if ca_file:
        config["sync"]["ca_file"] = str(Path(ca_file).resolve())
    if state:
        private_dir(state)  # 0700 when made here, whatever the umask
        config["kiosk"]["state_dir"] = str(state)
    if simulated:
        replay = (state or Path.cwd() / f"kiosk-{_safe_name(kiosk_id)}") / "replay"
        _blank_frame(replay)
        config["kiosk"]["clock"] = "assume_synchronised"
        config["camera"] = {"driver": "replay", "replay_path": str(replay), "replay_loop": True}
        config["gate"] = {"pin_factory": "mock"}
        config["screen"] = {"driver": "none"}
    return Enrollment(kiosk_id, url.rstrip("/"), token, token_path, keys.seal_public, keys.bundle_public, config)


def _blank_frame(folder: Path) -> None:
    """One empty grey frame, so a replay camera has something to show until real ones are added."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        return
    import cv2
    import numpy as np

    cv2.imwrite(str(folder / "blank.png"), np.full((480, 640), 200, dtype=np.uint8))


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # a JSON string is a valid TOML basic string (same escapes, \uXXXX included)
    return json.dumps(str(value), ensure_ascii=False)


_COMMENTS = {
    "kiosk": "# Kiosk config made by `kiosk-city enroll`. Check it with `kiosk check-config FILE`.",
    "sync": (
        "# The city server. The token file must be readable by the kiosk's service user only\n"
        "# (install -m 0600 -o kiosk); copy it with this file if you move them to the kiosk."
    ),
    "camera": "# Simulated hardware for a lab kiosk: drop QR images into replay_path.",
}


def _render(enrollment: Enrollment) -> str:
    lines: list[str] = []
    for section, values in enrollment.config.items():
        if section in _COMMENTS:
            lines.append(_COMMENTS[section])
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {_value(value)}")
        lines.append("")
    return "\n".join(lines)
