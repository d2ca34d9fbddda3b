"""Release: kinetic models and fitting, profile comparison, geometry-aware estimators.

Empirical side: `fit_models` (DDSolver-style fits ranked by AIC), `similarity` (f1/f2 with
the regulatory conditions), `mdt_profile`, `release_times`. Geometry side: `estimate_release`
voxelises the tablet (mesh, and toolpath when given) and runs the formulation's estimator
(Fickian diffusion, erosion front or SA/V–MDT); `calibrate_detailed` fits its parameters
on measured data; `choose_design` searches shapes and infills for a target release.
"""

from typing import TYPE_CHECKING

from dosecraft.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from dosecraft.release.body import ReleaseBody, body_from_mask, build_body
    from dosecraft.release.calibrate import (
        Calibration,
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
    from dosecraft.release.inverse import (
        CandidateResult,
        InverseResult,
        ReleaseTarget,
        choose_design,
    )
    from dosecraft.release.models import MODELS, KineticModel, get_model
    from dosecraft.release.voxel import VoxelGrid, voxelize_mesh, voxelize_toolpath

#: Public name → submodule, imported on first use: `calibrate` and `fitting` bring in
#: scipy.stats and scipy.optimize (~0.4 s), which designing a tablet does not need. The
#: function `calibrate.calibrate` is not listed: `dosecraft.release.calibrate` is its
#: module, whichever was imported first.
_WHERE = {
    "body_from_mask": "body",
    "build_body": "body",
    "calibrate_detailed": "calibrate",
    "calibrate_sav_mdt": "calibrate",
    "Calibration": "calibrate",
    "CandidateResult": "inverse",
    "choose_design": "inverse",
    "diffusion_operator": "diffusion",
    "DiffusionCurve": "diffusion",
    "DiffusionKernel": "diffusion",
    "ErosionCurve": "erosion",
    "ErosionKernel": "erosion",
    "estimate_release": "estimate",
    "f1_factor": "compare",
    "f2_factor": "compare",
    "fit_model": "fitting",
    "fit_models": "fitting",
    "FitReport": "fitting",
    "FitResult": "fitting",
    "GeometryModel": "estimate",
    "get_model": "models",
    "InverseResult": "inverse",
    "KineticModel": "models",
    "mdt_profile": "compare",
    "mean_profile": "fitting",
    "MODELS": "models",
    "prepare_geometry": "estimate",
    "release_times": "compare",
    "ReleaseBody": "body",
    "ReleaseCurve": "curves",
    "ReleaseTarget": "inverse",
    "Similarity": "compare",
    "similarity": "compare",
    "time_to_fraction": "curves",
    "time_to_percent": "compare",
    "to_estimate": "curves",
    "VoxelGrid": "voxel",
    "voxelize_mesh": "voxel",
    "voxelize_toolpath": "voxel",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())

__all__ = [
    "MODELS", "CandidateResult", "Calibration", "DiffusionCurve", "DiffusionKernel",
    "ErosionCurve", "ErosionKernel", "FitReport", "FitResult", "GeometryModel", "InverseResult",
    "KineticModel", "ReleaseBody", "ReleaseCurve", "ReleaseTarget", "Similarity", "VoxelGrid",
    "body_from_mask", "build_body", "calibrate_detailed", "calibrate_sav_mdt", "choose_design",
    "diffusion_operator", "estimate_release", "f1_factor", "f2_factor", "fit_model", "fit_models",
    "get_model", "mdt_profile", "mean_profile", "prepare_geometry", "release_times", "similarity",
    "time_to_fraction", "time_to_percent", "to_estimate", "voxelize_mesh", "voxelize_toolpath",
]
