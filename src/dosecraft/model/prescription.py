"""The prescription: what the pharmacist asks for, validated at the input boundary."""

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dosecraft import constants as C
from dosecraft.model.enums import ReleaseKind, ShapeKind
from dosecraft.number_text import comma_problem

#: The CSV columns, in order (header names exact).
PRESCRIPTION_COLUMNS: tuple[str, ...] = (
    "rx_id", "patient_ref", "drug", "dose_mg", "dose_mg_per_kg", "weight_kg", "age_years",
    "formulation", "printer", "shape", "release", "target_t80_min", "infill", "quantity",
)

_NUMERIC_FIELDS = ("dose_mg", "dose_mg_per_kg", "weight_kg", "age_years", "target_t80_min",
                   "infill", "quantity")
_UNIT_HINTS: dict[str, tuple[str, ...]] = {
    # field -> units that belong to a different column, and where they belong
    "dose_mg": ("mg/kg", "mg per kg", "mg/kg/day"),
}
_UNIT_RE = re.compile(r"^\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*([A-Za-zµ%/].*)$")


def _parse_number(field: str, raw: Any) -> Any:
    """Turn a raw cell into a float, with an error that explains unit mix-ups."""
    if raw is None or isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = str(raw).strip()
        if text == "":
            return None
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is not None:
            if math.isnan(value) or math.isinf(value):
                raise ValueError(f"'{text}' is not a finite number")
            return value
        unit_match = _UNIT_RE.match(text)
        if unit_match:
            unit = unit_match.group(5).strip().lower()
            if field == "dose_mg" and unit.replace(" ", "") in ("mg/kg", "mg/kg/day", "mgperkg"):
                raise ValueError(
                    f"'{text}' is a dose per kg; put the number in dose_mg_per_kg and the "
                    "patient weight in weight_kg"
                )
            if field == "dose_mg_per_kg" and unit in ("mg", "milligram", "milligrams"):
                raise ValueError(
                    f"'{text}' is an absolute dose; put the number in dose_mg instead"
                )
            number = float(unit_match.group(1))
            to_mg = {"g": 1000.0, "mcg": 1e-3, "µg": 1e-3, "ug": 1e-3}
            if field in ("dose_mg", "dose_mg_per_kg") and unit in to_mg:
                # the converted figure is offered, never applied: a unit slip in a dose is
                # for the pharmacist to confirm
                raise ValueError(
                    f"'{text}' is in {unit}, not mg: {number:g} {unit} = "
                    f"{number * to_mg[unit]:.6g} mg; write the plain number in mg "
                    f"({number * to_mg[unit]:.6g}) if that is the dose meant"
                )
            to_kg = {"lb": 0.45359237, "lbs": 0.45359237, "pound": 0.45359237,
                     "pounds": 0.45359237, "g": 1e-3}
            if field == "weight_kg" and unit in to_kg:
                raise ValueError(
                    f"'{text}' is not in kg: {number:g} {unit} = {number * to_kg[unit]:.4g} "
                    "kg; write the plain number in kg")
            raise ValueError(
                f"'{text}' is not a plain number (it ends in '{unit}'); write only the "
                f"number in {field}"
            )
        problem = comma_problem(text)
        if problem is not None:
            raise ValueError(problem)
        raise ValueError(f"'{text}' is not a number")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value} is not a finite number")
    return value


class Prescription(BaseModel):
    """One prescription line: a dose per tablet, for one patient, as `quantity` tablets.

    The dose per tablet is `dose_mg`, or `dose_mg_per_kg` × `weight_kg`; give exactly one.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    rx_id: Annotated[str, Field(pattern=C.RX_ID_PATTERN)]
    patient_ref: Annotated[str, Field(min_length=1, max_length=64,
                                      pattern=r"^[A-Za-z0-9_\-.:#]+$")] | None = None
    drug: Annotated[str, Field(min_length=1, max_length=80)]
    dose_mg: Annotated[float, Field(gt=0, le=5000)] | None = None
    dose_mg_per_kg: Annotated[float, Field(gt=0, le=200)] | None = None
    weight_kg: Annotated[float, Field(ge=C.WEIGHT_MIN_KG, le=C.WEIGHT_MAX_KG)] | None = None
    age_years: Annotated[float, Field(ge=0, le=C.AGE_MAX_YEARS)] | None = None
    formulation: Annotated[str, Field(pattern=r"^[a-z0-9_]{2,64}$")]
    printer: Annotated[str, Field(pattern=r"^[a-z0-9_]{2,64}$")]
    shape: ShapeKind | None = None
    mesh_path: str | None = None
    release: ReleaseKind = ReleaseKind.IMMEDIATE
    target_t80_min: Annotated[float, Field(gt=0, le=24 * 60)] | None = None
    infill: Annotated[float, Field(ge=C.INFILL_MIN, le=C.INFILL_MAX)] | None = None
    quantity: Annotated[int, Field(ge=C.QUANTITY_MIN, le=C.QUANTITY_MAX)] = 1

    @field_validator(*_NUMERIC_FIELDS, mode="before")
    @classmethod
    def _numbers(cls, raw: Any, info: Any) -> Any:
        value = _parse_number(info.field_name, raw)
        if (info.field_name == "infill" and isinstance(value, float)
                and max(C.INFILL_MAX, 100 * C.INFILL_MIN) <= value <= 100
                and value != C.INFILL_MAX):  # a percentage: say what fraction it means
            raise ValueError(f"{value:g} is above {C.INFILL_MAX:g}: infill is a fraction "
                             f"{C.INFILL_MIN:g}–{C.INFILL_MAX:g}; for {value:g} % write "
                             f"{value / 100:g}")
        if info.field_name == "quantity" and isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{value} is not a whole number of tablets")
            return int(value)
        return value

    @field_validator("shape", "release", "patient_ref", "mesh_path", mode="before")
    @classmethod
    def _empty_is_none(cls, raw: Any, info: Any) -> Any:
        if info.field_name == "release" and (raw is None or str(raw).strip() == ""):
            return ReleaseKind.IMMEDIATE
        if isinstance(raw, str):
            raw = raw.strip()
            if raw == "":
                return None
            return raw.lower() if raw.lower() in {k.value for k in ShapeKind} | {
                k.value for k in ReleaseKind} else raw
        return raw

    @model_validator(mode="after")
    def _dose_given_once(self) -> "Prescription":
        if self.dose_mg is not None and self.dose_mg_per_kg is not None:
            raise ValueError(
                f"give either dose_mg ({self.dose_mg}) or dose_mg_per_kg "
                f"({self.dose_mg_per_kg}), not both"
            )
        if self.dose_mg is None and self.dose_mg_per_kg is None:
            raise ValueError("no dose: give dose_mg, or dose_mg_per_kg with weight_kg")
        if self.dose_mg_per_kg is not None and self.weight_kg is None:
            raise ValueError(
                f"dose_mg_per_kg {self.dose_mg_per_kg} needs the patient's weight_kg "
                f"({C.WEIGHT_MIN_KG}–{C.WEIGHT_MAX_KG} kg)"
            )
        if self.shape == ShapeKind.MESH and not self.mesh_path:
            raise ValueError("shape 'mesh' needs mesh_path (an STL or 3MF file)")
        if self.mesh_path and self.shape != ShapeKind.MESH:
            # a mesh that is silently not printed is a wrong tablet, not a default
            given = f"shape is '{self.shape.value}'" if self.shape else "no shape is given"
            raise ValueError(f"mesh_path {self.mesh_path!r} is given but {given}; set shape "
                             "to 'mesh' to print the mesh, or drop mesh_path")
        return self

    @property
    def unit_dose_mg(self) -> float:
        """The dose of one tablet in mg: `dose_mg`, or `dose_mg_per_kg` × `weight_kg`
        rounded to `PER_KG_DOSE_SIGNIFICANT_FIGURES` (a measurable, labelled dose)."""
        if self.dose_mg is not None:
            return self.dose_mg
        assert self.dose_mg_per_kg is not None and self.weight_kg is not None
        # in decimal, from the numbers as written: 0.35 × 7.5 is 2.625 (binary floats make
        # it 2.6249999…), and a half rounds up, as on a pharmacist's calculator
        exact = Decimal(repr(self.dose_mg_per_kg)) * Decimal(repr(self.weight_kg))
        place = exact.adjusted() - C.PER_KG_DOSE_SIGNIFICANT_FIGURES + 1
        return float(exact.quantize(Decimal(1).scaleb(place), rounding=ROUND_HALF_UP))
