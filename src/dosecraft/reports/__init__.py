"""Compounding records for people: worksheet and label PDFs, release plots."""

from dosecraft.reports.batchinfo import BatchInfo, FormulationLot
from dosecraft.reports.labels import (
    LabelData,
    LabelError,
    StorageCondition,
    StrengthUnit,
    build_labels,
    labels_from_rows,
    make_label,
    write_labels,
)
from dosecraft.reports.plots import Profile, ReleaseCurve, draw_release, release_plot_png
from dosecraft.reports.worksheet import build_worksheet, write_worksheet

__all__ = [
    "BatchInfo", "FormulationLot", "LabelData", "LabelError", "Profile", "ReleaseCurve",
    "StorageCondition", "StrengthUnit", "build_labels", "build_worksheet", "draw_release",
    "labels_from_rows", "make_label", "release_plot_png", "write_labels", "write_worksheet",
]
