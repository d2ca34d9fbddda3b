"""Fixed number formatting for G-code: integers in, text out, so output is byte-stable.

Coordinates are carried as integer micrometres and E as integer 1e-5 units; formatting an
integer never depends on float printing, and "-0.000" cannot appear.
"""

from __future__ import annotations

import numpy as np

#: Output resolution: X/Y/Z 3 decimals, E 5 decimals.
XYZ_SCALE = 1000
E_SCALE = 100_000


def quantize_mm(values: np.ndarray | float) -> np.ndarray:
    """Millimetres → integer micrometres (round half to even), any shape."""
    return np.rint(np.asarray(values, dtype=np.float64) * XYZ_SCALE).astype(np.int64)


def _fixed(q: int, scale: int, digits: int) -> str:
    sign = "-" if q < 0 else ""
    whole, frac = divmod(abs(int(q)), scale)
    return f"{sign}{whole}.{frac:0{digits}d}"


def fmt_mm(q: int) -> str:
    """Integer micrometres → ``123.456``."""
    return _fixed(q, XYZ_SCALE, 3)


def fmt_e(q: int) -> str:
    """Integer 1e-5 E units → ``1.23456``."""
    return _fixed(q, E_SCALE, 5)


def fmt_feed(speed_mm_s: float) -> str:
    """Speed in mm/s → integer feed rate in mm/min."""
    return str(int(round(speed_mm_s * 60.0)))


def fmt_plain(value: float) -> str:
    """A short exact-enough number for temperatures and diameters (``200``, ``1.75``)."""
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def fmt_exact(value: float) -> str:
    """Shortest text that reads back as the same float (header values, flow comments)."""
    return repr(float(value))
