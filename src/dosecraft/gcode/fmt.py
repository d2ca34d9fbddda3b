"""Fixed number formatting for G-code: integers in, text out, so output is byte-stable.

Coordinates are carried as integer micrometres and E as integer 1e-5 units; formatting an
integer never depends on float printing, and "-0.000" cannot appear.

The scalar functions (`fmt_mm`, `fmt_e`) format one value; `format_rows` formats whole
arrays the same way, character for character, in a (rows, columns) byte matrix that is
compacted once: K moves become K lines of text without a Python loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A column group of `format_rows`: literal bytes (the same on every row), or integer values
#: (N,) with their number of decimals.
Field = bytes | tuple[np.ndarray, int]
_DOT, _MINUS, _ZERO, _NEWLINE = ord("."), ord("-"), ord("0"), ord("\n")

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


def fmt_feed_fine(speed_mm_s: float) -> str:
    """Speed in mm/s → feed rate in mm/min to 0.001 (``F723.429``).

    Pneumatic beads are sized by their speed (mm³/mm = flow ÷ speed), so the feed carries
    the dose: an integer F would move it by up to 0.1 %.
    """
    return fmt_plain_places(speed_mm_s * 60.0, 3)


def fmt_plain_places(value: float, places: int) -> str:
    """`value` to `places` decimals without trailing zeros (``723.4``, ``600``)."""
    text = f"{float(value):.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def fmt_plain(value: float) -> str:
    """A short exact-enough number for temperatures and diameters (``200``, ``1.75``)."""
    return fmt_plain_places(value, 4)


def fmt_exact(value: float) -> str:
    """Shortest text that reads back as the same float (header values, flow comments)."""
    return repr(float(value))


#: Rows formatted per `_format_block` call: a block's (rows, columns) byte matrices then fit
#: in the CPU cache; a whole plate's (hundreds of MB) would not, and costs several times more.
FORMAT_BLOCK_ROWS = 8192


def format_rows(fields: Sequence[Field], n: int) -> tuple[str, np.ndarray]:
    """N lines of text, each the concatenation of `fields`, joined by newlines.

    A number field ``(q, digits)`` is written exactly as ``_fixed(q, 10**digits, digits)``
    (``fmt_mm`` for 3 digits, ``fmt_e`` for 5): sign only when negative, at least one digit
    before the point.

    Parameters
    ----------
    fields : column groups left to right: literal bytes (the same on every row), or
        (q (N,) int64 values in units of 10**-digits, digits).
    n : number of rows N.

    Returns
    -------
    text : the N lines joined by ``"\\n"``, without a final newline ("" when N is 0).
    ends : (N,) int64 offset in `text` just past each line (where its newline would be).
    """
    if n <= FORMAT_BLOCK_ROWS:
        return _format_block(fields, n)
    texts, ends, offset = [], [], 0
    for a in range(0, n, FORMAT_BLOCK_ROWS):
        b = min(a + FORMAT_BLOCK_ROWS, n)
        block = [f if isinstance(f, bytes) else (np.asarray(f[0]).reshape(n)[a:b], f[1])
                 for f in fields]
        text, block_ends = _format_block(block, b - a)
        texts.append(text)
        ends.append(block_ends + offset)
        offset += len(text) + 1  # the newline that joins this block to the next
    return "\n".join(texts), np.concatenate(ends)


def _format_block(fields: Sequence[Field], n: int) -> tuple[str, np.ndarray]:
    """`format_rows` of N rows in one pass (see there)."""
    if n == 0:
        return "", np.zeros(0, np.int64)
    layout: list[tuple[int, bytes | tuple[np.ndarray, np.ndarray, int, int]]] = []
    col = 0
    for f in fields:
        if isinstance(f, bytes):
            layout.append((col, f))
            col += len(f)
            continue
        q = np.asarray(f[0], dtype=np.int64).reshape(n)
        digits = int(f[1])
        a = np.abs(q)
        top = int(a.max())
        # at least one digit before the point ("0.001"); int32 digit maths when it fits
        width = max(len(str(top)), digits + 1)
        if top < 2**31:
            a = a.astype(np.int32)
        layout.append((col, (a, q < 0, width, digits)))
        col += width + 2  # sign, digits, point
    chars = np.empty((n, col + 1), np.uint8)
    keep = np.ones((n, col + 1), bool)
    chars[:, col] = _NEWLINE
    length = np.full(n, col + 1, np.int64)  # every column, less the padding dropped below
    for c0, spec in layout:
        if isinstance(spec, bytes):
            chars[:, c0:c0 + len(spec)] = np.frombuffer(spec, np.uint8)
            continue
        a, neg, width, digits = spec
        # digits into a contiguous (width, N) block first: column writes are strided
        d = np.empty((width + 1, n), np.uint8)
        rest = a
        for k in range(width):                        # k-th digit from the right
            div = rest // 10
            d[width - k - (k >= digits)] = rest - div * 10
            rest = div
        d += _ZERO
        d[width - digits] = _DOT
        chars[:, c0] = _MINUS
        chars[:, c0 + 1:c0 + width + 2] = d.T
        keep[:, c0] = neg
        length -= ~neg
        # leading zeros are not written: digit 10^p only when the value reaches 10^p
        for j in range(width - digits - 1):
            big = a >= 10 ** (width - 1 - j)
            keep[:, c0 + 1 + j] = big
            length -= ~big
    text = chars[keep]  # row-major: the characters of row 0, then row 1, ...
    return text[:-1].tobytes().decode("ascii"), np.cumsum(length) - 1
