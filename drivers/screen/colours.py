"""The screen's colours (RGB)."""

WHITE = (255, 255, 255)
INK = (16, 22, 31)  # main background
HEADER = (13, 39, 68)
PANEL = (32, 41, 54)
MUTED = (170, 181, 196)
GREEN = (27, 138, 58)
RED = (198, 40, 40)
AMBER = (240, 170, 0)
GREY = (120, 128, 140)
OUTLINE = (0, 230, 118)
STATUS_BG = (8, 12, 18)
