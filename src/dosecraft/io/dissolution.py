"""Dissolution data files: ``time_min,percent_released[,replicate]`` CSVs."""

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dosecraft.errors import DissolutionDataError

if TYPE_CHECKING:
    from dosecraft.release.fitting import MeanProfile

#: Dissolution files are a few hundred rows; refuse anything far beyond that.
MAX_DATA_BYTES = 5 * 1024 * 1024
DATA_COLUMNS = ("time_min", "percent_released")


@dataclass(frozen=True, eq=False)
class Dissolution:
    """A dissolution data file.

    Attributes
    ----------
    path : the file. time_min, pct : (N,) observations (repeated times are replicates).
    replicate : (N,) vessel labels, or None when the file has no ``replicate`` column.
    """

    path: Path
    time_min: np.ndarray
    pct: np.ndarray
    replicate: tuple[str, ...] | None

    @property
    def mean(self) -> "MeanProfile":
        from dosecraft.release import mean_profile

        return mean_profile(self.time_min, self.pct)

    @property
    def n_units(self) -> int:
        if self.replicate is not None:
            return len(set(self.replicate))
        return int(np.unique(self.time_min, return_counts=True)[1].max())

    def units(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(P,) times and (units, P) % released when every vessel has each time once."""
        times = np.unique(self.time_min)
        if self.replicate is None:
            return (times, self.pct[None, :]) if times.size == self.pct.size else None
        labels = sorted(set(self.replicate))
        rows = np.searchsorted(labels, np.asarray(self.replicate))
        cols = np.searchsorted(times, self.time_min)
        if np.bincount(rows * times.size + cols, minlength=len(labels) * times.size).min() != 1:
            return None
        table = np.empty((len(labels), times.size))
        table[rows, cols] = self.pct
        return times, table

    def paired_with(self, other: "Dissolution"
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Shared times and both profiles on them: per vessel when both files allow it
        (so `similarity` checks the CV conditions), else the means.

        Returns
        -------
        (P,) times, reference and test data ((P,) or (units, P)), notes for the user.
        """
        a, b = np.unique(self.time_min), np.unique(other.time_min)
        common, only_one = np.intersect1d(a, b), np.setxor1d(a, b)
        notes = []
        if only_one.size:
            notes.append("times in only one file are left out of f1/f2: "
                         + ", ".join(f"{t:g}" for t in only_one) + " min")
        mine, theirs = self.units(), other.units()
        if mine is None or theirs is None:
            notes.append("vessels do not each have every time point: the means are compared "
                         "and the CV conditions are not checked")
            ref, tst = self.mean, other.mean
            return (common, ref.mean_pct[np.isin(ref.time_min, common)],
                    tst.mean_pct[np.isin(tst.time_min, common)], notes)
        return (common, mine[1][:, np.isin(mine[0], common)],
                theirs[1][:, np.isin(theirs[0], common)], notes)


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DissolutionDataError(f"{where}: {column} = {text!r} is not a number") from None
    if not math.isfinite(value):
        raise DissolutionDataError(f"{where}: {column} = {text!r} is not a finite number")
    return value


#: A profile whose largest value after t = 0 lies in this range is fractions, not percent
#: (0.9 = 90 %, with assay scatter up to 1.2): read as percent it would be a tablet that
#: never releases. Below the range it can be a real acid-stage profile (< 0.5 % released).
FRACTION_LIKE_RANGE = (0.5, 1.2)


def read_dissolution(path: Path) -> Dissolution:
    """Read ``time_min,percent_released[,replicate]`` (header required, ``#`` lines and
    extra columns ignored).

    Raises
    ------
    DissolutionDataError
        Missing or unreadable file, missing column, a cell that is not a number (naming
        the line and column), a negative time, or no data rows.
    """
    try:
        if path.stat().st_size > MAX_DATA_BYTES:
            raise DissolutionDataError(f"{path} is larger than {MAX_DATA_BYTES >> 20} MB; is "
                                       "it a dissolution CSV?")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DissolutionDataError(f"dissolution file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DissolutionDataError(f"cannot read dissolution file {path}: {exc}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    cells = list(csv.reader(line for _, line in lines))
    header = [h.strip().lower() for h in cells[0]] if cells else []
    missing = [c for c in DATA_COLUMNS if c not in header]
    if missing:
        raise DissolutionDataError(
            f"{path}: missing column {', '.join(missing)}; a dissolution CSV has the header "
            f"time_min,percent_released[,replicate] (found: {', '.join(header) or 'nothing'})")
    i_t, i_p = header.index("time_min"), header.index("percent_released")
    i_r = header.index("replicate") if "replicate" in header else None
    times, pcts, reps = [], [], []
    for (line_no, _), row in zip(lines[1:], cells[1:], strict=True):
        where = f"{path.name} line {line_no}"
        if len(row) < len(header):
            raise DissolutionDataError(f"{where}: {len(row)} cells, the header has "
                                       f"{len(header)}")
        t = _number(row[i_t].strip(), where, "time_min")
        if t < 0:
            raise DissolutionDataError(f"{where}: time_min = {t:g} is negative")
        times.append(t)
        pcts.append(_number(row[i_p].strip(), where, "percent_released"))
        if i_r is not None:
            if not row[i_r].strip():
                raise DissolutionDataError(f"{where}: replicate is empty")
            reps.append(row[i_r].strip())
    if not times:
        raise DissolutionDataError(f"{path}: no data rows under the header")
    late = [p for t, p in zip(times, pcts, strict=True) if t > 0]
    low, high = FRACTION_LIKE_RANGE
    if len(late) >= 2 and low <= max(late) <= high:
        # 0.5, 0.9, 0.98 … is fractions; read as percent it is a tablet that never releases
        raise DissolutionDataError(
            f"{path}: percent_released never exceeds {max(late):g}; these look like "
            f"fractions; write percent ({100 * max(late):g}, not {max(late):g})")
    return Dissolution(path, np.array(times), np.array(pcts),
                       tuple(reps) if i_r is not None else None)
