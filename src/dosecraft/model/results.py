"""Result types of a job: dose check, release estimate, and the whole job result."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dosecraft.constants import DOSE_TOLERANCE


@dataclass(frozen=True)
class DoseCheck:
    """The three dose figures against the prescription.

    `design_mg` is the solver's prediction, `toolpath_mg` the sum over the toolpath's beads,
    `gcode_mg` what the written G-code deposits when re-read. Pass when every available figure
    is within `tolerance` of the target.
    """

    target_mg: float
    design_mg: float
    toolpath_mg: float | None = None
    gcode_mg: float | None = None
    tolerance: float = DOSE_TOLERANCE

    @property
    def final_mg(self) -> float:
        for value in (self.gcode_mg, self.toolpath_mg, self.design_mg):
            if value is not None:
                return value
        raise AssertionError("unreachable")

    @property
    def relative_error(self) -> float:
        return self.final_mg / self.target_mg - 1.0

    @property
    def passed(self) -> bool:
        figures = [v for v in (self.design_mg, self.toolpath_mg, self.gcode_mg) if v is not None]
        return all(abs(v / self.target_mg - 1.0) <= self.tolerance for v in figures)

    def failures(self) -> list[str]:
        """The figures outside the tolerance, each as 'design (layer model) 0.4687 mg
        (-6.26 %)'; empty when the check passes."""
        named = (("design (layer model)", self.design_mg), ("toolpath", self.toolpath_mg),
                 ("re-read G-code", self.gcode_mg))
        return [f"{name} {v:.4g} mg ({v / self.target_mg - 1:+.2%})" for name, v in named
                if v is not None and abs(v / self.target_mg - 1.0) > self.tolerance]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_mg": round(self.target_mg, 6),
            "design_mg": round(self.design_mg, 6),
            "toolpath_mg": None if self.toolpath_mg is None else round(self.toolpath_mg, 6),
            "gcode_mg": None if self.gcode_mg is None else round(self.gcode_mg, 6),
            "relative_error": round(self.relative_error, 6),
            "tolerance": self.tolerance,
            "passed": self.passed,
        }


@dataclass(frozen=True, eq=False)
class ReleaseEstimate:
    """A predicted (or fitted) cumulative release curve.

    Attributes
    ----------
    time_min : (T,) float64 time grid, minutes, starting at 0.
    fraction : (T,) float64 cumulative fraction released, 0–1, non-decreasing.
    t50_min, t80_min, mdt_min : times to 50 %, 80 % release and the mean dissolution time
        (None when the curve does not reach that level on its grid).
    model : the estimator's name; parameters : its parameters.
    """

    time_min: np.ndarray
    fraction: np.ndarray
    t50_min: float | None
    t80_min: float | None
    mdt_min: float | None
    model: str
    parameters: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def to_dict(self, points: int = 25) -> dict[str, Any]:
        idx = np.unique(np.linspace(0, len(self.time_min) - 1, points).round().astype(int))

        def r(x: float | None) -> float | None:
            return None if x is None else round(float(x), 3)

        return {
            "model": self.model,
            "t50_min": r(self.t50_min),
            "t80_min": r(self.t80_min),
            "mdt_min": r(self.mdt_min),
            "parameters": {k: float(v) for k, v in self.parameters.items()},
            "curve": [[round(float(self.time_min[i]), 3), round(float(self.fraction[i]), 5)]
                      for i in idx],
        }
