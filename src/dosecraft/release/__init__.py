"""Release: kinetic models and fitting, profile comparison, geometry-aware estimators.

Empirical side: `fit_models` (DDSolver-style fits ranked by AIC), `similarity` (f1/f2 with
the regulatory conditions), `mdt_profile`, `release_times`. Geometry side: `estimate_release`
voxelises the tablet (mesh, and toolpath when given) and runs the formulation's estimator
(Fickian diffusion, erosion front or SA/V–MDT); `calibrate` fits its parameters on measured
data; `choose_design` searches shapes and infills for a target release.
"""

from dosecraft.release.body import ReleaseBody, body_from_mask, build_body
from dosecraft.release.calibrate import (
    Calibration,
    calibrate,
    calibrate_detailed,
    calibrate_sav_mdt,
)
from dosecraft.release.compare import (
    Similarity,
    f1_factor,
    f2_factor,
    mdt_profile,
    release_times,
    similarity,
    time_to_percent,
)
from dosecraft.release.curves import ReleaseCurve, time_to_fraction, to_estimate
from dosecraft.release.diffusion import DiffusionCurve, DiffusionKernel, diffusion_operator
from dosecraft.release.erosion import ErosionCurve, ErosionKernel
from dosecraft.release.estimate import GeometryModel, estimate_release, prepare_geometry
from dosecraft.release.fitting import FitReport, FitResult, fit_model, fit_models, mean_profile
from dosecraft.release.inverse import CandidateResult, InverseResult, ReleaseTarget, choose_design
from dosecraft.release.models import MODELS, KineticModel, get_model
from dosecraft.release.voxel import VoxelGrid, voxelize_mesh, voxelize_toolpath

__all__ = [
    "MODELS", "CandidateResult", "Calibration", "DiffusionCurve", "DiffusionKernel",
    "ErosionCurve", "ErosionKernel", "FitReport", "FitResult", "GeometryModel",
    "InverseResult", "KineticModel", "ReleaseBody", "ReleaseCurve", "ReleaseTarget",
    "Similarity", "VoxelGrid", "body_from_mask", "build_body", "calibrate",
    "calibrate_detailed", "calibrate_sav_mdt", "choose_design", "diffusion_operator",
    "estimate_release", "f1_factor", "f2_factor", "fit_model", "fit_models", "get_model",
    "mdt_profile", "mean_profile", "prepare_geometry", "release_times", "similarity",
    "time_to_fraction", "time_to_percent", "to_estimate", "voxelize_mesh", "voxelize_toolpath",
]
