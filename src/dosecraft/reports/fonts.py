"""Fonts for the PDFs: DejaVu Sans, taken from matplotlib's own data folder.

reportlab's built-in Helvetica only covers Latin-1, so a patient pseudonym or drug name
with, say, Greek or Polish letters would print as black boxes. matplotlib (already a
dependency) ships DejaVu Sans, which covers Latin, Greek and Cyrillic, so every machine
that runs dosecraft has the same fonts and the PDFs look the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import matplotlib
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont


@dataclass(frozen=True)
class FontSet:
    """Registered reportlab font names."""

    regular: str
    bold: str
    mono: str


_FILES = {
    "DejaVuSans": "DejaVuSans.ttf",
    "DejaVuSans-Bold": "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique": "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique": "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono": "DejaVuSansMono.ttf",
}


@lru_cache(maxsize=1)
def fonts() -> FontSet:
    """Register the DejaVu family with reportlab once and return the names to use.

    Falls back to the Helvetica/Courier base-14 fonts if matplotlib's fonts are missing
    (a stripped install); text outside Latin-1 then renders as boxes but nothing fails.
    """
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    try:
        for name, file in _FILES.items():
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    except Exception:  # any missing/corrupt font file: degrade, never stop a report
        return FontSet("Helvetica", "Helvetica-Bold", "Courier")
    # Lets <b> and <i> in Paragraph markup pick the right faces.
    addMapping("DejaVuSans", 0, 0, "DejaVuSans")
    addMapping("DejaVuSans", 1, 0, "DejaVuSans-Bold")
    addMapping("DejaVuSans", 0, 1, "DejaVuSans-Oblique")
    addMapping("DejaVuSans", 1, 1, "DejaVuSans-BoldOblique")
    return FontSet("DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono")


def missing_glyphs(text: str, font_name: str) -> list[str]:
    """Characters of `text` that `font_name` cannot draw faithfully (each once, in order).

    Base-14 fonts report nothing (their coverage is WinAnsi and unknown to reportlab's
    metrics); callers then fall back on their own character rules.
    """
    font = pdfmetrics.getFont(font_name)
    cmap = getattr(getattr(font, "face", None), "charToGlyph", None)
    if cmap is None:
        return []
    out: list[str] = []
    for ch in text:
        # Beyond the BMP (emoji) reportlab writes a wrong ToUnicode entry, so the PDF's text
        # layer would not say what the page shows: treat those as not drawable too.
        if ch not in out and not ch.isspace() and (ord(ch) > 0xFFFF or ord(ch) not in cmap):
            out.append(ch)
    return out


def printable(text: str, font_name: str) -> str:
    """`text` with every character the font cannot draw written as '[U+hex code]' (e.g. [U+4E2D]).

    A record must not silently turn a name into blank boxes: the code point keeps the
    original text recoverable from the printed page.
    """
    missing = set(missing_glyphs(text, font_name))
    if not missing:
        return text
    return "".join(f"[U+{ord(ch):04X}]" if ch in missing else ch for ch in text)
