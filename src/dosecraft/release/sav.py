"""SA/V–MDT correlation: mean dissolution time as a linear function of V/SA per formulation.

MDT = intercept + slope / (SA/V), the published best geometry model for printed tablets
(new geometries predicted within about 5 min). The curve shape is a Weibull with fixed β
(1 = first order) whose mean equals that MDT, so MDT = Td·Γ(1 + 1/β).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from math import gamma

import numpy as np
import trimesh

from dosecraft.errors import ReleaseModelError

#: Default Weibull shape of the SA/V curve: first order, as the correlation's data suggest.
DEFAULT_BETA = 1.0


def sav_mdt_min(sa_v_per_mm: float, intercept_min: float, slope_min_mm: float) -> float:
    """MDT predicted by the correlation, intercept + slope/(SA/V)."""
    if not sa_v_per_mm > 0:
        raise ReleaseModelError(f"SA/V must be positive, got {sa_v_per_mm} mm⁻¹")
    mdt = intercept_min + slope_min_mm / sa_v_per_mm
    if not mdt > 0:
        raise ReleaseModelError(
            f"the SA/V correlation gives MDT {mdt:.3g} min ≤ 0 at SA/V {sa_v_per_mm:.3g} mm⁻¹ "
            f"(intercept {intercept_min:g}, slope {slope_min_mm:g}); it is outside the range "
            "the correlation was fitted on"
        )
    return mdt


def mesh_sa_v(mesh: trimesh.Trimesh) -> float:
    """Surface-area-to-volume ratio of a watertight mesh (mm⁻¹)."""
    if not mesh.is_watertight or mesh.volume <= 0:
        raise ReleaseModelError("SA/V needs a watertight mesh with positive volume")
    return float(mesh.area / mesh.volume)


@dataclass(frozen=True)
class WeibullCurve:
    """F(t) = 1 − exp(−((t − lag)/Td)^β) with Td set by the MDT (excluding the lag)."""

    mdt_release_min: float
    beta: float = DEFAULT_BETA
    lag_min: float = 0.0
    model: str = "sav_mdt"

    @property
    def td_min(self) -> float:
        return self.mdt_release_min / gamma(1.0 + 1.0 / self.beta)

    def fraction(self, t_min: np.ndarray) -> np.ndarray:
        t = np.clip(np.asarray(t_min, dtype=float) - self.lag_min, 0.0, None)
        return 1.0 - np.exp(-((t / self.td_min) ** self.beta))

    @property
    def mdt_min(self) -> float:
        return self.mdt_release_min + self.lag_min

    @property
    def plateau(self) -> float:
        return 1.0


def sav_curve(sa_v_per_mm: float, intercept_min: float, slope_min_mm: float, *,
              beta: float = DEFAULT_BETA, lag_min: float = 0.0) -> WeibullCurve:
    """The release curve the correlation predicts for one SA/V."""
    if not beta > 0:
        raise ReleaseModelError(f"Weibull β must be positive, got {beta}")
    return WeibullCurve(sav_mdt_min(sa_v_per_mm, intercept_min, slope_min_mm), beta, lag_min)


def fit_sav_mdt(sa_v_per_mm: Sequence[float], mdt_min: Sequence[float]) -> tuple[float, float]:
    """Least-squares (intercept_min, slope_min_mm) of MDT against V/SA over ≥ 2 geometries.

    Parameters
    ----------
    sa_v_per_mm : (G,) SA/V of each geometry; mdt_min : (G,) its measured MDT.
    """
    x = 1.0 / np.asarray(sa_v_per_mm, dtype=float)
    y = np.asarray(mdt_min, dtype=float)
    if x.size != y.size or x.size < 2 or np.ptp(x) <= 0:
        raise ReleaseModelError(
            "the SA/V–MDT correlation needs at least two geometries with different SA/V"
        )
    slope, intercept = np.polyfit(x, y, 1)
    if slope <= 0:
        raise ReleaseModelError(
            f"MDT falls as V/SA grows (slope {slope:.3g} min·mm); the data do not follow the "
            "SA/V correlation"
        )
    return float(intercept), float(slope)
