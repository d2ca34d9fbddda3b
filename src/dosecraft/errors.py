"""The one error hierarchy of dosecraft.

Every message says what was wrong, with the value, and what would work.
"""


class DosecraftError(Exception):
    """Base class for every error dosecraft raises on purpose."""


class InvalidPrescription(DosecraftError):
    """A prescription field is missing, malformed or outside its allowed range.

    `errors` lists every problem as (field, value, message); `field` and `value` are the
    first one's ("" as field for a problem of the whole prescription).
    """

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None,
                 value: object = None,
                 errors: tuple[tuple[str, object, str], ...] = ()) -> None:
        self.row = row
        self.field = field
        self.value = value
        self.errors = errors or ((field or "", value, message),)
        prefix = f"row {row}: " if row is not None else ""
        super().__init__(prefix + message)


class InfeasibleDose(DosecraftError):
    """No allowed tablet of this formulation and printer can hold the prescribed dose."""


class UnknownFormulation(DosecraftError):
    """The formulation ID is not in the formulary."""


class FormularyError(DosecraftError):
    """A formulary data file is malformed."""


class ProfileError(DosecraftError):
    """A printer profile is unknown, malformed or inconsistent."""


class ShapeError(DosecraftError):
    """A shape kind or its dimensions are invalid, or a user mesh is unusable."""


class SlicingError(DosecraftError):
    """The slicer could not turn the mesh into valid toolpaths."""


class GcodeError(DosecraftError):
    """G-code could not be written or parsed."""


class DoseCheckFailed(DosecraftError):
    """The G-code does not deliver the prescribed dose within tolerance."""


class ReleaseModelError(DosecraftError):
    """A release model could not be fitted or evaluated."""


class DissolutionDataError(ReleaseModelError):
    """A dissolution data file is missing or malformed."""


class RecordsError(DosecraftError):
    """The compounding records are missing, inconsistent or tampered with."""


class PrinterError(DosecraftError):
    """A printer could not be reached or refused a job."""
