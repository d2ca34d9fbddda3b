"""The numerical estimators against exact solutions (Crank diffusion, erosion fronts)."""

import numpy as np
import pytest
import trimesh
from scipy import ndimage as ndi
from scipy.sparse.linalg import expm_multiply

from dosecraft.errors import ReleaseModelError
from dosecraft.release import exact
from dosecraft.release.body import body_from_mask, build_body, wetted_voids
from dosecraft.release.diffusion import DiffusionCurve, DiffusionKernel, diffusion_operator
from dosecraft.release.erosion import ErosionCurve, ErosionKernel, erosion_depths

D = 0.01  # mm²/min


def _centres(cells: int, h: float) -> np.ndarray:
    return (np.arange(cells) - cells / 2 + 0.5) * h


def _check_crank(curve: DiffusionCurve, exact_fraction, mdt_exact: float) -> tuple[float, float]:
    """Max abs error on 60 times up to 3 MDT, and relative MDT error."""
    t = np.linspace(0.0, 3.0 * mdt_exact, 61)[1:]
    err = np.abs(curve.fraction(t) - exact_fraction(t)).max()
    return float(err), curve.mdt_min / mdt_exact - 1.0


def test_crank_slab_both_faces():
    thickness, cells = 2.0, 40
    h = thickness / cells
    op = diffusion_operator(np.ones((cells, 1, 1), bool),
                            edges=("sink", "no_flux", "no_flux"))
    curve = DiffusionCurve(DiffusionKernel(op), h, D)
    err, mdt_err = _check_crank(curve, lambda t: exact.crank_slab(t, thickness, D),
                                exact.mdt_slab(thickness, D))
    assert err < 0.02
    assert abs(mdt_err) < 0.03


def test_crank_long_cylinder_on_2d_grid():
    radius, per_radius = 2.0, 20
    h = radius / per_radius
    x = _centres(2 * per_radius + 4, h)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    disc = (xx**2 + yy**2 <= radius**2)[:, :, None]
    op = diffusion_operator(disc, edges=("sink", "sink", "no_flux"))
    curve = DiffusionCurve(DiffusionKernel(op), h, D)
    err, mdt_err = _check_crank(curve, lambda t: exact.crank_cylinder(t, radius, D),
                                exact.mdt_cylinder(radius, D))
    assert err < 0.02
    assert abs(mdt_err) < 0.03


def test_crank_sphere_on_3d_grid():
    radius, per_radius = 2.0, 16
    h = radius / per_radius
    x = _centres(2 * per_radius + 4, h)
    xx, yy, zz = np.meshgrid(x, x, x, indexing="ij")
    ball = xx**2 + yy**2 + zz**2 <= radius**2
    curve = DiffusionCurve(DiffusionKernel(diffusion_operator(ball)), h, D)
    err, mdt_err = _check_crank(curve, lambda t: exact.crank_sphere(t, radius, D),
                                exact.mdt_sphere(radius, D))
    assert err < 0.02
    assert abs(mdt_err) < 0.03


def test_crank_sphere_from_a_mesh():
    """The whole chain: icosphere → voxels → wetted boundary → diffusion."""
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=2.0)
    body = build_body(mesh, 0.125)
    curve = DiffusionCurve(DiffusionKernel.from_body(body), body.h_mm, D)
    err, mdt_err = _check_crank(curve, lambda t: exact.crank_sphere(t, 2.0, D),
                                exact.mdt_sphere(2.0, D))
    assert err < 0.02
    assert abs(mdt_err) < 0.03


def test_chebyshev_matches_matrix_exponential_on_an_irregular_body():
    rng = np.random.default_rng(7)
    solid = np.zeros((14, 12, 10), bool)
    solid[2:-2, 2:-2, 2:-2] = rng.random((10, 8, 6)) < 0.8
    op = diffusion_operator(solid)
    kernel = DiffusionKernel(op)
    tau = np.array([0.0, 0.3, 1.0, 4.0, 15.0, 60.0])
    ones = np.ones(op.shape[0])
    reference = np.array([expm_multiply(-t * op, ones).mean() for t in tau])
    assert np.abs(kernel.remaining(tau) - reference).max() < 1e-7


def test_operator_is_symmetric_with_sink_faces_on_the_diagonal():
    solid = np.zeros((5, 5, 5), bool)
    solid[1:4, 1:4, 1:4] = True
    op = diffusion_operator(solid)
    assert abs(op - op.T).max() == 0
    # Each of the 54 outer faces of the 3×3×3 cube is a sink face adding 2 to a row sum.
    assert op.sum() == pytest.approx(2 * 54)


def test_matrix_inside_a_sealed_void_is_trapped():
    solid = np.zeros((11, 11, 11), bool)
    solid[1:10, 1:10, 1:10] = True
    solid[3:8, 3:8, 3:8] = False  # a sealed void …
    solid[4:7, 4:7, 4:7] = True  # … holding an island of matrix
    kernel = DiffusionKernel(diffusion_operator(solid, wetted_voids(solid)))
    assert kernel.trapped == pytest.approx(27 / solid.sum())
    curve = DiffusionCurve(kernel, 0.1, D)
    assert curve.plateau == pytest.approx(1 - 27 / solid.sum())
    assert curve.fraction(np.array([1e6]))[0] == pytest.approx(curve.plateau, abs=1e-6)


def test_unknown_edge_condition_lists_the_valid_ones():
    with pytest.raises(ReleaseModelError, match="sink, no_flux"):
        diffusion_operator(np.ones((2, 2, 2), bool), edges="periodic")


def _flooded_depths_on_the_whole_grid(body) -> np.ndarray:
    """Reference: the pore-flooding rule with every distance transform over the whole grid
    and one group per pore (no bounding boxes, no grouping, no caching)."""
    h = body.h_mm
    base = ndi.distance_transform_edt(~body.wetted, sampling=h) - h / 2
    labels, count = ndi.label(body.closed_pores)
    ids = np.arange(1, count + 1)
    reach = [ndi.distance_transform_edt(labels != i, sampling=h) - h / 2 for i in ids]
    depth, previous = base, None
    for _ in range(4):
        breach = np.clip(np.asarray(ndi.minimum(depth, labels, ids)) - h / 2, 0.0, None)
        if previous is not None and np.allclose(breach, previous):
            break
        previous, depth = breach, base.copy()
        for i, level in zip(ids, breach, strict=True):
            np.minimum(depth, np.where(labels == i, np.inf, level + reach[i - 1]), out=depth)
    return np.sort(np.clip(depth[body.solid], 0.0, None))


def test_sealed_pores_flood_exactly_as_on_the_whole_grid():
    # a 40×30×16-voxel slab with eight sealed voids of different sizes and depths; at most
    # eight pores are one group each, so the reference's grouping is the code's
    solid = np.zeros((44, 34, 20), dtype=bool)
    solid[2:42, 2:32, 2:18] = True
    voids = [((5, 5, 5), 1), ((20, 15, 9), 4), ((34, 25, 12), 2), ((10, 25, 7), 3),
             ((30, 6, 4), 1), ((15, 10, 13), 2), ((25, 24, 6), 1), ((36, 12, 9), 3)]
    for (x, y, z), size in voids:
        solid[x:x + size, y:y + size, z:z + size] = False
    body = body_from_mask(solid, 0.1)
    assert ndi.label(body.closed_pores)[1] == len(voids)
    got = erosion_depths(body)
    assert np.array_equal(got, _flooded_depths_on_the_whole_grid(body))
    # and flooding did something: the matrix next to the pores erodes earlier
    assert got.mean() < erosion_depths(body, flood_closed_pores=False).mean()


def test_erosion_of_a_flat_cylinder_matches_the_exact_front():
    mesh = trimesh.creation.cylinder(radius=5.0, height=4.0, sections=128)
    mesh.apply_translation([0, 0, 2.0])
    rate = 0.02
    curve = ErosionCurve(ErosionKernel.from_body(build_body(mesh, 0.1)), rate)
    t = np.linspace(0, 2.0 / rate, 81)
    expected = exact.erosion_cylinder(t, 5.0, 4.0, rate)
    assert np.abs(curve.fraction(t) - expected).max() < 0.01
    mdt_exact = np.trapezoid(1 - exact.erosion_cylinder(np.linspace(0, 100, 20001), 5, 4, rate),
                             np.linspace(0, 100, 20001))
    assert curve.mdt_min == pytest.approx(mdt_exact, rel=0.02)


def test_erosion_of_a_sphere_is_first_order_accurate():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=3.0)
    rate = 0.05
    coarse = ErosionCurve(ErosionKernel.from_body(build_body(mesh, 0.2)), rate)
    fine = ErosionCurve(ErosionKernel.from_body(build_body(mesh, 0.1)), rate)
    t = np.linspace(0, 3.0 / rate, 61)
    expected = exact.erosion_sphere(t, 3.0, rate)
    err_coarse = np.abs(coarse.fraction(t) - expected).max()
    err_fine = np.abs(fine.fraction(t) - expected).max()
    assert err_fine < 0.03
    assert err_fine < 0.75 * err_coarse  # converges as h shrinks
    mdt_exact = 3.0 / rate / 4.0  # mean depth of a ball is R/4
    assert fine.mdt_min == pytest.approx(mdt_exact, rel=0.05)


def test_lag_shifts_the_curve():
    mesh = trimesh.creation.box(extents=[4, 4, 2])
    kernel = ErosionKernel.from_body(build_body(mesh, 0.2))
    plain, lagged = ErosionCurve(kernel, 0.02), ErosionCurve(kernel, 0.02, lag_min=7.0)
    t = np.linspace(0, 80, 41)
    assert np.allclose(lagged.fraction(t + 7.0), plain.fraction(t))
    assert np.all(lagged.fraction(np.array([0.0, 6.9])) == 0)
    assert lagged.mdt_min == pytest.approx(plain.mdt_min + 7.0)


def test_a_body_with_no_wetted_face_is_refused():
    solid = np.zeros((7, 7, 7), bool)
    solid[2:5, 2:5, 2:5] = True
    with pytest.raises(ReleaseModelError, match="nothing can be released"):
        DiffusionKernel(diffusion_operator(solid, np.zeros_like(solid)))
