"""The kiosk's one configuration file: TOML, loaded into frozen dataclasses with defaults.

Each section is a dataclass; each field's metadata may constrain it (``choices``, ``min``,
``max``, ``path``; :mod:`sync.schema` walks them, as it walks the city's rules bundle, whose
tables ``[policy.vaccination]``, ``[policy.test]`` and ``[policy.recovery]`` are defined in
:mod:`sync.content`). :func:`check` walks the file against the dataclasses and returns *every*
problem, each with its dotted key path; :func:`load` raises :class:`ConfigError` with them all.
To add a key: add a field to its section here and document it in ``config.example.toml``
(a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.errors import ConfigError
from sync.content import RecoveryRules, TestRules, VaccinationRules, rule_problems
from kiosk.plugins import CAMERAS, FORMATS, PIN_FACTORIES, SCREENS
from sync.schema import build, opt
from sync.wire import text_problem

# accepted unless the config says otherwise: the built-in formats (a plug-in's is accepted when named)
FORMAT_IDS = tuple(FORMATS.builtin)


@dataclass(frozen=True)
class KioskSection:
    id: str = "kiosk-01"
    venue: str = "Unnamed venue"
    state_dir: str = opt("/var/lib/kiosk", path="dir")
    log_level: str = opt("info", choices=("debug", "info", "warning", "error"))
    # "system": ask the kernel whether NTP has synchronised the clock;
    # "assume_synchronised": for labs and demos only
    clock: str = opt("system", choices=("system", "assume_synchronised"))


@dataclass(frozen=True)
class CameraSection:
    driver: str = opt("picamera2", choices=CAMERAS)
    device: int = opt(0, min=0)  # OpenCV device index (/dev/videoN)
    width: int = opt(640, min=160, max=4096)
    height: int = opt(480, min=120, max=4096)
    fps: float = opt(30.0, min=1.0, max=120.0)
    replay_path: str = opt("", path="any")  # folder of images or a video file (driver = "replay")
    replay_loop: bool = False
    replay_realtime: bool = True  # pace frames at fps; false = as fast as the loop takes them
    stall_seconds: float = opt(3.0, min=0.5, max=60.0)


@dataclass(frozen=True)
class DecoderSection:
    budget_ms: float = opt(40.0, min=1.0, max=1000.0)
    zbar_fallback: bool = True


@dataclass(frozen=True)
class DebounceSection:
    # a code must be out of view this long before showing it again gives a new decision
    absent_seconds: float = opt(2.0, min=0.0, max=600.0)
    # a credential split over several QR codes waits this long for its missing parts
    chunk_wait_seconds: float = opt(10.0, min=1.0, max=120.0)


@dataclass(frozen=True)
class GateSection:
    pin_factory: str = opt("mock", choices=PIN_FACTORIES)
    relay_pin: int = opt(17, min=0, max=27)
    relay_active_high: bool = True
    green_led_pin: int = opt(27, min=-1, max=27)  # -1 = not fitted
    red_led_pin: int = opt(22, min=-1, max=27)
    buzzer_pin: int = opt(23, min=-1, max=27)
    button_pin: int = opt(-1, min=-1, max=27)  # guard override button; -1 = none
    open_seconds: float = opt(3.0, min=0.2, max=60.0)
    fail_mode: str = opt("secure", choices=("secure", "safe"))


@dataclass(frozen=True)
class ScreenSection:
    driver: str = opt("none", choices=SCREENS)
    fullscreen: bool = True
    width: int = opt(800, min=320, max=7680)
    height: int = opt(480, min=240, max=4320)
    result_seconds: float = opt(3.0, min=0.5, max=60.0)
    font: str = opt("", path="file")  # a TTF with Vietnamese glyphs; empty = find DejaVu Sans
    sound: bool = False  # also play the pass/fail patterns through a speaker (pygame.mixer), if any


@dataclass(frozen=True)
class PolicySection:
    mode: str = opt("checkin", choices=("checkin", "health"))
    accept_formats: tuple[str, ...] = opt(FORMAT_IDS, choices=FORMATS)
    reentry_minutes: float = opt(10.0, min=0.0, max=1440.0)  # 0 = no re-entry guard
    unsynchronised_clock: str = opt("admit_and_flag", choices=("admit_and_flag", "refuse"))
    # days since a dose or a positive test are counted in the venue's local calendar
    timezone: str = "Asia/Ho_Chi_Minh"
    vaccination: VaccinationRules = opt(factory=VaccinationRules)
    test: TestRules = opt(factory=TestRules)
    recovery: RecoveryRules = opt(factory=RecoveryRules)
    # the EU value sets the rules check codes against: shipped, or the city's rules bundle's
    value_sets: Any = field(default_factory=lambda: _shipped_value_sets(), hash=False,
                            metadata={"internal": True})  # a kiosk.valuesets.ValueSets


def _shipped_value_sets() -> Any:
    from kiosk.valuesets import shipped

    return shipped()


@dataclass(frozen=True)
class ShcIssuer:
    iss: str
    dir: str = opt("", path="dir")  # offline copy: DIR/.well-known/jwks.json (+ crl/<kid>.json)


@dataclass(frozen=True)
class TrustSection:
    trust_list: str = opt("", path="file")  # JSON trust list of DSCs (see docs in sync/trust.py)
    revocations: str = opt("", path="file")  # JSON revocation list
    shc_issuers: tuple[ShcIssuer, ...] = ()


@dataclass(frozen=True)
class JournalSection:
    path: str = ""  # empty = <state_dir>/journal.db
    retention_days: int = opt(14, min=1, max=3650)
    disk_alarm_percent: float = opt(90.0, min=10.0, max=99.9)


@dataclass(frozen=True)
class SyncSection:
    url: str = ""  # city server base URL; empty = no sync (use kiosk export)
    token_file: str = opt("", path="file")
    ca_file: str = opt("", path="file")  # pin the city's CA; empty = system CAs
    seal_public_key: str = ""  # base64 X25519 public key the identity is sealed to
    bundle_public_key: str = ""  # base64 Ed25519 key that signs trust bundles
    batch_size: int = opt(500, min=1, max=10000)
    timeout_seconds: float = opt(10.0, min=0.5, max=300.0)
    deadline_seconds: float = opt(120.0, min=1.0, max=3600.0)  # one request, whole reply included
    interval_seconds: float = opt(30.0, min=1.0, max=86400.0)
    max_backoff_seconds: float = opt(600.0, min=1.0, max=86400.0)
    heartbeat_seconds: float = opt(300.0, min=10.0, max=86400.0)


@dataclass(frozen=True)
class Config:
    kiosk: KioskSection = opt(factory=KioskSection)
    camera: CameraSection = opt(factory=CameraSection)
    decoder: DecoderSection = opt(factory=DecoderSection)
    debounce: DebounceSection = opt(factory=DebounceSection)
    gate: GateSection = opt(factory=GateSection)
    screen: ScreenSection = opt(factory=ScreenSection)
    policy: PolicySection = opt(factory=PolicySection)
    trust: TrustSection = opt(factory=TrustSection)
    journal: JournalSection = opt(factory=JournalSection)
    sync: SyncSection = opt(factory=SyncSection)
    source: str = opt("", internal=True)  # the file it came from, for relative paths

    @property
    def journal_path(self) -> Path:
        return Path(self.journal.path) if self.journal.path else Path(self.kiosk.state_dir) / "journal.db"


# --------------------------------------------------------------------------- loading


def parse(data: dict, base: Path | None = None, source: str = "") -> tuple[Config | None, list[str]]:
    """Build a Config from parsed TOML; return it (None if unusable) and every problem found."""
    problems: list[str] = []
    base = base or Path.cwd()
    config = build(Config, data, "", base, problems)
    if config is dataclasses.MISSING:
        return None, problems
    config = dataclasses.replace(config, source=source)
    problems.extend(_cross_checks(config))
    return config, problems


def _cross_checks(config: Config) -> list[str]:
    problems = []
    for key, wire_field in (("id", "kiosk_id"), ("venue", "venue")):  # what the city would refuse
        problem = text_problem(wire_field, getattr(config.kiosk, key))
        if problem:
            problems.append(f"kiosk.{key}: {problem} (the city refuses entries otherwise)")
    if config.camera.driver == "replay" and not config.camera.replay_path:
        problems.append("camera.replay_path: required when camera.driver is \"replay\"")
    pins = {}
    for name in ("relay_pin", "green_led_pin", "red_led_pin", "buzzer_pin", "button_pin"):
        pin = getattr(config.gate, name)
        if pin >= 0:
            if pin in pins:
                problems.append(f"gate.{name}: pin {pin} is also gate.{pins[pin]}")
            pins[pin] = name
    if config.sync.url and not config.sync.url.startswith(("http://", "https://")):
        problems.append("sync.url: must start with https:// (or http:// on a lab network)")
    rules = config.policy
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(rules.timezone)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        problems.append(f"policy.timezone: {rules.timezone!r} is not an IANA time zone (e.g. Asia/Ho_Chi_Minh)")
    problems.extend(rule_problems(rules, "policy."))
    return problems


def check(path: str | os.PathLike) -> list[str]:
    """Every problem in the file at ``path``, each starting with its key path (empty = fine).

    A file that cannot be read as TOML at all raises :class:`ConfigError` (one line)."""
    _config, problems = _read(Path(path))
    return problems


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few kilobytes; anything this big is something else


def _read(path: Path) -> tuple[Config | None, list[str]]:
    """Parse and check the file; ConfigError, one line, if it is no TOML file we can read."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except OSError as exc:  # a folder, a device, an I/O error
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB, so not a config file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                          "save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise ConfigError(f"{path}: not valid TOML: a number too long to read ({str(exc).split(':')[0]})") from None
    try:
        return parse(data, base=path.resolve().parent, source=str(path))
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply") from None


def load(path: str | os.PathLike) -> Config:
    """Load and validate; raise ConfigError listing every problem."""
    config, problems = _read(Path(path))
    if problems or config is None:
        raise ConfigError(problems)
    return config


def default_path() -> Path:
    return Path(os.environ.get("KIOSK_CONFIG", "/etc/kiosk/config.toml"))


def all_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key the file may hold (for the documentation test)."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(all_keys(tp, key))
        elif typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            keys.extend(all_keys(typing.get_args(tp)[0], key))
        else:
            keys.append(key)
    return keys
