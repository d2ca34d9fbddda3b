"""Read QC tablet weights from CSV: `tablet_id,rx_id,mass_mg[,content_pct]`.

A bad row never hides the good ones: every row is either a `TabletWeight` or a
`WeightRowError` that names the line, the field and the value. Only a file that cannot be
read as a table at all raises.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dosecraft.constants import RX_ID_PATTERN
from dosecraft.number_text import comma_problem
from dosecraft.qc.errors import QCError

REQUIRED_COLUMNS: tuple[str, ...] = ("tablet_id", "rx_id", "mass_mg")
OPTIONAL_COLUMNS: tuple[str, ...] = ("content_pct",)
#: Above this a "tablet" weight is a typo (grams, a tare) rather than a tablet.
MASS_MAX_MG = 5000.0
#: Assayed contents above this are analytical errors, not tablets.
CONTENT_MAX_PCT = 200.0
MAX_FILE_BYTES = 5 * 1024 * 1024

_ID_RE = re.compile(RX_ID_PATTERN)


@dataclass(frozen=True)
class TabletWeight:
    """One weighed tablet. `line` is the 1-based line number in the file (header = 1)."""

    line: int
    tablet_id: str
    rx_id: str
    mass_mg: float
    content_pct: float | None = None


@dataclass(frozen=True)
class WeightRowError:
    """A row that could not be used, with the field and raw value at fault."""

    line: int
    field: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}"
        if self.field:
            where += f", {self.field} = {self.value!r}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class WeightsFile:
    """Everything read from a weights file: good rows and per-row errors, in file order."""

    rows: tuple[TabletWeight, ...]
    errors: tuple[WeightRowError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors

    def masses_by_rx(self) -> dict[str, np.ndarray]:
        """rx_id → (n,) float64 masses in mg, in file order."""
        groups: dict[str, list[float]] = defaultdict(list)
        for r in self.rows:
            groups[r.rx_id].append(r.mass_mg)
        return {k: np.asarray(v, dtype=np.float64) for k, v in groups.items()}

    def contents_by_rx(self) -> dict[str, np.ndarray]:
        """rx_id → (n,) float64 assayed contents (% label claim) of the rows that have one."""
        groups: dict[str, list[float]] = defaultdict(list)
        for r in self.rows:
            if r.content_pct is not None:
                groups[r.rx_id].append(r.content_pct)
        return {k: np.asarray(v, dtype=np.float64) for k, v in groups.items()}


def _number(text: str, field: str) -> float:
    """Parse a plain decimal number; raise ValueError with a message a user can act on."""
    t = text.strip()
    if not t:
        raise ValueError("is empty")
    problem = comma_problem(t)
    if problem is not None:
        raise ValueError(problem.replace(f"'{t}' ", "", 1))  # the caller names the cell
    try:
        value = float(t)
    except ValueError:
        unit = re.sub(r"^[-+\d.eE\s]+", "", t)
        if unit and unit != t:
            raise ValueError(f"has a unit ('{unit}'); write a plain number in {field}") from None
        raise ValueError("is not a number") from None
    if not math.isfinite(value):
        raise ValueError("is not a finite number")
    return value


def _read_text(source: str | os.PathLike | bytes) -> str:
    if isinstance(source, bytes):
        raw = source
    else:
        path = Path(source)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise QCError(f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MiB; "
                          "a weights file holds at most a few thousand tablets")
        raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        raise QCError(f"weights file is not UTF-8 text (byte {exc.start})") from None


def read_weights_csv(source: str | os.PathLike | bytes) -> WeightsFile:
    """Read a QC weights CSV file (a path, or the file's bytes).

    Parameters
    ----------
    source : path to the file, or its raw bytes. Comma-separated with a header naming
        `tablet_id`, `rx_id`, `mass_mg` and optionally `content_pct`, in any order.

    Returns
    -------
    WeightsFile
        Valid rows and one `WeightRowError` per bad row (empty or non-numeric mass,
        decimal comma, unit in the cell, mass ≤ 0 or above 5000 mg, content outside
        0–200 %, malformed or duplicate tablet_id, malformed rx_id, wrong column count).

    Raises
    ------
    QCError
        When the file has no header, misses a required column or has an unknown one.
    """
    text = _read_text(source)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise QCError("weights file is empty: expected a header "
                      f"{','.join(REQUIRED_COLUMNS)}[,{OPTIONAL_COLUMNS[0]}]")
    names = [h.strip().lower() for h in header]
    if len(names) == 1 and ";" in names[0]:
        raise QCError("weights file is separated by ';'; save it as comma-separated CSV")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    unknown = [c for c in names if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown or len(set(names)) != len(names):
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(repr(u) for u in unknown)}")
        if len(set(names)) != len(names):
            parts.append("a column appears twice")
        raise QCError("weights file header: " + "; ".join(parts) + ". Valid columns: "
                      + ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS))

    rows: list[TabletWeight] = []
    errors: list[WeightRowError] = []
    seen: dict[str, int] = {}
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines (often at the end) are not data
        if len(cells) != len(names):
            errors.append(WeightRowError(line_no, None, None,
                                         f"has {len(cells)} cells, the header has {len(names)}"))
            continue
        rec = {n: c.strip() for n, c in zip(names, cells, strict=True)}
        row_errors: list[WeightRowError] = []
        for field in ("tablet_id", "rx_id"):
            if not _ID_RE.match(rec[field]):
                row_errors.append(WeightRowError(
                    line_no, field, rec[field],
                    "must be 1–64 letters, digits, '_', '-' or '.', not starting with '.'"))
        mass = content = None
        try:
            mass = _number(rec["mass_mg"], "mass_mg")
            if not 0 < mass <= MASS_MAX_MG:
                raise ValueError(f"must be above 0 and at most {MASS_MAX_MG:g} mg")
        except ValueError as exc:
            row_errors.append(WeightRowError(line_no, "mass_mg", rec["mass_mg"], str(exc)))
        if rec.get("content_pct"):
            try:
                content = _number(rec["content_pct"], "content_pct")
                if not 0 <= content <= CONTENT_MAX_PCT:
                    raise ValueError(f"must lie within 0–{CONTENT_MAX_PCT:g} % of label claim")
            except ValueError as exc:
                row_errors.append(WeightRowError(line_no, "content_pct", rec["content_pct"],
                                                 str(exc)))
        tid = rec["tablet_id"]
        if tid in seen:
            row_errors.append(WeightRowError(line_no, "tablet_id", tid,
                                             f"duplicates line {seen[tid]}"))
        else:
            seen[tid] = line_no
        if row_errors:
            errors.extend(row_errors)
            continue
        assert mass is not None
        rows.append(TabletWeight(line_no, tid, rec["rx_id"], mass, content))
    return WeightsFile(tuple(rows), tuple(errors))
