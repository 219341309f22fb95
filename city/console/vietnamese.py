"""Vietnamese text for the console: alphabetical order, and search without diacritics.

Python's ``sorted`` orders by code point, which puts ``Đặng`` after ``Zô`` and ``Ă`` after ``B``.
Vietnamese dictionaries order by letter first (``a ă â b c d đ e ê … o ô ơ … u ư …``), then by
tone (none, huyền, hỏi, ngã, sắc, nặng), then by case: :func:`sort_key` gives exactly that, from
the canonical decomposition (NFD) of each letter. Search folds both sides with
:func:`city.trace.normalise_name` (no diacritics, case or extra spaces), so ``nguyen van an``
finds ``Nguyễn Văn An``.
"""

from __future__ import annotations

import unicodedata

from city.trace import normalise_name

# combining marks that make a new letter (ă â ê ô ơ ư), in alphabetical order after the bare one
_LETTER_MARKS = {"\u0306": 1, "\u0302": 2, "\u031b": 3}  # breve, circumflex, horn
# tone marks, in dictionary order: none, huyền (grave), hỏi (hook), ngã (tilde), sắc (acute), nặng (dot)
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def sort_key(text: str) -> tuple:
    """A key that sorts Vietnamese text in dictionary order (letters, then tones, then case)."""
    letters: list[tuple[str, int]] = []
    tones: list[int] = []
    cases: list[int] = []
    for char in unicodedata.normalize("NFD", text):
        if char in _LETTER_MARKS and letters:
            base, _ = letters[-1]
            letters[-1] = (base, _LETTER_MARKS[char])
        elif char in _TONES and tones:
            tones[-1] = _TONES[char]
        elif unicodedata.combining(char):
            continue
        else:
            lower = char.lower()
            # đ is its own letter after d: no decomposition gives it, so it is spelled out here
            letters.append(("d", 4) if lower == "đ" else (lower, 0))
            tones.append(0)
            cases.append(0 if char == lower else 1)
    return tuple(letters), tuple(tones), tuple(cases)


def matches(query: str, text: str) -> bool:
    """Whether ``query`` occurs in ``text``, diacritics, case and spacing ignored."""
    folded = normalise_name(query)
    return not folded or folded in normalise_name(text)
