"""Release-estimator benchmark: a 10 mm × 4 mm cylinder at 0.1 mm voxels.

Prints the median wall time of several full `estimate_release` calls (voxelise, wetted
voids, kernel, curve, t50/t80/MDT) per model, and a stage breakdown. Goal: ≤ 3 s per
prediction on 2 cores. Run: `.venv/bin/python bench/release_bench.py [--runs N]`.
"""

import argparse
import statistics
import time

import numpy as np
import trimesh

from dosecraft.model.formulation import ReleaseParameters
from dosecraft.release.body import build_body
from dosecraft.release.diffusion import DiffusionKernel
from dosecraft.release.erosion import ErosionKernel
from dosecraft.release.estimate import estimate_release

RESOLUTION_MM = 0.1
MODELS = {
    "diffusion": ReleaseParameters(model="diffusion", diffusion_coeff_mm2_min=0.01,
                                   source="bench"),
    "erosion": ReleaseParameters(model="erosion", erosion_rate_mm_min=0.02, source="bench"),
    "sav_mdt": ReleaseParameters(model="sav_mdt", mdt_sav_intercept_min=5.0,
                                 mdt_sav_slope_min_mm=40.0, source="bench"),
}


def tablet() -> trimesh.Trimesh:
    mesh = trimesh.creation.cylinder(radius=5.0, height=4.0, sections=128)
    mesh.apply_translation([0.0, 0.0, 2.0])
    return mesh


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def toolpath_or_none(mesh: trimesh.Trimesh, density: float):
    """The real slicer's toolpath when it is importable (30 % rectilinear), else None."""
    try:
        from dosecraft.model.design import InfillStrategy
        from dosecraft.model.enums import InfillPattern
        from dosecraft.profiles import load_profile
        from dosecraft.slicer import slice_tablet
    except ImportError:
        return None
    return slice_tablet(mesh, load_profile("generic_fdm_175"),
                        InfillStrategy(density, InfillPattern.RECTILINEAR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    mesh = tablet()
    print(f"10 mm × 4 mm cylinder, {len(mesh.faces)} faces, h = {RESOLUTION_MM} mm, "
          f"median of {args.runs} runs")

    t_body, body = timed(lambda: build_body(mesh, RESOLUTION_MM), args.runs)
    print(f"  voxelise + wetted voids : {t_body:6.3f} s  ({body.n_solid} matrix voxels, "
          f"grid {body.solid.shape})")
    t_kernel, _ = timed(lambda: DiffusionKernel.from_body(body), args.runs)

    def kernel_to_tail() -> DiffusionKernel:
        kernel = DiffusionKernel.from_body(body)
        kernel.mdt_tau()
        return kernel

    t_mdt, kernel = timed(kernel_to_tail, args.runs)
    print(f"  diffusion operator      : {t_kernel:6.3f} s;  with all moments: {t_mdt:6.3f} s "
          f"({kernel.n_moments} Chebyshev moments, {kernel.n_moments // 2} mat-vecs)")
    t_edt, _ = timed(lambda: ErosionKernel.from_body(body), args.runs)
    print(f"  erosion distance map    : {t_edt:6.3f} s")

    for name, params in MODELS.items():
        t_est, est = timed(lambda p=params: estimate_release(mesh, p,
                                                             resolution_mm=RESOLUTION_MM),
                           args.runs)
        flag = "ok" if t_est <= 3.0 else "SLOW (goal ≤ 3 s)"
        print(f"estimate_release {name:9s}: {t_est:6.3f} s  t50 {est.t50_min:7.2f}  "
              f"t80 {est.t80_min:7.2f}  MDT {est.mdt_min:7.2f} min  [{flag}]")

    toolpath = toolpath_or_none(mesh, 0.3)
    if toolpath is None:
        print("(dosecraft.slicer not importable: porous-body timings skipped)")
        return
    for name in ("diffusion", "erosion"):
        t_est, est = timed(lambda n=name: estimate_release(mesh, MODELS[n], toolpath=toolpath,
                                                           resolution_mm=RESOLUTION_MM),
                           args.runs)
        porosity = est.parameters.get("porosity", np.nan)
        print(f"30 % infill toolpath {name:9s}: {t_est:6.3f} s  t80 {est.t80_min:7.2f} min  "
              f"(porosity {porosity:.2f})")


if __name__ == "__main__":
    main()
