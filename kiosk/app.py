"""Assemble a kiosk from its config: drivers (found by name in :mod:`kiosk.plugins`), journal,
trust, clock, housekeeping, and the loop.

The one module that knows every part; only the commands (and the demo kit they run) import it,
never the loop (``tests/test_imports.py``)."""

from __future__ import annotations

import logging
import os
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


def city_bundles(config: Config):
    """The last good bundles the city published (verified on every read), or None without a key."""
    if not config.sync.bundle_public_key:
        return None
    from sync.bundles import BundleStore

    return BundleStore(config.kiosk.state_dir, config.sync.bundle_public_key)


def bundle_stamp(config: Config) -> float:
    """Changes when the sync process stores a new bundle (newest modification time)."""
    bundles = city_bundles(config)
    if bundles is None or not bundles.folder.is_dir():
        return 0.0
    return max((p.stat().st_mtime for p in bundles.folder.iterdir()), default=0.0)


def load_trust(config: Config):
    """The trust store: the config's own files where given, else the city's last good bundles.

    A stored bundle the kiosk cannot read (one kept by an older version) is logged and left out:
    it never stops the kiosk starting."""
    from kiosk.shc_issuers import add_config_issuers
    from sync.errors import TrustError
    from sync.trust import from_config

    store = from_config(config.trust.trust_list, config.trust.revocations)
    bundles = city_bundles(config)
    if bundles is not None:
        for kind, path, add in (("trust-list", config.trust.trust_list, store.add_trust_document),
                                ("revocations", config.trust.revocations, store.add_revocation_document)):
            content = None if path else bundles.content(kind)
            if content is None:
                continue
            try:
                add(content)
            except TrustError as exc:
                log.error("the city's stored %s bundle cannot be used, left out: %s", kind, exc)
                continue
            log.info("using the city's %s bundle", kind)
    base = Path(config.source).resolve().parent if config.source else Path.cwd()
    add_config_issuers(store, config.trust, base)
    return store


def apply_city_rules(config: Config) -> Config:
    """The health rules the city published ({"vaccination": {...}, "test": ..., "recovery": ...},
    keys as in [policy.*]) replace the config's; the venue keeps its mode and formats. Its
    "valuesets" ({name: an EU value set}) replace the shipped value sets of those names.
    A rules bundle that does not validate (sync.content.read_rules, as `kiosk-city publish`
    checks it) is logged and ignored: the kiosk keeps its own."""
    import dataclasses

    from sync.content import read_rules
    from sync.errors import TrustError

    bundles = city_bundles(config)
    content = bundles.content("rules") if bundles is not None else None
    if content is None:
        return config
    try:
        sections = read_rules(content)
    except TrustError as exc:
        log.error("city rules bundle refused: %s", exc)
        return config
    value_sets = sections.pop("valuesets", None)
    if value_sets is not None:
        sections["value_sets"] = config.policy.value_sets.with_sets(value_sets)
    return dataclasses.replace(config, policy=dataclasses.replace(config.policy, **sections))


LEGACY_SECRET = "person-key.secret"  # the re-entry guard's key on disk, before the guard moved to memory


def remove_legacy_secret(state_dir: str | os.PathLike) -> None:
    """Overwrite and delete the old re-entry key file, if an earlier version left one."""
    path = Path(state_dir) / LEGACY_SECRET
    try:
        with open(path, "r+b") as fh:
            fh.write(bytes(os.fstat(fh.fileno()).st_size))
            fh.flush()
            os.fsync(fh.fileno())
    except FileNotFoundError:
        return
    path.unlink()
    log.info("removed the old re-entry key file %s", path)


def open_camera(config: Config):
    """The camera ``camera.driver`` names, behind the stall-detecting :class:`drivers.camera.Camera`."""
    from drivers.camera import Camera
    from kiosk.plugins import CAMERAS

    source = CAMERAS.open(config.camera.driver, config.camera)
    return Camera(source, stall_seconds=config.camera.stall_seconds)


def open_pin_factory(config: Config):
    from kiosk.plugins import PIN_FACTORIES

    return PIN_FACTORIES.open(config.gate.pin_factory)


def open_gate(config: Config, pin_factory=None, on_event=None):
    """The gate on ``pin_factory``, else on the one ``gate.pin_factory`` names."""
    from drivers.gate import Gate

    return Gate(config.gate, pin_factory or open_pin_factory(config), on_event=on_event)


def open_screen(config: Config):
    """The screen ``screen.driver`` names (``none``: a kiosk without one)."""
    from kiosk.plugins import SCREENS

    return SCREENS.open(config.screen.driver, config.screen, config.kiosk.venue)


def reload_config(config: Config):
    """What a re-read config becomes in a running kiosk: the city's rules applied, and the trust
    store it names (the loop takes both at its next frame)."""
    config = apply_city_rules(config)
    return config, load_trust(config)


def build_kiosk(config: Config, *, camera=None, gate=None, screen=None, clock=None, notifier=None,
                pin_factory=None, on_outcome=None, on_gate_event=None, journal=None):
    """A ready Kiosk; every part not given is opened as the config says."""
    from kiosk.clock import open_clock
    from kiosk.decode import Decoder
    from kiosk.housekeeping import Housekeeping
    from kiosk.loop import Kiosk
    from kiosk.policy import ReentryGuard

    from sync.files import private_dir

    private_dir(config.kiosk.state_dir)  # 0700 when made here, whatever the umask
    remove_legacy_secret(config.kiosk.state_dir)
    config = apply_city_rules(config)
    from kiosk import formats

    formats.prepare()  # the first visitor after a start waits no longer than the others
    journal = journal or open_journal(config)
    gate = gate or open_gate(config, pin_factory=pin_factory, on_event=on_gate_event)
    clock = clock or open_clock(config.kiosk)
    reentry = ReentryGuard()  # in memory only: a restart forgets it
    return Kiosk(
        config,
        camera=camera or open_camera(config),
        decoder=Decoder(budget_ms=config.decoder.budget_ms, zbar_fallback=config.decoder.zbar_fallback),
        gate=gate,
        journal=journal,
        trust=load_trust(config),
        clock=clock,
        reentry=reentry,
        housekeeping=Housekeeping(config, journal, clock, reentry, bundle_stamp=bundle_stamp,
                                  load_trust=load_trust),
        reload=reload_config,
        screen=screen or open_screen(config),
        notifier=notifier,
        reopen_camera=(lambda: open_camera(config)) if camera is None else None,
        on_outcome=on_outcome,
    )
