"""Bulk G-code reading: the plain G0/G1 lines parsed at once, and move rows assembled.

`_scan_moves` parses the plain moves of a program straight from its bytes; `_assemble`
combines them with the modal state the line interpreter (`dosecraft.gcode.reader._Parser`)
recorded for the other lines, forward-filling position, E and feed over the moves
(`_track`). The values are those of interpreting line after line (see
`dosecraft.gcode.reader`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dosecraft.gcode.reader import _Parser

_NCOLS = 15  # columns of a raw move row, see reader._Parser.move
#: Words of a move, in the column order of `_scan_moves`.
_AXES = "XYZEF"

_SPACE, _LETTER, _MINUS, _DIGIT, _DOT, _END = 1, 2, 3, 4, 5, 6
_CLASS = np.zeros(256, np.int8)  # byte → class (0: anything else)
_CLASS[ord(" ")] = _SPACE
_CLASS[[ord(a) for a in _AXES]] = _LETTER
_CLASS[ord("-")] = _MINUS
_CLASS[ord("0"):ord("9") + 1] = _DIGIT
_CLASS[ord(".")] = _DOT
_CLASS[ord("\n")] = _END
#: Allowed successor classes: " " → letter → [-] [digits] [. digits] → " " or end of line
#: (a point is followed by a digit, a number ends in one: "5." is left to `reader._words`).
_PAIR_OK = np.zeros(64, bool)
for _a, _b in ((_SPACE, _LETTER), (_LETTER, _MINUS), (_LETTER, _DIGIT), (_LETTER, _DOT),
               (_MINUS, _DIGIT), (_MINUS, _DOT), (_DIGIT, _DIGIT), (_DIGIT, _DOT),
               (_DIGIT, _SPACE), (_DIGIT, _END), (_DOT, _DIGIT)):
    _PAIR_OK[_a * 8 + _b] = True
_AXIS_OF = np.full(256, -1, np.int64)
_AXIS_OF[[ord(a) for a in _AXES]] = np.arange(len(_AXES))
#: Powers of ten that are exact doubles; m / 10^k with m < 2^53 is then correctly rounded,
#: the same double as float() of the decimal text.
_P10 = np.array([float(10**k) for k in range(23)])
_MAX_DIGITS = 15


#: Lines parsed per `_scan_block` call (about 150 kB of G-code): the byte-sized temporaries
#: of a block then stay in the CPU cache, where those of a whole 10 MB plate (hundreds of MB)
#: would be fresh pages from the OS on every call, several times slower.
SCAN_BLOCK_LINES = 5000


def _scan_moves(lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse the plain G0/G1 lines of a program, `SCAN_BLOCK_LINES` lines at a time.

    Every line is parsed on its own, so the blocks give exactly the arrays of one call
    over the whole program (see `_scan_block` for the grammar and the returned arrays).
    """
    if len(lines) <= SCAN_BLOCK_LINES:
        return _scan_block(lines)
    parts = []
    for first in range(0, len(lines), SCAN_BLOCK_LINES):
        index, rapid, has, value = _scan_block(lines[first:first + SCAN_BLOCK_LINES])
        parts.append((index + first, rapid, has, value))
    index, rapid, has, value = (np.concatenate(a) for a in zip(*parts, strict=True))
    return index, rapid, has, value


def _scan_block(lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse the plain G0/G1 lines of a block of a program at once.

    A plain line is ``G0`` or ``G1`` followed by words `` <L><number>``: single spaces,
    L one of X Y Z E F at most once, number ``-?digits[.digits]`` or ``-?.digits`` with
    at most 15 digits.
    For such a line `reader._words` finds exactly these words, and ``m / 10**k`` (m the digits as
    an integer, k the decimals) is the double that ``float`` reads (both operands are exact,
    and IEEE division rounds correctly). Anything else (comments, lower case, exponents,
    other letters) is left to the line interpreter.

    Returns
    -------
    index : (K,) int64 line index (0-based) of each plain move.
    rapid : (K,) bool, G0.
    has : (K, 5) bool, the line has the X, Y, Z, E, F word.
    value : (K, 5) float64 word values (0 where absent).
    """
    empty = (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros((0, 5), bool),
             np.zeros((0, 5)))
    if not lines:
        return empty
    # one newline after every line (lines hold none); plain lines are ASCII
    buf = np.frombuffer(("\n".join(lines) + "\n").encode("utf-8", "replace"), np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate([[0], ends[:-1] + 1])
    size = ends - starts
    pad = np.concatenate([buf, np.zeros(2, np.uint8)])  # room to look 2 bytes past the end
    g = pad[starts + 1]
    ok = (size >= 2) & (pad[starts] == ord("G")) & ((g == ord("0")) | (g == ord("1")))
    ok &= (size == 2) | (pad[starts + 2] == ord(" "))
    # byte grammar, checked on the whole text at once: the words are a regular language in
    # which each byte class may only be followed by certain classes (one point per number
    # is checked below), so a line is plain when every byte pair of its words is allowed
    cls = _CLASS.take(buf)
    pair = (cls[:-1] << 3) | cls[1:]                    # pair (i, i + 1), the last is "\n"
    bad = np.flatnonzero(~_PAIR_OK.take(pair))          # few: the bytes of other lines
    bad_line = np.searchsorted(ends, bad)
    first = np.minimum(starts + 2, ends)  # where the words start
    # a pair (end of line, next line) belongs to no line's words
    words_pair = (bad < ends[bad_line]) & (bad >= first[bad_line])
    ok[bad_line[words_pair]] = False
    # the words of those lines: letter, sign, digits with at most one point
    at = np.flatnonzero(cls == _LETTER)
    word_line = np.searchsorted(ends, at)
    sel = ok[word_line]
    at, word_line = at[sel], word_line[sel]
    same_next = np.append(word_line[1:] == word_line[:-1], False)
    word_end = np.where(same_next, np.append(at[1:] - 1, 0), ends[word_line])
    neg = buf[at + 1] == ord("-")
    num0 = at + 1 + neg
    dots = np.flatnonzero(cls == _DOT) if at.size else np.zeros(0, np.int64)
    dot_word = np.searchsorted(at, dots) - 1
    inside = (dot_word >= 0) & (dots < word_end[np.maximum(dot_word, 0)])
    dots, dot_word = dots[inside], dot_word[inside]
    ok[word_line[dot_word[1:][np.diff(dot_word) == 0]]] = False  # two points in a word
    has_dot = np.zeros(len(at), bool)
    has_dot[dot_word] = True
    dot_at = np.zeros(len(at), np.int64)
    dot_at[dot_word] = dots
    decimals = np.where(has_dot, word_end - dot_at - 1, 0)
    ndigits = word_end - num0 - has_dot
    ok[word_line[ndigits > _MAX_DIGITS]] = False
    # a letter twice in a line: `reader._words` keeps the last one; leave such lines to it
    if at.size:
        bits = np.left_shift(1, _AXIS_OF[buf[at]])
        firsts = np.flatnonzero(np.append(True, word_line[1:] != word_line[:-1]))
        dup = np.add.reduceat(bits, firsts) != np.bitwise_or.reduceat(bits, firsts)
        ok[word_line[firsts[dup]]] = False
    w = ok[word_line]
    if not w.all():  # words of lines found bad above
        at, word_line, word_end, num0 = at[w], word_line[w], word_end[w], num0[w]
        neg, decimals = neg[w], decimals[w]
    # digits → integer mantissa, left to right (Horner), skipping the point: every partial
    # value is an integer below 10^15 < 2^53, so the float64 arithmetic is exact
    mantissa = np.zeros(len(at))
    for j in range(int((word_end - num0).max(initial=0))):
        col = num0 + j
        ch = buf[np.minimum(col, len(buf) - 1)]
        digit = (col < word_end) & (ch != ord("."))
        mantissa = np.where(digit, mantissa * 10.0 + (ch - ord("0")), mantissa)
    number = mantissa / _P10[decimals]
    value = np.zeros(5 * len(ok))
    has = np.zeros(5 * len(ok), bool)
    cell = 5 * word_line + _AXIS_OF[buf[at]]                  # (line, axis), row-major
    value[cell] = np.where(neg, -number, number)
    has[cell] = True
    value, has = value.reshape(-1, 5), has.reshape(-1, 5)
    index = np.flatnonzero(ok)
    return index, g[index] == ord("0"), has[index], value[index]


def _track(line: np.ndarray, given: np.ndarray, word: np.ndarray, relative: np.ndarray,
           set_line: np.ndarray, set_value: np.ndarray,
           initial: float) -> tuple[np.ndarray, np.ndarray]:
    """One modal value (an axis, E or F) before and after each move.

    Parameters
    ----------
    line : (M,) ascending line of each move.
    given, word, relative : (M,) the move sets the value, to `word` (absolute) or by
        adding `word` (relative, G91).
    set_line, set_value : (S,) assignments by other lines (G92, G28), ascending.
    initial : the value before any assignment.

    Returns
    -------
    (M,) float64 values before and after each move.

    The moves and the assignments are merged in line order and the last assignment is
    carried forward (a maximum-accumulate of indices: copies, no arithmetic). Relative words
    add to the value before them one after another, as the interpreter does.
    """
    m, n_set = len(line), len(set_line)
    at_set = np.searchsorted(line, set_line) + np.arange(n_set)  # slots in program order
    is_move = np.ones(m + n_set, bool)
    is_move[at_set] = False
    event = np.zeros(m + n_set, bool)
    value = np.zeros(m + n_set)
    event[is_move], value[is_move] = given, word
    event[at_set], value[at_set] = True, set_value
    last = np.maximum.accumulate(np.where(event, np.arange(m + n_set), -1))
    adds = np.flatnonzero(is_move)[relative & given] if relative.any() else []
    if len(adds):
        word_of = value.copy()
        for k in np.asarray(adds).tolist():
            prev = last[k - 1] if k else -1
            value[k] = (value[prev] if prev >= 0 else initial) + word_of[k]
    after = np.where(last >= 0, value[np.maximum(last, 0)], initial)
    before = np.concatenate([[initial], after[:-1]])
    return before[is_move], after[is_move]


def _assemble(p: _Parser, line: np.ndarray, rapid: np.ndarray, has: np.ndarray,
              value: np.ndarray) -> np.ndarray:
    """(M, 15) move rows from the moves (line numbers ascending) and `p`'s snapshots.

    Parameters
    ----------
    p : interpreter that read the other lines with ``defer_moves``.
    line : (M,) int64 1-based line of each move.
    rapid : (M,) bool.
    has, value : (M, 5) X Y Z E F words of each move.
    """
    m = len(line)
    init = (0.0, 0.0, 0.0, math.nan, p.mm3_per_e_base * 1.0, -1.0, -1.0)
    snap_line = np.array([s[0] for s in p.snapshots], dtype=np.int64)
    snap = np.array([init] + [s[1] for s in p.snapshots], dtype=np.float64).reshape(-1, 7)
    state = snap[np.searchsorted(snap_line, line, side="right")]   # (M, 7) modal state
    rel_xyz, rel_e = state[:, 0] > 0, state[:, 1] > 0
    sets = np.array(p.sets, dtype=np.float64).reshape(-1, 3)
    # the rows are filled column by column in place (np.column_stack of these arrays cost
    # as much as the tracking itself)
    rows = np.empty((m, _NCOLS), order="F")  # column by column: contiguous writes
    start, end = rows[:, 0:3], rows[:, 3:6]
    for i in range(3):
        own = sets[:, 1] == i
        start[:, i], end[:, i] = _track(line, has[:, i], value[:, i], rel_xyz,
                                        sets[own, 0].astype(np.int64), sets[own, 2], 0.0)
    # E: relative words as they are; absolute words less the last E set before them
    has_e = has[:, 3]
    absolute = has_e & ~rel_e & ~rel_xyz
    own = sets[:, 1] == 3
    e_before, _ = _track(line, absolute, value[:, 3], np.zeros(m, bool),
                         sets[own, 0].astype(np.int64), sets[own, 2], 0.0)
    rows[:, 6] = np.where(absolute, value[:, 3] - e_before, np.where(has_e, value[:, 3], 0.0))
    _, rows[:, 7] = _track(line, has[:, 4], value[:, 4], np.zeros(m, bool),
                           np.zeros(0, np.int64), np.zeros(0), math.nan)
    rows[:, 8] = rapid
    rows[:, 9:14] = state[:, 2:]
    rows[:, 14] = line
    return rows
