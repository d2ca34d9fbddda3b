"""Quality control of printed batches: content uniformity, mass accuracy, calibration."""

from dosecraft.qc.calibration import CalibrationResult, mass_factor_from_weights
from dosecraft.qc.errors import CalibrationRefused, QCError
from dosecraft.qc.uniformity import (
    AVResult,
    PhEurResult,
    acceptance_value,
    acceptance_value_from_weights,
    contents_from_weights,
    mass_accuracy,
    ph_eur_content_uniformity,
    reference_value,
)
from dosecraft.qc.weights_csv import TabletWeight, WeightRowError, WeightsFile, read_weights_csv

__all__ = [
    "AVResult", "CalibrationRefused", "CalibrationResult", "PhEurResult", "QCError",
    "TabletWeight", "WeightRowError", "WeightsFile", "acceptance_value",
    "acceptance_value_from_weights", "contents_from_weights", "mass_accuracy",
    "mass_factor_from_weights", "ph_eur_content_uniformity", "read_weights_csv",
    "reference_value",
]
