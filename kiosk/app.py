"""Assemble a kiosk from its config: drivers, journal, trust, clock, and the loop."""

from __future__ import annotations

import logging
from pathlib import Path

from kiosk.config import Config

log = logging.getLogger(__name__)


def make_sealer(config: Config):
    """Seal identities to the city's public key; with no key configured, identities are not stored."""
    key = config.sync.seal_public_key
    if not key:
        log.warning("no sync.seal_public_key: identities will not be recorded")
        return None
    from sync.seal import seal

    return lambda data: seal(data, key)


def open_journal(config: Config):
    from kiosk.journal import Journal

    return Journal(config.journal_path, sealer=make_sealer(config))


def load_trust(config: Config):
    """The trust store from the config's files, else from the last good city bundle."""
    from kiosk.shc_issuers import add_config_issuers
    from kiosk.trust import from_config

    store = from_config(config.trust.trust_list, config.trust.revocations)
    base = Path(config.source).resolve().parent if config.source else Path.cwd()
    add_config_issuers(store, config.trust, base)
    return store


def person_secret(config: Config) -> bytes:
    from kiosk.policy import load_secret

    return load_secret(Path(config.kiosk.state_dir) / "person-key.secret")


def build_kiosk(config: Config, *, camera=None, gate=None, screen=None, clock=None, notifier=None,
                pin_factory=None, on_outcome=None, on_gate_event=None, journal=None):
    """A ready Kiosk; every part not given is opened as the config says."""
    from drivers.camera import open_camera
    from drivers.gate import open_gate
    from drivers.screen import open_screen
    from kiosk.clock import open_clock
    from kiosk.decode import Decoder
    from kiosk.loop import Kiosk

    Path(config.kiosk.state_dir).mkdir(parents=True, exist_ok=True)
    journal = journal or open_journal(config)
    gate = gate or open_gate(config, pin_factory=pin_factory, on_event=on_gate_event)
    return Kiosk(
        config,
        camera=camera or open_camera(config),
        decoder=Decoder(budget_ms=config.decoder.budget_ms, zbar_fallback=config.decoder.zbar_fallback),
        gate=gate,
        journal=journal,
        trust=load_trust(config),
        clock=clock or open_clock(config.kiosk),
        screen=screen or open_screen(config),
        notifier=notifier,
        person_secret=person_secret(config),
        reopen_camera=(lambda: open_camera(config)) if camera is None else None,
        on_outcome=on_outcome,
    )
