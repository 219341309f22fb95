"""The screen's own words, in Vietnamese and English: error screens, the idle prompt, card titles,
and the status bar's items."""

from __future__ import annotations

from drivers.screen.colours import AMBER, GREEN, GREY, RED
from kiosk.ports import StatusBar

# text on the error screens: state -> (title vi, title en, hint vi, hint en)
ERROR_TEXT: dict[str, tuple[str, str, str, str]] = {
    "offline": (
        "Mất tín hiệu camera",
        "Camera offline",
        "Đang thử kết nối lại. Vui lòng gọi bảo vệ.",
        "Reconnecting. Please call the guard.",
    ),
    "disk_full": (
        "Bộ nhớ đầy",
        "Disk full",
        "Không thể ghi nhận lượt vào. Vui lòng gọi bảo vệ.",
        "Entries cannot be recorded. Please call the guard.",
    ),
    "clock": (
        "Đồng hồ chưa đồng bộ",
        "Clock not synchronised",
        "Tạm dừng kiểm tra. Vui lòng gọi bảo vệ.",
        "Checks are paused. Please call the guard.",
    ),
}
IDLE_VI = "Đưa mã QR vào camera"
IDLE_EN = "Hold your QR code up to the camera"
CARD_TITLE = {"pass": ("MỜI VÀO", "Welcome"), "fail": ("KHÔNG ĐƯỢC VÀO", "Entry refused")}


def status_items(status: StatusBar) -> list[tuple[tuple[int, int, int], str, str]]:
    """The status bar's items as (dot colour, Vietnamese, English), in display order."""
    items = []
    if status.online is None:
        items.append((GREY, "Không đồng bộ", "sync off"))
    elif status.online:
        items.append((GREEN, "Trực tuyến", "online"))
    else:
        items.append((RED, "Mất mạng", "offline"))
    if status.undelivered:
        colour = AMBER if status.online is not False else RED
        items.append((colour, f"Chưa gửi: {status.undelivered}", f"unsent: {status.undelivered}"))
    else:
        items.append((GREEN, "Đã gửi hết", "all sent"))
    if status.clock_synchronised:
        items.append((GREEN, "Giờ chuẩn", "clock synced"))
    else:
        items.append((RED, "Giờ chưa đồng bộ", "clock not synced"))
    age = status.trust_age_hours
    if age is None:
        items.append((RED, "Chưa có khóa tin cậy", "no trust list"))
    else:
        vi, en = _age(age)
        colour = GREEN if age < 24 else AMBER if age < 24 * 7 else RED
        items.append((colour, f"Khóa tin cậy: {vi}", f"trust list {en}"))
    if status.camera_ok:
        items.append((GREEN, "Camera tốt", "camera OK"))
    else:
        items.append((RED, "Mất camera", "camera lost"))
    if status.disk_alarm:
        items.append((RED, "Đĩa đầy", "disk full"))
    return items


def _age(hours: float) -> tuple[str, str]:
    if hours < 1:
        return "mới", "fresh"
    if hours < 48:
        return f"{int(hours)} giờ", f"{int(hours)} h old"
    return f"{int(hours // 24)} ngày", f"{int(hours // 24)} days old"
