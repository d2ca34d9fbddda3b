"""The ``; dosecraft.<key> = <value>`` header: fixed key order, derived keys, validation.

The header carries everything the reader needs to turn the G-code back into a dose, so the
values that the writer can derive itself (formulation constants, E mode, feed diameter,
tablet count, pressure commands) are filled in by the writer; a caller value for one of them
must agree, otherwise the header would describe a different program than the one written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from dosecraft import __version__
from dosecraft.errors import GcodeError
from dosecraft.gcode.dialect import Dialect
from dosecraft.gcode.fmt import fmt_exact
from dosecraft.model.formulation import Formulation
from dosecraft.model.profile import PrinterProfile
from dosecraft.slicer.flow import Flow

#: Keys in the order they are written; any other key follows, sorted.
HEADER_ORDER: tuple[str, ...] = (
    "version", "rx_id", "drug", "target_dose_mg", "predicted_dose_mg", "drug_loading",
    "density_mg_mm3", "mass_factor", "e_mode", "feed_diameter_mm", "tablets", "design_sha256",
)
#: Keys only the caller knows; the writer refuses to write a program without them.
CALLER_KEYS: tuple[str, ...] = ("rx_id", "target_dose_mg", "predicted_dose_mg", "design_sha256")
#: Derived keys whose values are numbers (compared numerically against a caller's value).
_NUMERIC = {"drug_loading", "density_mg_mm3", "mass_factor", "feed_diameter_mm", "tablets",
            "pneumatic_flow_factor", "pneumatic_flow_mm3_s", "pressure_dwell_ms"}
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
HEADER_PREFIX = "; dosecraft."


def derived_header(profile: PrinterProfile, formulation: Formulation, dialect: Dialect,
                   labels: Sequence[str]) -> dict[str, str]:
    """Header values the writer knows from its inputs."""
    derived = {
        "version": __version__,
        "drug": formulation.drug,
        "drug_loading": fmt_exact(formulation.drug_loading),
        "density_mg_mm3": fmt_exact(formulation.density_mg_mm3),
        "mass_factor": fmt_exact(formulation.mass_factor),
        "e_mode": dialect.extruder.e_mode,
        "feed_diameter_mm": ("none" if profile.feed_diameter_mm is None
                             else fmt_exact(profile.feed_diameter_mm)),
        "tablets": str(len(labels)),
        "firmware": profile.firmware.value,
        "printer": profile.id,
        "formulation": formulation.id,
        "objects": ",".join(labels),
        "relative_e": "true" if profile.relative_e else "false",
    }
    if not dialect.extruder.uses_e_axis:
        derived["pneumatic_flow_factor"] = fmt_exact(profile.pneumatic_flow_factor)
        # the reader's volume: flow × time with the valve open (length ÷ feed)
        derived["pneumatic_flow_mm3_s"] = fmt_exact(Flow.from_profile(profile)
                                                    .pneumatic_flow_mm3_s or math.nan)
        derived["pressure_on"] = dialect.pressure_on
        derived["pressure_off"] = dialect.pressure_off
        derived["pressure_dwell_ms"] = str(profile.pressure_dwell_ms)
    return derived


def _agrees(key: str, given: str, derived: str) -> bool:
    if key in _NUMERIC:
        try:
            return math.isclose(float(given), float(derived), rel_tol=1e-12, abs_tol=0.0)
        except ValueError:
            return given.strip().lower() == derived
    return given.strip() == derived


def build_header(caller: Mapping[str, str], derived: Mapping[str, str]) -> dict[str, str]:
    """Merge caller and derived values into the ordered header.

    Parameters
    ----------
    caller : values from the caller; must contain `CALLER_KEYS`.
    derived : values from `derived_header`.

    Returns
    -------
    dict in write order: `HEADER_ORDER` first, then the other keys sorted.

    Raises
    ------
    GcodeError
        A caller key is missing or malformed, a value spans lines, or a caller value
        disagrees with the derived one.
    """
    missing = [k for k in CALLER_KEYS if k not in caller]
    if missing:
        raise GcodeError(
            f"G-code header lacks {', '.join(missing)}: the caller must give "
            f"{', '.join(CALLER_KEYS)} (the writer fills in the rest)"
        )
    merged: dict[str, str] = dict(derived)
    for key, value in caller.items():
        if not _KEY.match(key):
            raise GcodeError(f"G-code header key {key!r} must match {_KEY.pattern}")
        text = str(value).strip()
        if "\n" in text or "\r" in text:
            raise GcodeError(f"G-code header value for {key!r} spans lines: {text!r}")
        if key in derived and not _agrees(key, text, derived[key]):
            raise GcodeError(
                f"G-code header {key} = {text!r} disagrees with the value the writer derives "
                f"from the profile/formulation/plate ({derived[key]!r}); drop it from the "
                "header mapping or fix its source"
            )
        if key not in derived:
            merged[key] = text
    ordered = {k: merged[k] for k in HEADER_ORDER if k in merged}
    ordered.update({k: merged[k] for k in sorted(merged) if k not in ordered})
    return ordered


def header_lines(header: Mapping[str, str]) -> list[str]:
    """``; dosecraft.<key> = <value>`` lines in the mapping's order."""
    return [f"{HEADER_PREFIX}{k} = {v}" for k, v in header.items()]


_LINE = re.compile(r"^;\s*dosecraft\.([a-z][a-z0-9_]*)\s*=\s?(.*?)\s*$")


def parse_header_line(line: str) -> tuple[str, str] | None:
    """``(key, value)`` of a ``; dosecraft.<key> = <value>`` line, else None."""
    m = _LINE.match(line)
    return (m.group(1), m.group(2)) if m else None
