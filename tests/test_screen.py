"""The screen: drawn with the real pygame on SDL's dummy video driver, read back as pixels."""

from __future__ import annotations

import itertools
import os
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
pygame = pytest.importorskip("pygame")

from drivers import sound  # noqa: E402
from drivers.screen import painter as painting  # noqa: E402
from drivers.screen import colours as palette  # noqa: E402
from drivers.screen import fonts, pygame_screen  # noqa: E402
from drivers.screen import texts as screen_texts  # noqa: E402
from kiosk import ports  # noqa: E402
from kiosk.ports import StatusBar, View  # noqa: E402
from kiosk.errors import DriverError  # noqa: E402
from kiosk.reasons import MESSAGES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZES = ((800, 480), (1920, 1080))
STATES = ("idle", "pass", "fail", "offline")


@pytest.fixture(autouse=True)
def dummy_sdl(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    yield
    pygame.display.quit()
    pygame.mixer.quit()


@pytest.fixture(scope="module")
def font():
    choice = fonts.find_font()
    if not choice.covers_vietnamese:
        pytest.skip("no font with Vietnamese glyphs on this machine (install fonts-dejavu-core)")
    return choice


def section(**kw):
    base = dict(driver="pygame", fullscreen=False, width=800, height=480, result_seconds=3.0, font="", sound=False)
    base.update(kw)
    return SimpleNamespace(**base)


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def pixels(surface) -> np.ndarray:
    return pygame.surfarray.array3d(surface).swapaxes(0, 1)  # rows, columns, RGB


# --------------------------------------------------------------------------- Vietnamese text


def all_screen_texts() -> list[str]:
    texts = [screen_texts.IDLE_VI, *(t[0] for t in screen_texts.CARD_TITLE.values())]
    texts += [t for entry in screen_texts.ERROR_TEXT.values() for t in (entry[0], entry[2])]
    texts += [m.vi for m in MESSAGES.values()]
    texts += [vi for _c, vi, _en in screen_texts.status_items(StatusBar(online=False, undelivered=3, clock_synchronised=False,
                                                               trust_age_hours=None, camera_ok=False,
                                                               disk_alarm=True))]
    return texts


def test_the_chosen_font_has_a_glyph_for_every_vietnamese_letter_the_screen_shows(font):
    for text in all_screen_texts():
        assert fonts.missing_glyphs(font.regular, text) == "", text
        assert fonts.missing_glyphs(font.bold, text) == "", text


def test_the_glyph_check_catches_a_font_without_vietnamese():
    # pygame's built-in font (FreeSans Bold subset) has no 'ư' nor 'Ệ': the check must say so
    missing = fonts.missing_glyphs(None, "Đưa mã QR vào camera Ệ")
    assert "ư" in missing and "Ệ" in missing


def test_vietnamese_renders_as_glyphs_not_boxes(font):
    text = fonts.Text(font)
    vi = screen_texts.IDLE_VI
    size = 40
    tofu = "\U0010fffd" * len(vi)  # a private-use code point: every font draws its missing-glyph box
    assert text.width(vi, size) != text.width(tofu, size)
    # a letter with two stacked marks draws more ink than its bare letter, and above it
    bare = pixels(text.lines("E", size, (255, 255, 255))[0])[..., 0] > 128
    marked = pixels(text.lines("Ệ", size, (255, 255, 255))[0])[..., 0] > 128
    assert marked.sum() > bare.sum()
    assert np.argwhere(marked)[:, 0].min() < np.argwhere(bare)[:, 0].min()  # the circumflex
    assert np.argwhere(marked)[:, 0].max() > np.argwhere(bare)[:, 0].max()  # the dot below


def test_decomposed_input_is_drawn_as_the_precomposed_letter(font):
    text = fonts.Text(font)
    decomposed = "Đu\u031ba ma\u0303"  # "Đưa mã" typed with combining marks
    a = pixels(text.lines(decomposed, 30, (255, 255, 255))[0])
    b = pixels(text.lines("Đưa mã", 30, (255, 255, 255))[0])
    assert a.shape == b.shape and np.array_equal(a, b)


def test_an_admin_font_without_vietnamese_is_replaced_with_a_warning(font, caplog):
    bad = pygame.font.get_default_font()
    path = str(Path(pygame.__file__).parent / bad)
    choice = fonts.find_font(path)
    assert choice.covers_vietnamese and choice.regular != path
    assert "lacks Vietnamese glyphs" in caplog.text


# --------------------------------------------------------------------------- screenshots


def load(path: Path) -> np.ndarray:
    return pixels(pygame.image.load(str(path)))


def assert_distinct(images: dict) -> None:
    for (a, ia), (b, ib) in itertools.combinations(images.items(), 2):
        assert ia.shape != ib.shape or not np.array_equal(ia, ib), f"{a} and {b} are the same picture"


def assert_laid_out(image: np.ndarray, state: str, header_h: int, name: str = "") -> None:
    """The parts of a screen where the layout puts them: the card's colour (green for a pass, red
    for a fail, the dark ground otherwise) under the header at the right edge, the header (the
    card's colour darkened on a result) along the top, the status bar along the bottom."""
    h, w = image.shape[:2]
    background = {"pass": palette.GREEN, "fail": palette.RED}.get(state, palette.INK)
    header = tuple(int(c * 0.7) for c in background) if state in ("pass", "fail") else palette.HEADER
    assert tuple(image[header_h + 2, w - 2]) == background, name
    assert tuple(image[1, w - 2]) == header, name
    assert tuple(image[h - 2, 1]) == palette.STATUS_BG, name


def header_height(font, size) -> int:
    return painting.Painter(size, "", fonts.Text(font)).header_h


def test_screenshot_command_draws_eight_distinct_screens(tmp_path, font):
    from kiosk.cli import main

    images = {}
    for state, (w, h) in itertools.product(STATES, SIZES):
        out = tmp_path / f"{state}-{w}x{h}.png"
        assert main(["screenshot", "--state", state, "--size", f"{w}x{h}", "--out", str(out)]) == 0
        image = load(out)
        assert image.shape == (h, w, 3)
        assert_laid_out(image, state, header_height(font, (w, h)), out.name)
        images[out.name] = image
    assert_distinct(images)
    # the card's colour is the answer: mostly green for a pass, mostly red for a fail
    for w, h in SIZES:
        pass_mid = images[f"pass-{w}x{h}.png"][h // 2, w // 2 + w // 4]
        fail_mid = images[f"fail-{w}x{h}.png"][h // 2, w // 2 + w // 4]
        assert pass_mid[1] > pass_mid[0] and fail_mid[0] > fail_mid[1]


def test_the_readme_screenshots_are_eight_distinct_screens(font):
    folder = REPO / "docs" / "screenshots"
    names = [f"{s}-{w}x{h}.png" for s, (w, h) in itertools.product(STATES, SIZES)]
    images = {n: load(folder / n) for n in names}
    for name, image in images.items():
        state, size = name[:-4].rsplit("-", 1)
        w, h = map(int, size.split("x"))
        assert image.shape == (h, w, 3), name
        assert_laid_out(image, state, header_height(font, (w, h)), name)
    assert_distinct(images)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in names:
        assert f"docs/screenshots/{name}" in readme


def test_screenshot_refuses_a_bad_size(capsys):
    from kiosk.cli import main

    assert main(["screenshot", "--state", "idle", "--size", "big", "--out", "x.png"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


# --------------------------------------------------------------------------- painting


def painter(font, size=(800, 480), mirror=True) -> tuple[painting.Painter, object]:
    surface = pygame.Surface(size)
    return painting.Painter(size, "Cổng A", fonts.Text(font), mirror=mirror), surface


@pytest.mark.parametrize("mirror", [True, False])
@pytest.mark.parametrize("colour", [False, True])
def test_the_found_code_is_outlined_where_it_is_in_the_preview(font, mirror, colour):
    p, surface = painter(font, mirror=mirror)
    frame = np.full((480, 640, 3) if colour else (480, 640), 90, np.uint8)
    corners = ((100, 100), (220, 100), (220, 220), (100, 220))
    p.paint(surface, View(state="idle", frame=frame, outline=corners))
    px, py, pw, ph = p.preview_rect
    scale = min(pw / 640, ph / 480)
    ox, oy = px + (pw - int(640 * scale)) // 2, py + (ph - int(480 * scale)) // 2
    image = pixels(surface)
    x = 100 if not mirror else 640 - 100
    on_edge = image[int(oy + 160 * scale), int(ox + x * scale)]
    inside = image[int(oy + 160 * scale), int(ox + 160 * scale)]
    assert tuple(on_edge) == palette.OUTLINE
    assert tuple(inside) == (90, 90, 90)  # the frame itself, grey


@pytest.mark.parametrize("size", SIZES)
def test_redrawing_only_what_changed_gives_the_same_picture_as_drawing_it_all(font, size):
    text = fonts.Text(font)
    incremental = painting.Painter(size, "Cổng A", text)
    surface = pygame.Surface(size)
    frame_a = np.full((480, 640), 60, np.uint8)
    frame_b = np.full((480, 640), 200, np.uint8)
    edges = ((0, 0), (640, 0), (640, 480), (0, 480))  # the outline overhangs the preview
    sequence = [
        (View(state="idle", frame=frame_a, outline=((10, 10), (300, 10), (300, 300), (10, 300))), 1.0, "08:30"),
        (View(state="idle", frame=frame_b, outline=((400, 200), (600, 200), (600, 400), (400, 400))), 1.0, "08:30"),
        (View(state="idle", frame=frame_b, outline=edges), 1.0, "08:30"),
        (View(state="idle", frame=frame_b, status=StatusBar(online=False, undelivered=4)), 1.0, "08:31"),
        (View(state="idle", frame=frame_a, status=StatusBar(online=False, undelivered=5)), 1.0, "08:31"),
        (View(state="pass", reason="ok", masked_name="NVA 1990"), 0.9, "08:31"),
        (View(state="pass", reason="ok", masked_name="NVA 1990"), 0.3, "08:31"),
        # the next decision on a card of the same colour: only its text is drawn again
        (View(state="pass", reason="recovered", masked_name="TTB 2001", decision_id="e2"), 1.0, "08:31"),
        (View(state="pass", reason="ok", decision_id="e3"), 1.0, "08:31"),
        (View(state="fail", reason="expired", masked_name="LVC 1975"), 1.0, "08:31"),
        (View(state="offline"), 1.0, "08:31"),
        (View(state="idle", frame=frame_a), 1.0, "08:31"),
    ]
    partial_cards = 0
    for view, left, clock in sequence:
        changed = incremental.paint(surface, view, card_left=left, clock_text=clock)
        fresh = pygame.Surface(size)
        assert painting.Painter(size, "Cổng A", text).paint(fresh, view, card_left=left, clock_text=clock) is None
        assert np.array_equal(pixels(surface), pixels(fresh)), view
        if changed is not None:  # a partial redraw names rectangles that lie on the screen
            assert all(0 <= x and 0 <= y and x + w <= size[0] and y + h <= size[1] for x, y, w, h in changed)
            partial_cards += view.decision_id in ("e2", "e3")
    assert partial_cards == 2  # neither same-colour decision repainted the whole screen


def test_prepare_draws_the_backgrounds_before_the_first_visitor(font, monkeypatch):
    size = (1920, 1080)
    p, surface = painter(font, size)
    p.prepare(surface)
    views = [View(state="pass", reason="ok", masked_name="NVA 1990"), View(state="fail", reason="expired"),
             View(state="idle", frame=np.zeros((480, 640), np.uint8))]
    expected = []
    for view in views:  # what a painter that was not prepared draws
        fresh = pygame.Surface(size)
        painting.Painter(size, "Cổng A", fonts.Text(font)).paint(fresh, view)
        expected.append(pixels(fresh))
    made = []
    real_surface = pygame.Surface
    monkeypatch.setattr(pygame, "Surface", lambda *a, **kw: (made.append(a[0]), real_surface(*a, **kw))[1])
    # the first paints after prepare() cover the whole surface, from backgrounds already drawn:
    # no full-screen layer is made for the first visitor, and each shows what a fresh painter draws
    for view, want in zip(views, expected):
        assert p.paint(surface, view) is None
        assert np.array_equal(pixels(surface), want), view.state
    assert tuple(size) not in [tuple(m) for m in made]


def test_the_preview_is_not_converted_while_a_card_covers_it(font, monkeypatch):
    import cv2

    conversions = []
    resize = cv2.resize
    monkeypatch.setattr(cv2, "resize", lambda *a, **kw: (conversions.append(a[1]), resize(*a, **kw))[1])
    p, surface = painter(font)
    frame = np.full((480, 640), 90, np.uint8)
    p.paint(surface, View(state="idle", frame=frame))
    assert len(conversions) == 1
    for left in (0.9, 0.6, 0.3):  # the loop keeps sending frames under the card
        p.paint(surface, View(state="pass", reason="ok", frame=frame), card_left=left)
    p.paint(surface, View(state="offline", frame=frame))
    assert len(conversions) == 1
    p.paint(surface, View(state="idle", frame=frame))
    assert len(conversions) == 2


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("masks", [(0xFF0000, 0xFF00, 0xFF, 0), (0xFF, 0xFF00, 0xFF0000, 0)])
def test_the_preview_written_into_the_pixels_matches_the_blitted_one(font, monkeypatch, colour, masks):
    import cv2

    size = (800, 480)
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (480, 640, 3) if colour else (480, 640), dtype=np.uint8)
    frame[:, :320] //= 3  # a left half darker: a mirror that went the wrong way would show
    wide = frame[60:420]  # wider than the preview box: black bars above and below
    tall = frame[:, 120:520]  # narrower: black bars left and right
    px, py, pw, ph = painting.Painter(size, "Cổng A", fonts.Text(font)).preview_rect
    into_pixels = []  # OpenCV converting straight into a surface's pixels (given a destination)
    convert = cv2.cvtColor
    monkeypatch.setattr(cv2, "cvtColor", lambda *a, **kw: (into_pixels.append("dst" in kw), convert(*a, **kw))[1])
    for image, bar in ((frame, None), (wide, (px + pw // 2, py + 2)), (tall, (px + 2, py + ph // 2))):
        surfaces = []
        for depth, mask in ((32, masks), (24, None)):  # OpenCV writes 32-bit pixels; SDL blits into 24-bit
            surface = pygame.Surface(size, 0, depth, mask) if mask else pygame.Surface(size, 0, depth)
            surface.fill((200, 10, 10))
            painter_ = painting.Painter(size, "Cổng A", fonts.Text(font))
            painter_.paint(surface, View(state="idle", frame=image, outline=((10, 10), (200, 10), (200, 200))))
            surfaces.append(pixels(surface))
        assert np.array_equal(*surfaces)
        if bar is not None:
            assert tuple(surfaces[0][bar[1], bar[0]]) == (0, 0, 0)
    assert into_pixels.count(True) == 3  # each 32-bit preview written by OpenCV, not blitted


def test_a_moving_count_in_the_status_bar_is_not_laid_out_again_at_every_size(font):
    p, surface = painter(font, (1920, 1080))
    text = p.text
    p.paint(surface, View(state="idle", status=StatusBar(undelivered=3)), clock_text="08:30")
    before = text.measured
    # the same number of digits: the same widths (digits are measured as zeros), nothing measured
    p.paint(surface, View(state="idle", status=StatusBar(undelivered=4)), clock_text="08:30")
    assert text.measured == before
    # one more digit: the changed label alone, at the few sizes the estimate points to
    p.paint(surface, View(state="idle", status=StatusBar(undelivered=12)), clock_text="08:30")
    assert 0 < text.measured - before <= 6


@pytest.mark.parametrize("size", [(320, 240), (800, 480), (1280, 720), (1920, 1080)])
def test_the_status_bar_takes_the_largest_type_that_fits(font, size):
    p, _surface = painter(font, size)
    statuses = [StatusBar(), StatusBar(online=False, undelivered=123456, clock_synchronised=False, camera_ok=False,
                                       disk_alarm=True), StatusBar(online=True, undelivered=7, trust_age_hours=500)]
    sizes = set()
    for status in statuses:
        for bilingual in (True, False):
            labels = [vi + (" · " + en if bilingual else "") for _c, vi, en in screen_texts.status_items(status)]
            for room in (p.w // 4, p.w // 2, p.w - 2 * p.pad, 4 * p.w):
                size, fits = p._status_size(labels, room)
                assert p.u(9) <= size <= p.u(14)
                zeros = [t.translate(painting._DIGITS_AS_ZERO) for t in labels]  # digits are measured as zeros
                widths = {s: sum(p.text.width(t, s) for t in zeros) for s in range(p.u(9), p.u(14) + 1)}
                fitting = [s for s, w in widths.items() if w <= room]
                assert (size, fits) == ((max(fitting), True) if fitting else (p.u(9), False)), (labels, room)
                sizes.add(size)
    assert len(sizes) > 1  # the rooms above do make the size vary


def test_a_preview_without_a_frame_says_the_camera_is_awaited(font):
    p, surface = painter(font)
    import cv2

    p.paint(surface, View(state="idle"))
    px, py, pw, ph = p.preview_rect
    box = np.ascontiguousarray(pixels(surface)[py:py + ph, px:px + pw])
    assert tuple(box[1, 1]) == tuple(box[-2, -2]) == palette.PANEL

    def shows(text: str, largest: int) -> bool:
        """Whether the panel holds ``text`` as the painter writes it, at some size it may shrink to."""
        for size in range(p.u(largest), p.u(largest * 0.4) - 1, -1):  # it shrinks to fit, not below 0.45
            (line,) = p.text.lines(text, size, palette.MUTED, bg=palette.PANEL)
            glyphs = np.ascontiguousarray(pixels(line))
            if glyphs.shape[0] <= box.shape[0] and glyphs.shape[1] <= box.shape[1]:
                if cv2.minMaxLoc(cv2.matchTemplate(box, glyphs, cv2.TM_SQDIFF))[0] == 0:
                    return True
        return False

    assert shows("Đang chờ hình từ camera…", 18) and shows("Waiting for the camera…", 14)
    assert not shows("Camera OK", 14)  # the search finds only what is written


@pytest.mark.parametrize("size", [(320, 240), (480, 800), (1280, 720), (3840, 2160)])
@pytest.mark.parametrize("state", ["idle", "pass", "fail", "offline", "disk_full", "clock", "unknown"])
def test_every_state_draws_at_odd_sizes(font, size, state):
    p, surface = painter(font, size)
    frame = np.zeros((480, 640), np.uint8)
    p.paint(surface, View(state=state, reason="expired", masked_name="NVA 1990", frame=frame), card_left=0.5,
            clock_text="08:30")
    # the parts are where the layout puts them at any size (an unknown state is the idle screen)
    assert_laid_out(pixels(surface), state, p.header_h)


def test_the_three_error_screens_differ(font):
    p, surface = painter(font)
    shots = {}
    for state in ("offline", "disk_full", "clock"):
        p.paint(surface, View(state=state))
        shots[state] = pixels(surface).copy()
        assert_laid_out(shots[state], state, p.header_h, state)
    assert_distinct(shots)


def test_the_countdown_bar_shrinks(font):
    p, surface = painter(font)
    view = View(state="pass", reason="ok")
    row = p.h - p.status_h - p.u(8) // 2
    p.paint(surface, view, card_left=0.9)
    white_early = (pixels(surface)[row] == palette.WHITE).all(axis=1).sum()
    p.paint(surface, view, card_left=0.2)
    white_late = (pixels(surface)[row] == palette.WHITE).all(axis=1).sum()
    assert white_early > white_late > 0


def test_status_items_say_what_is_wrong():
    bad = screen_texts.status_items(StatusBar(online=False, undelivered=12, clock_synchronised=False, trust_age_hours=None,
                                    camera_ok=False, disk_alarm=True))
    assert all(colour == palette.RED for colour, _vi, _en in bad)
    english = " ".join(en for _c, _vi, en in bad)
    for word in ("offline", "unsent: 12", "clock not synced", "no trust list", "camera lost", "disk full"):
        assert word in english
    good = screen_texts.status_items(StatusBar(online=True, trust_age_hours=2.0))
    assert all(colour == palette.GREEN for colour, _vi, _en in good)
    stale = dict((en.split(" ")[0], colour) for colour, _vi, en in screen_texts.status_items(StatusBar(trust_age_hours=24 * 3)))
    assert stale["trust"] == palette.AMBER


def test_a_rendered_text_is_reused_not_redrawn(font):
    text = fonts.Text(font)
    first = text.lines(screen_texts.IDLE_VI, 30, (255, 255, 255), width=200)
    assert len(first) == 2  # wrapped
    assert text.lines(screen_texts.IDLE_VI, 30, (255, 255, 255), width=200) is first


# --------------------------------------------------------------------------- the card's timing


def make_screen(clock, **kw) -> pygame_screen.PygameScreen:
    return pygame_screen.PygameScreen(section(**kw), venue="Cổng A", threaded=False, clock=clock)


def test_a_card_is_held_for_result_seconds_then_idle_returns(font):
    clock = FakeClock()
    screen = make_screen(clock)
    try:
        screen.show(View(state="idle"))
        screen.show(View(state="pass", reason="ok", decision_id="e1"))
        view, left = screen.current()
        assert view.state == "pass" and left == pytest.approx(1.0)
        clock.t += 1.5
        screen.show(View(state="idle"))  # the loop goes back to idle views at once
        view, left = screen.current()
        assert view.state == "pass" and left == pytest.approx(0.5)
        clock.t += 1.6
        assert screen.current()[0].state == "idle"
    finally:
        screen.close()


def test_the_card_is_held_by_the_screen_while_the_loop_sends_idle_views(font):
    clock = FakeClock()
    screen = make_screen(clock)
    try:
        screen.show(View(state="fail", reason="expired", decision_id="e1"))  # once, when decided
        for _ in range(29):  # then the loop's view of each frame
            clock.t += 0.1
            screen.show(View(state="idle", frame=np.zeros((4, 4), np.uint8)))
        assert screen.current()[0].decision_id == "e1"
        clock.t += 0.15
        assert screen.current()[0].state == "idle"
        screen.show(View(state="pass", reason="ok", decision_id="e2"))
        clock.t += 2.0
        screen.show(View(state="fail", reason="expired", decision_id="e3"))  # a newer decision
        clock.t += 2.0
        view, left = screen.current()
        assert view.decision_id == "e3" and left == pytest.approx(1 / 3)
    finally:
        screen.close()


def test_each_decision_shown_is_a_new_card_with_its_sound(font):
    clock = FakeClock()
    played = []
    screen = pygame_screen.PygameScreen(section(), threaded=False, clock=clock, speaker=SimpleNamespace(play=played.append))
    try:
        same = View(state="fail", reason="unsupported")  # two visitors refused for the same reason
        screen.show(same)
        clock.t += 2.0
        screen.show(View(state="idle"))
        screen.show(same)
        clock.t += 2.0
        assert screen.current()[0].state == "fail"  # the second card's time, not the first's
        assert played == ["fail", "fail"]
    finally:
        screen.close()


def test_the_live_preview_continues_under_a_card(font):
    clock = FakeClock()
    screen = make_screen(clock)
    try:
        frame = np.full((48, 64), 7, np.uint8)
        screen.show(View(state="pass", decision_id="e1"))
        screen.show(View(state="idle", frame=frame))  # the next frame, while the card is up
        assert screen.current()[0].state == "pass"
        clock.t += 5
        view, _left = screen.current()
        assert view.state == "idle" and view.frame is frame
    finally:
        screen.close()


# --------------------------------------------------------------------------- the driver


def test_the_render_thread_draws_and_closes_cleanly(font):
    screen = pygame_screen.PygameScreen(section(), venue="Cổng A", threaded=True, max_fps=60)
    try:
        assert screen.size == (800, 480)
        drawn = threading.Event()
        for i in range(200):
            screen.show(View(state="idle", frame=np.full((480, 640), i % 255, np.uint8)))
            if screen.frames_drawn:
                drawn.set()
                break
            drawn.wait(0.01)
        assert drawn.is_set()
        with pytest.raises(DriverError):
            screen.render()  # the thread owns the display
    finally:
        screen.close()
    screen.close()  # idempotent
    with pytest.raises(DriverError):
        screen.show(View())


def test_a_display_that_cannot_open_is_a_driver_error(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-driver")
    for threaded in (True, False):
        with pytest.raises(DriverError, match="cannot open the display"):
            pygame_screen.PygameScreen(section(), threaded=threaded)


def test_open_screen_opens_the_pygame_screen_the_config_asks_for(font, make_config):
    from kiosk.app import open_screen
    from kiosk.ports import NullScreen

    config = make_config(kiosk={"venue": "Cổng A"}, screen={"driver": "pygame", "fullscreen": True})
    screen = open_screen(config)
    try:
        assert isinstance(screen, pygame_screen.PygameScreen) and screen.venue == "Cổng A"
        assert screen.size[0] > 0
    finally:
        screen.close()
    assert isinstance(open_screen(make_config(screen={"driver": "none"})), NullScreen)


# --------------------------------------------------------------------------- sounds


def test_pass_and_fail_sound_different():
    assert ports.PASS.steps != ports.FAIL.steps
    assert len(ports.PASS.steps) != len(ports.FAIL.steps)
    assert ports.PASS.duration < ports.FAIL.duration  # a pass is quick; a refusal insists
    assert ports.pattern_for("fail") is ports.FAIL and ports.pattern_for("whatever") is ports.FAIL
    assert ports.PASS.as_blink() == {"on_time": 0.08, "off_time": 0.07, "n": 2}
    with pytest.raises(ValueError):
        ports.Pattern("odd", ((0.1, 0.1), (0.3, 0.1)), (440, 440)).as_blink()


def test_a_pattern_plays_on_a_gpiozero_buzzer(mock_factory):
    from gpiozero import Buzzer

    with Buzzer(17, pin_factory=mock_factory) as buzzer:
        slept = []
        sound.play_on(buzzer, ports.FAIL, sleep=slept.append)
        states = [s.state for s in mock_factory.pin(17).states]
        # on, off for each beep; the buzzer left off
        assert states[-6:] == [True, False] * 3 and states[-1] is False
        assert slept == [t for step in ports.FAIL.steps for t in step if t]


def test_a_stopped_pattern_leaves_the_buzzer_off():
    calls = []
    device = SimpleNamespace(on=lambda: calls.append("on"), off=lambda: calls.append("off"))
    stop = threading.Event()
    sound.play_on(device, ports.FAIL, sleep=lambda _s: stop.set(), stop=stop)
    assert calls == ["on", "off", "off"]


def test_tones_have_the_pattern_rhythm():
    rate = 8000
    for pattern in (ports.PASS, ports.FAIL):
        samples = sound.tone_samples(pattern, rate)
        assert samples.dtype == np.int16
        assert len(samples) == pytest.approx(pattern.duration * rate, abs=len(pattern.steps))
        on, off = pattern.steps[0]
        assert np.abs(samples[: int(on * rate)]).max() > 10000  # sounding
        gap = samples[int(on * rate) + 2: int((on + off) * rate) - 2]
        assert not gap.any()  # silent between beeps


def test_the_speaker_plays_through_the_mixer():
    speaker = sound.open_speaker()
    if speaker is None:
        pytest.skip("SDL has no dummy audio driver here")
    try:
        assert speaker.length("pass") == pytest.approx(ports.PASS.duration, abs=0.01)
        assert speaker.length("fail") == pytest.approx(ports.FAIL.duration, abs=0.01)
        speaker.play("pass")
        speaker.play("fail")  # cuts the pass short, no error
    finally:
        speaker.close()
