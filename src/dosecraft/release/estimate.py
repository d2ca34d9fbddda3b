"""Geometry-aware release prediction for a printed tablet.

`prepare_geometry` does the expensive, parameter-free part once (voxelise, wetted voids,
distance transform or Chebyshev moments); `GeometryModel.curve` then turns formulation
parameters into a curve in milliseconds, which calibration and inverse design rely on.
`estimate_release` is the one-call front for the pipeline.
"""

from dataclasses import dataclass

import trimesh

from dosecraft.errors import ReleaseModelError
from dosecraft.model.enums import ReleaseModelKind
from dosecraft.model.formulation import ReleaseParameters
from dosecraft.model.results import ReleaseEstimate
from dosecraft.model.toolpath import Toolpath
from dosecraft.release.body import ReleaseBody, build_body
from dosecraft.release.curves import ReleaseCurve, to_estimate
from dosecraft.release.diffusion import DiffusionCurve, DiffusionKernel
from dosecraft.release.erosion import ErosionCurve, ErosionKernel
from dosecraft.release.sav import DEFAULT_BETA, mesh_sa_v, sav_curve

#: Open pores narrower than this may stay dry (air entrapment, poor wetting of the matrix);
#: DOMAIN.md: very small pores slow release again, so lattices get a warning.
MIN_WETTING_PORE_MM = 0.3
#: Features (pores, body half-thickness) should span at least this many voxels.
MIN_FEATURE_VOXELS = 3.0
#: Sealed voids above this share of the envelope are worth telling the user about.
CLOSED_PORE_NOTICE = 0.01


@dataclass(frozen=True, eq=False)
class GeometryModel:
    """The parameter-free part of a geometry-aware estimator for one tablet.

    Attributes
    ----------
    kind : which estimator; body : the voxelised matrix (None for SA/V on a solid mesh).
    kernel : `DiffusionKernel` or `ErosionKernel` (None for SA/V).
    sa_v_per_mm, volume_mm3 : wetted SA/V and matrix volume used by the SA/V model.
    resolution_mm : voxel size; warnings : caveats about this geometry.
    """

    kind: ReleaseModelKind
    body: ReleaseBody | None
    kernel: DiffusionKernel | ErosionKernel | None
    sa_v_per_mm: float
    volume_mm3: float
    resolution_mm: float
    warnings: tuple[str, ...] = ()

    def curve(self, params: ReleaseParameters) -> ReleaseCurve:
        """The release curve for a formulation's parameters (lag included)."""
        if params.model != self.kind:
            raise ReleaseModelError(
                f"parameters are for the '{params.model}' model but this geometry was "
                f"prepared for '{self.kind}'"
            )
        if self.kind == ReleaseModelKind.DIFFUSION:
            assert isinstance(self.kernel, DiffusionKernel)
            return DiffusionCurve(self.kernel, self.resolution_mm,
                                  params.diffusion_coeff_mm2_min, params.lag_min)
        if self.kind == ReleaseModelKind.EROSION:
            assert isinstance(self.kernel, ErosionKernel)
            return ErosionCurve(self.kernel, params.erosion_rate_mm_min, params.lag_min)
        return sav_curve(self.sa_v_per_mm, params.mdt_sav_intercept_min,
                         params.mdt_sav_slope_min_mm, lag_min=params.lag_min)

    def parameters(self, params: ReleaseParameters) -> dict[str, float]:
        """Model and geometry figures for a `ReleaseEstimate` (all floats)."""
        out: dict[str, float] = {"lag_min": params.lag_min, "sa_v_per_mm": self.sa_v_per_mm,
                                 "volume_mm3": self.volume_mm3}
        if self.kind == ReleaseModelKind.DIFFUSION:
            out["diffusion_coeff_mm2_min"] = float(params.diffusion_coeff_mm2_min)
        elif self.kind == ReleaseModelKind.EROSION:
            out["erosion_rate_mm_min"] = float(params.erosion_rate_mm_min)
        else:
            out["mdt_sav_intercept_min"] = float(params.mdt_sav_intercept_min)
            out["mdt_sav_slope_min_mm"] = float(params.mdt_sav_slope_min_mm)
            out["weibull_beta"] = DEFAULT_BETA
        if self.body is not None:
            out["resolution_mm"] = self.resolution_mm
            out["porosity"] = self.body.porosity
            out["open_porosity"] = self.body.open_porosity
        return out


def _geometry_warnings(body: ReleaseBody, kind: ReleaseModelKind) -> list[str]:
    h = body.h_mm
    notes = []
    width = body.open_pore_width_mm
    if width is not None and body.open_porosity > 0.001:
        if width < MIN_WETTING_PORE_MM:
            notes.append(f"open pores about {width:.2f} mm wide: pores below "
                         f"{MIN_WETTING_PORE_MM:g} mm may not wet; release may be slower than "
                         "predicted")
        if width < MIN_FEATURE_VOXELS * h:
            notes.append(f"pores are only {width / h:.1f} voxels wide at {h:g} mm; use a finer "
                         "voxel size (dosecraft release predict --resolution)")
    if body.closed_porosity > CLOSED_PORE_NOTICE:
        fate = ("they flood when the erosion front reaches them"
                if kind == ReleaseModelKind.EROSION else "they are treated as impermeable")
        notes.append(f"{100 * body.closed_porosity:.1f} % of the tablet is sealed voids (closed "
                     f"by walls or skins); {fate}")
    if body.max_depth_mm < MIN_FEATURE_VOXELS * h:
        notes.append(f"the matrix is only {body.max_depth_mm / h:.1f} voxels deep at {h:g} mm; "
                     "use a finer voxel size (dosecraft release predict --resolution)")
    return notes


def prepare_geometry(mesh: trimesh.Trimesh, kind: ReleaseModelKind | str, *,
                     toolpath: Toolpath | None = None,
                     resolution_mm: float = 0.1) -> GeometryModel:
    """Voxelise a tablet and precompute what its estimator needs.

    Parameters
    ----------
    mesh : watertight envelope (mm); toolpath : printed beads (then the body is porous).
    kind : `ReleaseModelKind` (diffusion, erosion or sav_mdt).
    resolution_mm : voxel edge h.
    """
    try:
        kind = ReleaseModelKind(kind)
    except ValueError:
        raise ReleaseModelError(f"unknown release model '{kind}'; valid: "
                                f"{', '.join(k.value for k in ReleaseModelKind)}") from None
    if kind == ReleaseModelKind.SAV_MDT and toolpath is None:
        # A solid tablet needs no voxels: the mesh gives SA/V exactly.
        return GeometryModel(kind, None, None, mesh_sa_v(mesh), float(mesh.volume),
                             resolution_mm)
    body = build_body(mesh, resolution_mm, toolpath=toolpath)
    notes = _geometry_warnings(body, kind)
    if toolpath is None:
        sa_v, volume = mesh_sa_v(mesh), float(mesh.volume)
    else:
        sa_v, volume = body.sa_v_per_mm, body.volume_mm3
    kernel: DiffusionKernel | ErosionKernel | None = None
    if kind == ReleaseModelKind.DIFFUSION:
        kernel = DiffusionKernel.from_body(body)
    elif kind == ReleaseModelKind.EROSION:
        kernel = ErosionKernel.from_body(body)
    return GeometryModel(kind, body, kernel, sa_v, volume, resolution_mm, tuple(notes))


def estimate_release(mesh: trimesh.Trimesh, params: ReleaseParameters, *,
                     toolpath: Toolpath | None = None, resolution_mm: float = 0.1,
                     t_max_min: float | None = None) -> ReleaseEstimate:
    """Predict the release curve of a printed tablet from its real geometry.

    Parameters
    ----------
    mesh : the tablet's watertight envelope in mm (on z = 0, centred in XY).
    params : the formulation's release parameters; `params.model` picks the estimator
        (diffusion, erosion or sav_mdt) and `params.lag_min` delays the whole curve.
    toolpath : the printed beads; with it, infill voids open to the medium speed release.
    resolution_mm : voxel edge h (0.1 mm resolves 0.4 mm beads).
    t_max_min : end of the time grid; default: when 99 % of the releasable drug is out.

    Returns
    -------
    ReleaseEstimate
        (241,) time grid and fraction released, t50, t80, MDT, model, parameters, warnings.
    """
    geometry = prepare_geometry(mesh, params.model, toolpath=toolpath,
                                resolution_mm=resolution_mm)
    curve = geometry.curve(params)
    notes = geometry.warnings
    if params.source == "example":
        notes = (*notes, "release parameters are uncalibrated examples; calibrate them with "
                         "measured dissolution data before relying on the curve")
    return to_estimate(curve, t_max_min=t_max_min, parameters=geometry.parameters(params),
                       warnings=notes)
