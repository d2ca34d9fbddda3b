"""Errors of the QC package, in the one `DosecraftError` hierarchy.

They live here until `dosecraft.errors` adopts them (the QC package is owned separately).
"""

from dosecraft.errors import DosecraftError


class QCError(DosecraftError):
    """QC data are unusable: wrong shape, non-finite or non-positive values, bad file."""


class CalibrationRefused(QCError):
    """A calibration was computed but must not be stored; `reasons` lists every cause."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        self.reasons = reasons
        super().__init__("calibration refused: " + "; ".join(reasons))
