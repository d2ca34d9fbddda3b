"""Formulation: a drug in its carrier, as printed on one technology."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dosecraft.model.enums import ReleaseModelKind, Technology

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class ReleaseParameters(BaseModel):
    """Parameters of the geometry-aware release estimator for this formulation.

    Attributes
    ----------
    model : which estimator applies (diffusion, erosion front, or SA/V–MDT correlation).
    diffusion_coeff_mm2_min : effective drug diffusivity in the printed matrix.
    erosion_rate_mm_min : surface recession speed of the wetted matrix.
    lag_min : lag time before release starts (wetting, gel layer).
    mdt_sav_intercept_min, mdt_sav_slope_min_mm : MDT = intercept + slope / (SA/V).
    source : where the values come from ("example" when uncalibrated).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ReleaseModelKind
    diffusion_coeff_mm2_min: Positive | None = None
    erosion_rate_mm_min: Positive | None = None
    lag_min: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    mdt_sav_intercept_min: Annotated[float, Field(allow_inf_nan=False)] | None = None
    mdt_sav_slope_min_mm: Positive | None = None
    source: str = "example"

    @model_validator(mode="after")
    def _parameters_for_model(self) -> "ReleaseParameters":
        needed = {
            ReleaseModelKind.DIFFUSION: ["diffusion_coeff_mm2_min"],
            ReleaseModelKind.EROSION: ["erosion_rate_mm_min"],
            ReleaseModelKind.SAV_MDT: ["mdt_sav_intercept_min", "mdt_sav_slope_min_mm"],
        }[self.model]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"release model '{self.model}' needs {', '.join(missing)}")
        return self


class Formulation(BaseModel):
    """A printable drug formulation (filament or paste) with its dose-relevant properties.

    Dose arithmetic: dose_mg = deposited_volume_mm3 × density_mg_mm3 × drug_loading ×
    mass_factor.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9_]{2,64}$")]
    name: str
    drug: Annotated[str, Field(min_length=1)]
    carrier: str
    technology: Technology
    drug_loading: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    density_mg_mm3: Annotated[float, Field(gt=0.2, lt=3.0, allow_inf_nan=False)]
    mass_factor: Annotated[float, Field(gt=0.5, lt=1.5, allow_inf_nan=False)] = 1.0
    print_temp_c: Annotated[float, Field(ge=0, le=300)]
    temp_min_c: Annotated[float, Field(ge=0, le=300)]
    temp_max_c: Annotated[float, Field(ge=0, le=300)]
    bed_temp_c: Annotated[float, Field(ge=0, le=120)] = 0.0
    max_dose_per_unit_mg: Positive
    min_dose_per_unit_mg: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    max_daily_dose_mg: Positive
    max_daily_mg_per_kg: Positive | None = None
    filament_diameter_mm: Positive | None = None
    infill_immediate: Annotated[float, Field(ge=0.1, le=1.0)] = 1.0
    infill_sustained: Annotated[float, Field(ge=0.1, le=1.0)] = 1.0
    release: ReleaseParameters
    example: bool = True
    source: str = ""
    notes: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> "Formulation":
        if not self.temp_min_c <= self.print_temp_c <= self.temp_max_c:
            raise ValueError(
                f"print_temp_c {self.print_temp_c} is outside the temperature window "
                f"{self.temp_min_c}–{self.temp_max_c} °C"
            )
        if self.max_dose_per_unit_mg > self.max_daily_dose_mg:
            raise ValueError(
                f"max_dose_per_unit_mg {self.max_dose_per_unit_mg} exceeds max_daily_dose_mg "
                f"{self.max_daily_dose_mg}"
            )
        return self

    @property
    def drug_mg_per_mm3(self) -> float:
        """Drug mass deposited per mm³ of printed material."""
        return self.density_mg_mm3 * self.drug_loading * self.mass_factor
