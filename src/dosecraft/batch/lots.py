"""Formulation lots of a batch: which lot of material each formulation was printed from.

``--lot L42 --lot-expiry 2027-03-31`` gives every formulation of the batch the same lot;
``--lot paracetamol_pva_fdm=L42 --lot-expiry paracetamol_pva_fdm=2027-03-31`` names the lot
of one formulation (repeat for others; a plain value is the default for the rest). An
expired lot is refused before anything is printed.

Without a lot, the batch still runs: the records hold no lot, the worksheet says in red
that no lot was recorded, and no labels are printed, because a patient label must carry
the lot it was made from (its QR code encodes it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dosecraft.errors import DosecraftError
from dosecraft.reports.batchinfo import LOT_PATTERN

_LOT = re.compile(LOT_PATTERN)
ALL = "*"
#: Default use-by: this many days after the compounding date, never beyond the lot's expiry.
DEFAULT_USE_BY_DAYS = 30


class LotError(DosecraftError):
    """A lot option is malformed, incomplete or expired."""


def _split(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    return (key.strip(), value.strip()) if sep else (ALL, item.strip())


@dataclass(frozen=True)
class Lots:
    """Lot and expiry per formulation ID (``"*"``: every formulation not named)."""

    lot: dict[str, str] = field(default_factory=dict)
    expiry: dict[str, dt.date] = field(default_factory=dict)

    @classmethod
    def parse(cls, lots: Sequence[str] = (), expiries: Sequence[str] = ()) -> Lots:
        """Read the CLI values (see the module docstring).

        Raises
        ------
        LotError
            A malformed lot or date, a formulation given twice, a lot without expiry or
            an expiry without lot.
        """
        lot: dict[str, str] = {}
        expiry: dict[str, dt.date] = {}
        for item in lots:
            key, value = _split(item)
            if not _LOT.match(value):
                raise LotError(f"--lot {item!r}: a lot is 1–24 letters, digits, '-', '_', "
                               "'/' or '.', starting with a letter or digit")
            if key in lot:
                raise LotError(f"--lot given twice for {key if key != ALL else 'the batch'}")
            lot[key] = value
        for item in expiries:
            key, value = _split(item)
            try:
                expiry[key] = dt.date.fromisoformat(value)
            except ValueError:
                raise LotError(f"--lot-expiry {item!r}: give the date as YYYY-MM-DD") from None
        for key in lot.keys() - expiry.keys():
            raise LotError(f"lot {lot[key]!r} has no expiry: add --lot-expiry "
                           f"{'' if key == ALL else key + '='}YYYY-MM-DD")
        for key in expiry.keys() - lot.keys():
            raise LotError(f"--lot-expiry for {key if key != ALL else 'the batch'} has no "
                           "--lot")
        return cls(lot, expiry)

    def __bool__(self) -> bool:
        return bool(self.lot)

    def check_not_expired(self, today: dt.date) -> None:
        """Refuse a lot whose expiry date has passed."""
        for key, date in sorted(self.expiry.items()):
            if date < today:
                what = "the batch lot" if key == ALL else f"the lot of {key}"
                raise LotError(f"{what} ({self.lot[key]}) expired on {date.isoformat()}; "
                               "refusing to print from an expired lot")

    def for_formulations(self, ids: Iterable[str]) -> dict[str, tuple[str, dt.date]]:
        """Formulation ID → (lot, expiry) for the formulations that have one."""
        out: dict[str, tuple[str, dt.date]] = {}
        for fid in ids:
            key = fid if fid in self.lot else ALL
            if key in self.lot:
                out[fid] = (self.lot[key], self.expiry[key])
        return out

    def unknown(self, ids: Iterable[str]) -> list[str]:
        """Formulations named by a lot option that the batch does not use (likely typos)."""
        used = set(ids)
        return sorted(k for k in self.lot if k != ALL and k not in used)

    def as_options(self) -> dict[str, dict[str, str]]:
        """JSON-ready form for the batch options (and so the batch ID)."""
        return {"lot": dict(sorted(self.lot.items())),
                "lot_expiry": {k: v.isoformat() for k, v in sorted(self.expiry.items())}}


def default_use_by(batch_date: dt.date, expiries: Iterable[dt.date]) -> dt.date:
    """min(compounding date + 30 days, earliest lot expiry).

    30 days is dosecraft's conservative default for printed solid tablets, not a
    pharmacopoeial figure: set ``--use-by`` from your own stability data.
    """
    limit = batch_date + dt.timedelta(days=DEFAULT_USE_BY_DAYS)
    return min([limit, *expiries])
