"""Data types of dosecraft: no I/O, no algorithms."""

from dosecraft.model.design import InfillStrategy, TabletDesign
from dosecraft.model.enums import (
    ExtruderKind,
    Firmware,
    InfillPattern,
    ReleaseKind,
    ReleaseModelKind,
    ShapeKind,
    Technology,
    ToolRole,
)
from dosecraft.model.formulation import Formulation, ReleaseParameters
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS, Prescription
from dosecraft.model.profile import PrinterProfile
from dosecraft.model.results import DoseCheck, ReleaseEstimate
from dosecraft.model.toolpath import ExtrusionPath, Toolpath, ToolpathArrays, ToolpathLayer

__all__ = [
    "PRESCRIPTION_COLUMNS", "DoseCheck", "ExtruderKind", "ExtrusionPath", "Firmware",
    "Formulation", "InfillPattern", "InfillStrategy", "Prescription", "PrinterProfile",
    "ReleaseEstimate", "ReleaseKind", "ReleaseModelKind", "ReleaseParameters", "ShapeKind",
    "TabletDesign", "Technology", "Toolpath", "ToolpathArrays", "ToolpathLayer", "ToolRole",
]
