"""Exact release curves for simple bodies: the test vectors of the numerical estimators.

Fickian diffusion from a uniformly loaded body into a perfect sink (Crank, *The Mathematics
of Diffusion*, 2nd ed., eqs. 4.18, 5.52 and 6.20) and a constant-speed erosion front receding
from every face of a convex body. All functions take times in minutes, lengths in mm and
return the cumulative fraction released (0–1) with the shape of `t_min`.
"""

import numpy as np
from scipy.special import jn_zeros

#: Series terms beyond which every exponential factor is below e^-40 (negligible).
_DECAY = 40.0
_MAX_TERMS = 20_000
#: Roots of J0 computed exactly; beyond this McMahon's expansion is accurate to < 1e-9.
_EXACT_J0_ROOTS = 200


def _terms(t_min: np.ndarray, rate: float) -> int:
    """Number of series terms n so that exp(-rate·n²·t) < e^-40 at the smallest t > 0."""
    positive = t_min[t_min > 0]
    if positive.size == 0:
        return 1
    n = np.sqrt(_DECAY / (rate * positive.min()))
    return int(np.clip(np.ceil(n) + 2, 50, _MAX_TERMS))


def _series(t_min: np.ndarray, weights: np.ndarray, rates: np.ndarray) -> np.ndarray:
    t = np.asarray(t_min, dtype=float)
    flat = np.clip(t.reshape(-1), 0.0, None)
    remaining = np.exp(-np.outer(flat, rates)) @ weights
    # The truncated series does not sum to exactly 1 at t = 0; the curve starts at 0 there.
    remaining = np.where(flat > 0, remaining, 1.0)
    return np.clip(1.0 - remaining, 0.0, 1.0).reshape(t.shape)


def crank_slab(t_min: np.ndarray, thickness_mm: float, diffusivity_mm2_min: float) -> np.ndarray:
    """Slab of thickness L releasing through both faces.

    M_t/M_inf = 1 − Σ_{n≥0} 8/((2n+1)²π²) · exp(−D(2n+1)²π²t/L²).
    """
    t = np.asarray(t_min, dtype=float)
    rate = diffusivity_mm2_min * np.pi**2 / thickness_mm**2
    m = 2 * np.arange(_terms(t, rate)) + 1.0
    return _series(t, 8.0 / (m**2 * np.pi**2), rate * m**2)


def _j0_roots(count: int) -> np.ndarray:
    exact = jn_zeros(0, min(count, _EXACT_J0_ROOTS))
    if count <= _EXACT_J0_ROOTS:
        return exact
    n = np.arange(_EXACT_J0_ROOTS + 1, count + 1, dtype=float)
    beta = (n - 0.25) * np.pi
    mcmahon = beta + 1 / (8 * beta) - 31 / (384 * beta**3) + 3779 / (15360 * beta**5)
    return np.concatenate([exact, mcmahon])


def crank_cylinder(t_min: np.ndarray, radius_mm: float, diffusivity_mm2_min: float) -> np.ndarray:
    """Infinitely long cylinder of radius R releasing through its curved face.

    M_t/M_inf = 1 − Σ 4/α_n² · exp(−D α_n² t/R²), α_n the roots of J0.
    """
    t = np.asarray(t_min, dtype=float)
    rate = diffusivity_mm2_min / radius_mm**2
    alpha = _j0_roots(_terms(t, rate * np.pi**2))
    return _series(t, 4.0 / alpha**2, rate * alpha**2)


def crank_sphere(t_min: np.ndarray, radius_mm: float, diffusivity_mm2_min: float) -> np.ndarray:
    """Sphere of radius R: M_t/M_inf = 1 − 6/π² Σ_{n≥1} 1/n² · exp(−D n²π² t/R²)."""
    t = np.asarray(t_min, dtype=float)
    rate = diffusivity_mm2_min * np.pi**2 / radius_mm**2
    n = np.arange(1, _terms(t, rate) + 1, dtype=float)
    return _series(t, 6.0 / (np.pi**2 * n**2), rate * n**2)


def mdt_slab(thickness_mm: float, diffusivity_mm2_min: float) -> float:
    """Mean release time of the slab, L²/(12D)."""
    return thickness_mm**2 / (12.0 * diffusivity_mm2_min)


def mdt_cylinder(radius_mm: float, diffusivity_mm2_min: float) -> float:
    """Mean release time of the long cylinder, R²/(8D)."""
    return radius_mm**2 / (8.0 * diffusivity_mm2_min)


def mdt_sphere(radius_mm: float, diffusivity_mm2_min: float) -> float:
    """Mean release time of the sphere, R²/(15D)."""
    return radius_mm**2 / (15.0 * diffusivity_mm2_min)


def erosion_sphere(t_min: np.ndarray, radius_mm: float, rate_mm_min: float) -> np.ndarray:
    """Sphere eroding from its surface at constant speed k: 1 − (1 − kt/R)³."""
    s = np.clip(rate_mm_min * np.asarray(t_min, dtype=float) / radius_mm, 0.0, 1.0)
    return 1.0 - (1.0 - s) ** 3


def erosion_cylinder(t_min: np.ndarray, radius_mm: float, height_mm: float,
                     rate_mm_min: float) -> np.ndarray:
    """Finite cylinder eroding from all faces: 1 − (1 − kt/R)²·(1 − 2kt/H)."""
    s = rate_mm_min * np.clip(np.asarray(t_min, dtype=float), 0.0, None)
    radial = np.clip(1.0 - s / radius_mm, 0.0, 1.0)
    axial = np.clip(1.0 - 2.0 * s / height_mm, 0.0, 1.0)
    return 1.0 - radial**2 * axial
