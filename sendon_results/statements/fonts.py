"""The fonts a statement is printed with, bundled so every worker prints the same PDF,
and what text they can draw. No WeasyPrint here: the start-up check reads this."""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from django.conf import settings
from fontTools.ttLib import TTFont

FONT_DIR = Path(settings.BASE_DIR) / "static" / "fonts"
# The bundled fonts, in the order a character looks for its glyph: Korean text, then
# emoji drawn in one colour, then arrows, shapes and dingbats. Nothing comes from the
# fonts of the machine that renders, so every worker prints the same PDF. All TrueType:
# the NanumGothic pair as WOFF2 took 25 s to decode, as TrueType 0.5 s. (family, weight,
# file, format); static/fonts/README.md says where each file comes from.
FONT_FILES = (
    ("Nanum Gothic Statement", 400, "NanumGothic-Regular.ttf", "truetype"),
    ("Nanum Gothic Statement", 700, "NanumGothic-Bold.ttf", "truetype"),
    ("Noto Emoji Statement", 400, "NotoEmoji-Regular.ttf", "truetype"),
    ("Noto Symbols Statement", 400, "NotoSansSymbols2-Subset.ttf", "truetype"),
)
FONTS = tuple(name for _, _, name, _ in FONT_FILES)
FONT_STACK = ", ".join(dict.fromkeys(f'"{family}"' for family, *_ in FONT_FILES))
# What a character none of the bundled fonts can draw prints as (the last font has it):
# a visible mark instead of an empty box or a glyph from whatever font the server has.
REPLACEMENT = "\ufffd"
FONT_FACES = " ".join(
    f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
    f'src: url("fonts/{name}") format("{file_format}"); }}'
    for family, weight, name, file_format in FONT_FILES
)


@functools.cache
def drawable() -> frozenset[int]:
    """Every character some bundled font has a glyph for (read once, 0.2 s)."""
    covered: set[int] = set()
    for name in FONTS:
        covered.update(TTFont(FONT_DIR / name, lazy=True).getBestCmap())
    return frozenset(covered)


def printable(text: str) -> str:
    """`text` as the statement can print it: a character no bundled font can draw becomes
    REPLACEMENT (control characters too), so nothing prints as an empty box. Invisible
    formatting characters the fonts lack (a zero-width space pasted with a body) are left
    out, and white space is a space."""
    covered = drawable()
    return "".join(_printable_char(char, covered) for char in text)


def _printable_char(char: str, covered: frozenset[int]) -> str:
    if ord(char) in covered:
        return char
    if char.isspace():
        return " "
    return "" if unicodedata.category(char) == "Cf" else REPLACEMENT
