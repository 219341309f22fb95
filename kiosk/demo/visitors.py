"""Generated visitors for the demo, the simulator and benchmarks.

Each visitor is a QR text of one format (valid, or broken in a known way) and what the kiosk
should decide; ``render_frame`` draws the code as a camera would see a phone held up: a lit
screen (or a dark-mode one) on a dim background, slightly blurred, with sensor noise.
Health certificates are signed by demo issuers (``kiosk.demo.issuing``) whose keys the demo trusts.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.model import Identity

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
          "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE_M = ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành"]
MIDDLE_F = ["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim"]
GIVEN_M = ["An", "Bình", "Dũng", "Hải", "Hùng", "Khánh", "Long", "Nam", "Quân", "Sơn", "Tuấn", "Việt"]
GIVEN_F = ["Chi", "Giang", "Hà", "Hạnh", "Hương", "Lan", "Linh", "Mai", "Nga", "Phương", "Thảo", "Yến"]
_ASCII = str.maketrans("ĐđÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴ",
                       "DdAAAAAAAAAAAAAAAAAEEEEEEEEEEEIIIIIOOOOOOOOOOOOOOOOOUUUUUUUUUUUYYYYY")


@dataclass(frozen=True)
class Person:
    name: str
    birth: dt.date
    female: bool
    cccd: str

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.birth.isoformat(), self.cccd)

    @property
    def ascii_name(self) -> str:
        return self.name.upper().translate(_ASCII)


@dataclass(frozen=True)
class Visitor:
    label: str  # what kind of code, e.g. "cccd", "eu-dcc expired", "garbage"
    text: str
    expect: str  # "pass" or "fail" under checkin mode with the demo's trust
    expect_health: str = ""  # the same under health mode, where it differs
    hold_frames: int = 4  # frames the code stays in view
    dark: bool = False  # light-on-dark (a phone in dark mode)
    gap_before: int = 0  # empty frames before this visitor, beyond the usual gap

    def expected(self, mode: str) -> str:
        return self.expect_health if mode == "health" and self.expect_health else self.expect


def make_person(rng: random.Random, today: dt.date) -> Person:
    female = rng.random() < 0.5
    name = " ".join([rng.choice(FAMILY), rng.choice(MIDDLE_F if female else MIDDLE_M),
                     rng.choice(GIVEN_F if female else GIVEN_M)])
    birth = today - dt.timedelta(days=rng.randint(18 * 365, 80 * 365))
    century = birth.year // 100 - 19
    number = f"{rng.randint(1, 96):03d}{century * 2 + int(female)}{birth.year % 100:02d}{rng.randint(0, 999999):06d}"
    return Person(name, birth, female, number)


def cccd_text(p: Person, rng: random.Random, today: dt.date) -> str:
    issued = max(p.birth + dt.timedelta(days=14 * 365), today - dt.timedelta(days=rng.randint(30, 3000)))
    issued = min(issued, today)
    old = f"{rng.randint(0, 999999999):09d}" if rng.random() < 0.5 else ""
    return "|".join([p.cccd, old, p.name, p.birth.strftime("%d%m%Y"), "Nữ" if p.female else "Nam",
                     "Phường Tràng Tiền, Quận Hoàn Kiếm, Hà Nội", issued.strftime("%d%m%Y")])


def pc_covid_text(p: Person, rng: random.Random) -> str:
    masked = p.cccd[:4] + "******" + p.cccd[-2:]
    return "|".join([masked, p.ascii_name, p.birth.strftime("%d/%m/%Y"), "1",
                     f"{rng.getrandbits(40):010x}", ""])


class HealthIssuers:
    """Demo issuers of EU DCCs and SMART Health Cards, and the trust that goes with them."""

    def __init__(self, directory, today: dt.date):
        from kiosk.demo.issuing.dcc import DccIssuer
        from kiosk.demo.issuing.shc import ShcTestIssuer

        self.today = today
        since = dt.datetime.combine(today, dt.time(), dt.timezone.utc) - dt.timedelta(days=400)
        self.dcc = DccIssuer.create(alg="ES256", country="VN", valid_from=since)
        self.rogue = DccIssuer.create(alg="ES256", country="VN", valid_from=since)  # not trusted
        self.shc = ShcTestIssuer(iss="https://shc.demo.example/issuer")
        self.shc_dir = self.shc.publish(directory / "shc-issuer")
        self.trust_list = directory / "trust-list.json"
        self.dcc.write_trust_list(self.trust_list)

    def visitors(self, person: Callable[[], Person], rng: random.Random) -> list[Visitor]:
        from kiosk.demo.issuing.shc import vaccinated

        now = dt.datetime.now(dt.timezone.utc)
        last_dose = self.today - dt.timedelta(days=rng.randint(30, 200))
        return [
            Visitor("eu-dcc vaccinated", self.dcc.vaccination(person().identity, last_dose), "pass"),
            Visitor("eu-dcc test", self.dcc.test(person().identity, now - dt.timedelta(hours=5)), "pass"),
            Visitor("eu-dcc expired", self.dcc.vaccination(person().identity, last_dose,
                                                           iat=now - dt.timedelta(days=400),
                                                           exp=now - dt.timedelta(days=35)), "fail"),
            Visitor("eu-dcc untrusted issuer", self.rogue.vaccination(person().identity, last_dose), "fail"),
            Visitor("shc vaccinated", vaccinated(self.shc, person().identity, last_dose), "pass"),
        ]


def _identity_visitors(person: Callable[[], Person], rng: random.Random, today: dt.date) -> list[Visitor]:
    bad_date = cccd_text(person(), rng, today).split("|")
    bad_date[3] = "31021990"
    return [
        Visitor("cccd", cccd_text(person(), rng, today), "pass", expect_health="fail"),
        Visitor("pc-covid", pc_covid_text(person(), rng), "pass", expect_health="fail", dark=True),
        Visitor("cccd broken date", "|".join(bad_date), "fail"),
    ]


# codes a visitor may show by mistake, or on purpose; {n} makes each one a different code
GARBAGE = ["https://example.com/menu?table={n}", "WIFI:S:cafe{n};T:WPA;P:secret;;", "HC1:NOT-BASE45-{n}!!",
           "shc:/12ab{n}", "{n}|NGUYEN VAN A|32/13/1990|1|ABCD|"]


def generate(count: int, *, seed: int = 2021, today: dt.date | None = None,
             health: HealthIssuers | None = None) -> Iterator[Visitor]:
    """``count`` visitors cycling through every kind of code the demo knows."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    produced = 0
    def person() -> Person:  # a new person for every code: one person twice is a re-entry
        return make_person(rng, today)

    while produced < count:
        batch = _identity_visitors(person, rng, today)
        if health is not None:
            batch += health.visitors(person, rng)
        batch.append(Visitor("garbage", rng.choice(GARBAGE).format(n=rng.randint(0, 10**6)), "fail"))
        for visitor in batch:
            if produced >= count:
                return
            yield visitor
            produced += 1


# ---------------------------------------------------------------------------- frames

def qr_matrix(text: str) -> np.ndarray:
    """The QR code as a boolean matrix (True = dark module), with its quiet zone."""
    import segno

    qr = segno.make_qr(text, error="m")
    return np.array(list(qr.matrix_iter(scale=1, border=4)), dtype=bool)


def render_frame(text: str, *, size: tuple[int, int] = (640, 480), dark: bool = False,
                 rng: random.Random | None = None) -> np.ndarray:
    """A greyscale camera frame of a phone showing ``text`` as a QR code."""
    import cv2

    rng = rng or random.Random(0)
    width, height = size
    matrix = qr_matrix(text)
    modules = matrix.shape[0]
    # the code fills 45-65% of the frame height, as when a phone is held at the camera
    side = int(height * rng.uniform(0.45, 0.65))
    scale = max(2, side // modules)
    code = np.where(matrix, 30, 225).astype(np.uint8) if not dark else np.where(matrix, 215, 25).astype(np.uint8)
    code = cv2.resize(code, (modules * scale, modules * scale), interpolation=cv2.INTER_NEAREST)
    frame = np.full((height, width), rng.randint(50, 90), dtype=np.uint8)  # dim room
    phone_pad = scale * 2
    ch, cw = code.shape
    y = (height - ch) // 2 + rng.randint(-height // 20, height // 20)
    x = (width - cw) // 2 + rng.randint(-width // 20, width // 20)
    y, x = max(phone_pad, min(y, height - ch - phone_pad)), max(phone_pad, min(x, width - cw - phone_pad))
    frame[y - phone_pad:y + ch + phone_pad, x - phone_pad:x + cw + phone_pad] = 15  # phone body
    frame[y:y + ch, x:x + cw] = code
    frame = cv2.GaussianBlur(frame, (3, 3), 0.8)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 4, frame.shape)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def empty_frame(size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    width, height = size
    rng = np.random.default_rng(seed)
    return np.clip(70 + rng.normal(0, 4, (height, width)), 0, 255).astype(np.uint8)


class VisitorFrames(Sequence):
    """The replay of a queue of visitors: each visitor's frame held for ``hold_frames``, empty
    frames between visitors. Frames are rendered when first asked for (one visitor at a time),
    so a simulation of thousands of visitors starts at once and holds one image in memory;
    :meth:`render_all` draws them all beforehand instead (for a replay paced in real time).
    """

    def __init__(self, visitors: Sequence[Visitor], *, size: tuple[int, int] = (640, 480),
                 gap_frames: int = 2, seed: int = 0):
        self.visitors = list(visitors)
        self.size = size
        self.seed = seed
        self.empty = empty_frame(size, seed)
        self._starts: list[int] = []  # index of each visitor's first frame
        position = gap_frames
        for visitor in self.visitors:
            position += max(0, visitor.gap_before - gap_frames)
            self._starts.append(position)
            position += visitor.hold_frames + gap_frames
        self._length = position
        self._cached: tuple[int, np.ndarray] | None = None
        self._rendered: dict[int, np.ndarray] = {}

    def render_all(self) -> None:
        """Draw every visitor's frame now: a camera paced in real time would otherwise lose the
        frames that go by while a dense code is drawn (a quarter of a second for a SMART Health
        Card's), and a live camera never waits for the scene."""
        for n in range(len(self.visitors)):
            self._rendered[n] = self._render(n)

    def _render(self, n: int) -> np.ndarray:
        visitor = self.visitors[n]
        rng = random.Random(self.seed * 1_000_003 + n)
        return render_frame(visitor.text, size=self.size, dark=visitor.dark, rng=rng)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        import bisect

        n = bisect.bisect_right(self._starts, index) - 1
        if n < 0 or index >= self._starts[n] + self.visitors[n].hold_frames:
            return self.empty
        if n in self._rendered:
            return self._rendered[n]
        if self._cached is None or self._cached[0] != n:
            self._cached = (n, self._render(n))
        return self._cached[1]


def frames_for(visitors: Sequence[Visitor], *, size: tuple[int, int] = (640, 480), gap_frames: int = 2,
               seed: int = 0) -> VisitorFrames:
    """The replay frames of ``visitors`` (see VisitorFrames)."""
    return VisitorFrames(visitors, size=size, gap_frames=gap_frames, seed=seed)
