"""The printer-profile schema: type, unit, range and description of every key.

Types and ranges are read from the pydantic fields of
`dosecraft.model.profile.PrinterProfile`, so the model stays the one source of truth;
this module only adds what pydantic does not hold (units and one-line descriptions, in
`PROFILE_FIELD_DOCS`). The generic helpers (`model_field_specs`, `validation_messages`,
`unknown_key_message`) are shared with the formulary loader.
"""

from __future__ import annotations

import difflib
import enum
import math
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from dosecraft.model.profile import PrinterProfile

#: Keys a profile file may hold that are not model fields (consumed by the loader).
META_KEYS: tuple[str, ...] = ("inherits",)
#: Model fields a profile file must not set: the ID is the file's path under its root.
LOADER_SET_KEYS: tuple[str, ...] = ("id",)
#: The only placeholders the G-code writer fills (with str.format) in start/end templates.
TEMPLATE_PLACEHOLDERS: tuple[str, ...] = (
    "nozzle_temp_c", "bed_temp_c", "bed_x_mm", "bed_y_mm", "max_z_mm",
)
TEMPLATE_KEYS: tuple[str, ...] = ("start_gcode", "end_gcode")

#: Unit and one-line description of every PrinterProfile field (units "" when unitless).
PROFILE_FIELD_DOCS: dict[str, tuple[str, str]] = {
    "id": ("", "profile ID: the file's path under its profiles folder, without .toml"),
    "name": ("", "human-readable printer name shown in menus"),
    "abstract": ("", "true for shared bases that only other profiles inherit from"),
    "technology": ("", "printing technology: fdm (filament) or sse (semi-solid paste)"),
    "firmware": ("", "firmware dialect of the G-code"),
    "extruder": ("", "how E maps to volume: filament, syringe, volumetric or pneumatic"),
    "relative_e": ("", "write relative E moves (M83) instead of absolute (M82)"),
    "nozzle_diameter_mm": ("mm", "nozzle or needle inner diameter"),
    "feed_diameter_mm": ("mm", "filament diameter or syringe inner bore (none if pneumatic)"),
    "syringe_volume_ml": ("ml", "syringe capacity, for the paste-volume check"),
    "bed_x_mm": ("mm", "usable bed width (X)"),
    "bed_y_mm": ("mm", "usable bed depth (Y)"),
    "max_z_mm": ("mm", "maximum print height (Z)"),
    "layer_height_mm": ("mm", "layer height above the first layer"),
    "first_layer_height_mm": ("mm", "first layer height"),
    "line_width_mm": ("mm", "extrusion (bead) width"),
    "wall_count": ("", "number of perimeter loops"),
    "top_layers": ("", "number of solid top layers"),
    "bottom_layers": ("", "number of solid bottom layers"),
    "infill_pattern": ("", "default sparse infill pattern"),
    "infill_angle_deg": ("°", "infill line angle; alternates by 90° per layer"),
    "infill_wall_overlap": ("", "infill overlap into the inner wall, as a fraction of width"),
    "min_feature_mm": ("mm", "smallest feature the printer reproduces reliably"),
    "print_speed_mm_s": ("mm/s", "infill and solid-fill speed"),
    "wall_speed_mm_s": ("mm/s", "perimeter speed"),
    "first_layer_speed_mm_s": ("mm/s", "speed of every move on the first layer"),
    "travel_speed_mm_s": ("mm/s", "non-extruding move speed"),
    "retract_length_mm": ("mm", "retraction in feed mm (filament or plunger travel)"),
    "retract_speed_mm_s": ("mm/s", "retraction speed in feed mm/s"),
    "z_hop_mm": ("mm", "Z lift during travel moves (0 = off)"),
    "pressure_on_gcode": ("", "G-code that opens the pneumatic valve (pneumatic only)"),
    "pressure_off_gcode": ("", "G-code that closes the pneumatic valve (pneumatic only)"),
    "pressure_dwell_ms": ("ms", "dwell after pressure on, before the move starts"),
    "pneumatic_pressure_kpa": ("kPa", "dispensing pressure the paste was calibrated at"),
    "pneumatic_flow_factor": ("", "calibrated deposited mm³/mm ÷ nominal bead area"),
    "plate_spacing_mm": ("mm", "gap between tablets on a plate"),
    "bed_margin_mm": ("mm", "keep-out border around the bed edge"),
    "start_gcode": ("", "start G-code template; placeholders: " + ", ".join(
        "{" + p + "}" for p in TEMPLATE_PLACEHOLDERS)),
    "end_gcode": ("", "end G-code template; same placeholders as start_gcode"),
}

#: Unit from a field-name suffix (DESIGN.md: units are in the names), longest first.
_SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_mg_per_kg", "mg/kg/day"), ("_mm2_min", "mm²/min"), ("_mg_mm3", "mg/mm³"),
    ("_min_mm", "min/mm"), ("_mm_min", "mm/min"), ("_mm_s", "mm/s"), ("_mm3", "mm³"),
    ("_deg", "°"), ("_kpa", "kPa"), ("_ml", "ml"), ("_ms", "ms"), ("_mm", "mm"),
    ("_mg", "mg"), ("_min", "min"), ("_c", "°C"),
)


def unit_from_name(name: str) -> str:
    """Unit implied by a field name's suffix (``"_mm_s"`` → ``"mm/s"``), ``""`` if none."""
    for suffix, unit in _SUFFIX_UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def _fmt_num(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class FieldSpec:
    """What one key accepts, for error messages and ``dosecraft profiles show``.

    Attributes
    ----------
    name : key name.
    type_name : ``"number"``, ``"integer"``, ``"text"``, ``"true/false"`` or ``"choice"``.
    unit : unit shown next to values (``""`` when unitless).
    description : one line.
    required : the merged profile must set it.
    nullable : it may be left unset (None).
    default : default value when not required (None when there is none).
    minimum, maximum : numeric bounds, or None.
    min_exclusive, max_exclusive : whether the bound itself is excluded.
    choices : allowed strings for enum keys.
    """

    name: str
    type_name: str
    unit: str = ""
    description: str = ""
    required: bool = False
    nullable: bool = False
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: tuple[str, ...] = field(default_factory=tuple)

    def allowed_text(self) -> str:
        """What values the key accepts, e.g. ``"0.1 ≤ value ≤ 2 mm"``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.minimum is not None and self.maximum is not None:
            lo = "<" if self.min_exclusive else "≤"
            hi = "<" if self.max_exclusive else "≤"
            text = f"{_fmt_num(self.minimum)} {lo} value {hi} {_fmt_num(self.maximum)}{unit}"
        elif self.minimum is not None:
            op = ">" if self.min_exclusive else "≥"
            text = f"{self.type_name} {op} {_fmt_num(self.minimum)}{unit}"
        elif self.maximum is not None:
            op = "<" if self.max_exclusive else "≤"
            text = f"{self.type_name} {op} {_fmt_num(self.maximum)}{unit}"
        else:
            text = f"{self.type_name}{unit}"
        if self.type_name == "integer" and (self.minimum is not None
                                            or self.maximum is not None):
            text = f"integer, {text}"
        return text


def _unwrap(annotation: object) -> tuple[object, list[object], bool]:
    """Base type, constraint metadata and nullability of a (possibly nested) annotation."""
    nullable = False
    metadata: list[object] = []
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        annotation = members[0]
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extras = typing.get_args(annotation)
        for extra in extras:
            metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
        annotation = base
    return annotation, metadata, nullable


def _field_spec(name: str, info: FieldInfo, docs: tuple[str, str] | None) -> FieldSpec:
    base, metadata, nullable = _unwrap(info.annotation)
    metadata = [*metadata, *info.metadata]
    bounds: dict[str, object] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            bounds.update(minimum=float(item.ge), min_exclusive=False)
        elif isinstance(item, annotated_types.Gt):
            bounds.update(minimum=float(item.gt), min_exclusive=True)
        elif isinstance(item, annotated_types.Le):
            bounds.update(maximum=float(item.le), max_exclusive=False)
        elif isinstance(item, annotated_types.Lt):
            bounds.update(maximum=float(item.lt), max_exclusive=True)
    choices: tuple[str, ...] = ()
    if isinstance(base, type) and issubclass(base, BaseModel):
        type_name = "table"
    elif isinstance(base, type) and issubclass(base, enum.Enum):
        type_name, choices = "choice", tuple(str(m.value) for m in base)
    else:
        # bool before int: bool is an int subclass.
        type_name = {bool: "true/false", int: "integer", float: "number", str: "text"}.get(
            base, getattr(base, "__name__", str(base)))
    unit, description = docs if docs is not None else (unit_from_name(name), "")
    required = info.is_required()
    default = None if required else info.default
    if isinstance(default, enum.Enum):
        default = default.value
    return FieldSpec(name=name, type_name=type_name, unit=unit, description=description,
                     required=required, nullable=nullable, default=default,
                     choices=choices, **bounds)  # type: ignore[arg-type]


def model_field_specs(model: type[BaseModel],
                      docs: Mapping[str, tuple[str, str]] | None = None) -> dict[str, FieldSpec]:
    """A `FieldSpec` per field of a pydantic model, in declaration order.

    Parameters
    ----------
    model : the pydantic model class whose fields are described.
    docs : optional ``{field: (unit, description)}``; fields missing from it get a unit
        inferred from the name suffix and an empty description.
    """
    docs = docs or {}
    return {name: _field_spec(name, info, docs.get(name))
            for name, info in model.model_fields.items()}


#: The profile schema, in PrinterProfile field order.
PROFILE_SCHEMA: dict[str, FieldSpec] = model_field_specs(PrinterProfile, PROFILE_FIELD_DOCS)
#: Keys a profile TOML file may contain.
PROFILE_FILE_KEYS: tuple[str, ...] = tuple(
    [*META_KEYS, *(k for k in PROFILE_SCHEMA if k not in LOADER_SET_KEYS)])


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (difflib), or None when nothing is close."""
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_key_message(key: str, valid: Iterable[str]) -> str:
    """``unknown key 'x'; did you mean 'y'? valid keys: ...`` for one unknown key."""
    valid = sorted(valid)
    hint = closest(key, valid)
    did_you_mean = f"; did you mean '{hint}'?" if hint else ""
    return f"unknown key '{key}'{did_you_mean} Valid keys: {', '.join(valid)}"


def _value_text(value: object) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return _fmt_num(value)
    return repr(value)


_RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def validation_messages(exc: ValidationError, specs: Mapping[str, Mapping[str, FieldSpec]],
                        origin: Mapping[str, str] | None = None) -> list[str]:
    """One readable line per pydantic error: key, value, what is allowed.

    Parameters
    ----------
    exc : the pydantic error.
    specs : field specs by table: ``""`` for the top level, and e.g. ``"release"`` for a
        nested model; a key is looked up in the table named by its location's first part.
    origin : optional ``{key: where it was set}`` (e.g. the file of an inherited value).
    """
    lines: list[str] = []
    origin = origin or {}
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        if not loc:  # model-level (cross-field) check: its message already names the values
            lines.append(str(err["msg"]).removeprefix("Value error, "))
            continue
        key = ".".join(loc)
        table, name = (loc[0], loc[-1]) if len(loc) > 1 else ("", loc[0])
        table_specs = specs.get(table, {})
        spec = table_specs.get(name)
        if err["type"] == "extra_forbidden":
            lines.append(unknown_key_message(key, (f"{table}.{k}" if table else k
                                                   for k in table_specs)))
            continue
        if err["type"] == "missing":
            what = f" ({spec.description})" if spec and spec.description else ""
            lines.append(f"missing required key '{key}'{what}")
            continue
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] in _RANGE_ERRORS:
            msg = "out of range"
        elif err["type"] == "enum":
            msg = "not a valid choice"
        if spec is not None and spec.type_name == "table":  # a nested model's own check
            lines.append(f"[{key}]: {msg}")
            continue
        where = f" (set in {origin[loc[0]]})" if loc[0] in origin else ""
        allowed = f"; allowed: {spec.allowed_text()}" if spec else ""
        lines.append(f"{key} = {_value_text(err.get('input'))}{where}: {msg}{allowed}")
    return lines


def describe_value(value: object) -> str:
    """A profile value as shown in a table: enums by value, floats without noise."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _fmt_num(value)
    return str(value)


def profile_as_table_rows(profile: PrinterProfile) -> list[tuple[str, str, str, str]]:
    """Rows of ``(key, value, unit, description)`` for ``dosecraft profiles show``.

    Parameters
    ----------
    profile : a loaded profile.

    Returns
    -------
    One row per field in schema order; values are display strings (unset → ``""``;
    G-code templates are returned whole, with their newlines).
    """
    return [(name, describe_value(getattr(profile, name)), spec.unit, spec.description)
            for name, spec in PROFILE_SCHEMA.items()]
