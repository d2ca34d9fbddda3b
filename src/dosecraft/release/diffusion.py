"""Fickian diffusion from a voxelised matrix into a perfect sink (finite volumes).

Uniform initial loading, concentration 0 on every wetted face. With unit voxel and unit
diffusivity the semi-discrete system is dc/dτ = −L c, τ = D·t/h², where L is the
(N, N) finite-volume operator: 1 per face shared by two matrix voxels and 2 per sink face
(the face sits half a voxel from the centre). The fraction still inside is

    R(τ) = 1ᵀ exp(−τL) 1 / N.

It is evaluated without time stepping: expanding exp(−τL) in Chebyshev polynomials of the
scaled operator gives R(τ) = Σ_k c_k(τ)·μ_k, with coefficients from modified Bessel
functions (c_k = 2(−1)^k e^{−z} I_k(z), z = τ·b/2) and moments μ_k = 1ᵀT_k(Y)1/N computed by
the three-term recurrence (two moments per sparse mat-vec). The moments do not depend on D
or t, so one pass serves the whole curve, every D in a calibration, and the MDT. No
factorisation and no orthogonalisation: a 10 × 4 mm tablet at 0.1 mm (314 k voxels) needs
~300 mat-vecs, about 0.7 s, where Crank–Nicolson would need an `splu` of a 3-D Laplacian
of that size per step size, and `expm_multiply` ~‖τL‖ mat-vecs per time (thousands). The
cost grows as (thickness/h)·N, so large tablets (a 22 mm caplet: 1.4 M voxels, ~6 s) are
better run at 0.15 mm. The truncation error is below 1e-8 by
construction (Bessel tail bound); the remaining error is the spatial discretisation, which
the Crank test vectors measure.
"""

from enum import StrEnum

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.special import ive

from dosecraft.errors import ReleaseModelError
from dosecraft.release.body import ReleaseBody, face_pairs

#: Chebyshev truncation tolerance; K moments are exact to it for z ≤ (K − 10)²/(2 ln 1/ε).
_EPS = 1e-9
_LN_EPS = np.log(1.0 / _EPS)
#: Moments are extended until the releasable drug left inside is below this fraction; past
#: that the curve continues as its slowest exponential mode.
_TAIL_START = 1e-4
_FIRST_MOMENTS = 128
_MAX_MOMENTS = 40_000
#: Points of the log-τ quadrature of the MDT integral.
_MDT_POINTS = 800


class EdgeCondition(StrEnum):
    """What the edge of the voxel array is for matrix voxels touching it."""

    SINK = "sink"        # the medium lies beyond the array
    NO_FLUX = "no_flux"  # a symmetry plane, or an infinitely long body (slab, long cylinder)


def diffusion_operator(solid: np.ndarray, wetted: np.ndarray | None = None,
                       edges: str | tuple[str, str, str] = EdgeCondition.SINK) -> sparse.csr_matrix:
    """Dimensionless finite-volume operator L of a voxelised body.

    Parameters
    ----------
    solid : (nx, ny, nz) bool, drug-loaded matrix (N voxels, numbered in C order).
    wetted : (nx, ny, nz) bool, voids in contact with the medium (sink faces); default: every
        non-solid voxel. Non-solid voxels that are not wetted are impermeable (no flux).
    edges : per-axis `EdgeCondition` for the array edges (one value applies to all axes).

    Returns
    -------
    scipy.sparse.csr_matrix
        (N, N) symmetric positive semi-definite; A = (D/h²)·L.
    """
    solid = np.asarray(solid, dtype=bool)
    wet = ~solid if wetted is None else (np.asarray(wetted, dtype=bool) & ~solid)
    per_axis = (edges,) * 3 if isinstance(edges, str) else tuple(edges)
    try:
        per_axis = tuple(EdgeCondition(e) for e in per_axis)
    except ValueError:
        raise ReleaseModelError(f"unknown edge condition in {edges!r}; valid: "
                                f"{', '.join(e.value for e in EdgeCondition)}") from None
    n = int(solid.sum())
    if n == 0:
        raise ReleaseModelError("the body has no matrix voxels")
    index = np.full(solid.shape, -1, dtype=np.int64)
    index[solid] = np.arange(n)
    diag = np.zeros(n)
    rows, cols = [], []
    for axis in range(3):
        lo, hi = face_pairs(axis)
        pair = solid[lo] & solid[hi]
        i, j = index[lo][pair], index[hi][pair]
        rows += [i, j]
        cols += [j, i]
        diag += np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        diag += 2 * np.bincount(index[lo][solid[lo] & wet[hi]], minlength=n)
        diag += 2 * np.bincount(index[hi][wet[lo] & solid[hi]], minlength=n)
        if per_axis[axis] == EdgeCondition.SINK:
            for end in (0, -1):
                face = [slice(None)] * 3
                face[axis] = end
                face = tuple(face)
                diag += 2 * np.bincount(index[face][solid[face]], minlength=n)
    off_r, off_c = np.concatenate(rows), np.concatenate(cols)
    r = np.concatenate([off_r, np.arange(n)])
    c = np.concatenate([off_c, np.arange(n)])
    data = np.concatenate([-np.ones(off_r.size), diag])
    return sparse.csr_matrix((data, (r, c)), shape=(n, n))


class DiffusionKernel:
    """R(τ) of one body, for any dimensionless time τ = D·t/h².

    Build with `from_body` or from an operator; evaluate `remaining`. Moments are computed
    lazily, as far as the requested times need, so the object is not thread-safe.
    """

    def __init__(self, operator: sparse.spmatrix) -> None:
        op = sparse.csr_matrix(operator, dtype=float)
        self._op = op
        self.n = op.shape[0]
        row_abs = np.asarray(abs(op).sum(axis=1)).ravel()
        self.bound = float(max(row_abs.max(), 1e-12))  # Gershgorin: spectrum ⊂ [0, bound]
        # Components without a sink face keep their drug forever (eigenvalue 0).
        row_sum = np.asarray(op.sum(axis=1)).ravel()
        _, labels = connected_components(op, directed=False)
        releasing = np.unique(labels[row_sum > 1e-12])
        if releasing.size == 0:
            raise ReleaseModelError("no matrix voxel touches a wetted surface: nothing can be "
                                    "released (is the body sealed inside impermeable voids?)")
        self.trapped = 1.0 - float(np.isin(labels, releasing).sum()) / self.n
        v0 = np.full(self.n, 1.0 / np.sqrt(self.n))
        v1 = self._y(v0)
        self._prev, self._cur = v0, v1
        self._mu1 = float(v0 @ v1)
        self._moments: list[float] = []
        self._tail: tuple[float, float, float] | None = None  # (z_c, R(z_c), rate)
        self._extend(_FIRST_MOMENTS)
        self._mdt_tau: float | None = None

    @classmethod
    def from_body(cls, body: ReleaseBody) -> "DiffusionKernel":
        return cls(diffusion_operator(body.solid, body.wetted))

    def _y(self, v: np.ndarray) -> np.ndarray:
        return (2.0 / self.bound) * (self._op @ v) - v

    @property
    def n_moments(self) -> int:
        return len(self._moments)

    def _extend(self, count: int) -> None:
        count = min(count, _MAX_MOMENTS)
        prev, cur = self._prev, self._cur
        scale = 4.0 / self.bound
        while len(self._moments) < count:
            self._moments.append(2.0 * float(prev @ prev) - 1.0)
            self._moments.append(2.0 * float(cur @ prev) - self._mu1)
            nxt = self._op @ cur
            nxt *= scale
            nxt -= 2.0 * cur
            nxt -= prev
            prev, cur = cur, nxt
        self._prev, self._cur = prev, cur
        self._mu = np.array(self._moments)

    @property
    def z_converged(self) -> float:
        """Largest z = τ·b/2 at which the current moments are exact to ε."""
        return max(len(self._moments) - 10, 1) ** 2 / (2.0 * _LN_EPS)

    def _series(self, z: np.ndarray) -> np.ndarray:
        k = np.arange(self._mu.size)
        coeff = ive(k[None, :], z[:, None]) * np.where(k % 2 == 0, 2.0, -2.0)[None, :]
        coeff[:, 0] *= 0.5
        return coeff @ self._mu

    def _ensure(self, z_max: float) -> None:
        """Extend the moments until z_max is covered or the tail takes over."""
        while self._tail is None and z_max > self.z_converged:
            z_c = self.z_converged
            r_c, r_b = self._series(np.array([z_c, 0.8 * z_c])) - self.trapped
            if r_c <= _TAIL_START * (1.0 - self.trapped) or self.n_moments >= _MAX_MOMENTS:
                rate = np.log(max(r_b, 1e-300) / max(r_c, 1e-300)) / (0.2 * z_c)
                self._tail = (z_c, float(r_c), float(max(rate, 1e-12)))
                break
            # Predict where the tail starts from the current decay rate, then overshoot a
            # little; log R is convex in z, so the prediction is early and the loop repeats.
            rate = max(np.log(max(r_b, 1e-300) / max(r_c, 1e-300)) / (0.2 * z_c), 1e-12)
            z_need = min(z_max, z_c + np.log(r_c / (_TAIL_START * (1 - self.trapped))) / rate)
            want = int(np.ceil(np.sqrt(2.0 * z_need * _LN_EPS))) + 11
            self._extend(max(want, int(1.3 * self.n_moments)))

    def remaining(self, tau: np.ndarray) -> np.ndarray:
        """(T,) fraction of the drug still inside at dimensionless times (T,) τ ≥ 0."""
        tau = np.clip(np.asarray(tau, dtype=float), 0.0, None)
        z = tau.reshape(-1) * (self.bound / 2.0)
        if z.size == 0:
            return tau.copy()
        self._ensure(float(z.max()))
        out = np.empty_like(z)
        near = z <= self.z_converged
        out[near] = self._series(z[near])
        if (~near).any():
            z_c, r_c, rate = self._tail  # type: ignore[misc]
            out[~near] = self.trapped + r_c * np.exp(-rate * (z[~near] - z_c))
        return np.clip(out, 0.0, 1.0).reshape(tau.shape)

    def mdt_tau(self) -> float:
        """Mean release time of the releasable drug in units of h²/D."""
        if self._mdt_tau is None:
            self._ensure(np.inf)
            z_c, r_c, rate = self._tail  # type: ignore[misc]
            z = np.geomspace(z_c * 1e-8, z_c, _MDT_POINTS)
            r = self._series(z) - self.trapped
            # ∫ r dz on a log grid (∫ r·z d ln z), plus the flat start and the exponential tail.
            body = np.trapezoid(r * z, np.log(z))
            total_z = z[0] * (1.0 - self.trapped) + body + r_c / rate
            self._mdt_tau = float(total_z / (self.bound / 2.0) / (1.0 - self.trapped))
        return self._mdt_tau


class DiffusionCurve:
    """Release from a kernel for diffusivity D (mm²/min), voxel h (mm) and a lag (min)."""

    model = "diffusion"

    def __init__(self, kernel: DiffusionKernel, h_mm: float, diffusivity_mm2_min: float,
                 lag_min: float = 0.0) -> None:
        if not diffusivity_mm2_min > 0:
            raise ReleaseModelError(f"diffusivity must be positive, got {diffusivity_mm2_min}")
        self.kernel, self.h_mm = kernel, h_mm
        self.diffusivity_mm2_min, self.lag_min = diffusivity_mm2_min, lag_min

    def fraction(self, t_min: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(t_min, dtype=float) - self.lag_min, 0.0, None)
        return 1.0 - self.kernel.remaining(t * self.diffusivity_mm2_min / self.h_mm**2)

    @property
    def mdt_min(self) -> float:
        return self.kernel.mdt_tau() * self.h_mm**2 / self.diffusivity_mm2_min + self.lag_min

    @property
    def plateau(self) -> float:
        return 1.0 - self.kernel.trapped
