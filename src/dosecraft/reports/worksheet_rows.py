"""Turn batch.json rows into the worksheet's table lines, tolerating missing keys.

Rows come from several producers (reading errors, pipeline failures, successful jobs) and
gain keys over time, so every lookup here is defensive: a missing or malformed value prints
as "—", never crashes the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dosecraft.number_text import signed

#: Dimension keys in display order, with the short label printed before each value.
_DIM_LABELS: tuple[tuple[str, str], ...] = (
    ("length", "L"), ("width", "W"), ("diameter", "D"), ("outer_diameter", "OD"),
    ("inner_diameter", "ID"), ("height", "H"),
)
DASH = "—"


@dataclass(frozen=True)
class TabletLine:
    """One printed prescription as shown in the per-tablet table (None = not recorded)."""

    row: int | None
    rx_id: str
    patient_ref: str
    drug: str
    quantity: int | None
    target_mg: float | None
    gcode_mg: float | None
    error_pct: float | None
    passed: bool | None
    shape: str
    infill: str
    t80_min: float | None
    gcode_sha: str
    release: Mapping[str, Any] | None


@dataclass(frozen=True)
class FailedLine:
    """A prescription that must not be released, with the reason."""

    row: int | None
    rx_id: str
    drug: str
    target_mg: float | None
    error: str


def num(x: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN, bool)."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def _text(x: Any) -> str:
    return DASH if x is None or x == "" else str(x)


def shape_text(design: Mapping[str, Any] | None) -> str:
    """'cylinder D 8.00 × H 3.20 mm' from a design dict; '—' without one."""
    if not isinstance(design, Mapping):
        return DASH
    kind = str(design.get("shape") or DASH)
    dims = design.get("dimensions_mm")
    if not isinstance(dims, Mapping):
        return kind
    parts = [f"{lab} {v:.2f}" for key, lab in _DIM_LABELS if (v := num(dims.get(key))) is not None]
    if not parts:  # an unknown family: show its own keys rather than nothing
        parts = [f"{k} {v:.2f}" for k, raw in dims.items() if (v := num(raw)) is not None]
    return f"{kind} {' × '.join(parts)} mm" if parts else kind


def infill_text(design: Mapping[str, Any] | None) -> str:
    """'35 % gyroid' from a design dict."""
    infill = design.get("infill") if isinstance(design, Mapping) else None
    if not isinstance(infill, Mapping):
        return DASH
    density = num(infill.get("density"))
    pattern = infill.get("pattern") or ""
    if density is None:
        return _text(pattern or None)
    return f"{100 * density:.0f} % {pattern}".strip()


def _dose_figures(row: Mapping[str, Any]) -> tuple[float | None, float | None, bool | None]:
    """(G-code dose mg, relative error, passed) from the row's flat keys or its dose_check."""
    check = row.get("dose_check") if isinstance(row.get("dose_check"), Mapping) else {}
    target = num(row.get("target_dose_mg"))
    gcode = num(row.get("dose_mg_gcode"))
    if gcode is None:
        gcode = num(check.get("gcode_mg"))
    rel = num(check.get("relative_error"))
    if rel is None and gcode is not None and target:
        rel = gcode / target - 1.0
    passed = check.get("passed")
    return gcode, rel, passed if isinstance(passed, bool) else None


def split_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[TabletLine], list[FailedLine]]:
    """Split batch rows into printed tablets and rows that must not be released.

    A row whose status is not "ok" goes to the failed list only. An "ok" row goes to the
    tablet table; it is also listed as failed when its dose check failed or is missing,
    since the pharmacist must not release a tablet whose dose was not verified.
    """
    lines: list[TabletLine] = []
    failed: list[FailedLine] = []
    for raw in rows:
        row: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        row_no = row.get("row") if isinstance(row.get("row"), int) else None
        rx_id = _text(row.get("rx_id"))
        drug = _text(row.get("drug"))
        target = num(row.get("target_dose_mg"))
        if row.get("status") != "ok":
            failed.append(FailedLine(row_no, rx_id, drug, target,
                                     str(row.get("error") or "failed (no error recorded)")))
            continue
        gcode, rel, passed = _dose_figures(row)
        design = row.get("design") if isinstance(row.get("design"), Mapping) else None
        release = row.get("release") if isinstance(row.get("release"), Mapping) else None
        sha = row.get("gcode_sha256")
        qty = row.get("quantity")
        lines.append(TabletLine(
            row=row_no, rx_id=rx_id, patient_ref=_text(row.get("patient_ref")), drug=drug,
            quantity=qty if isinstance(qty, int) and not isinstance(qty, bool) else None,
            target_mg=target, gcode_mg=gcode,
            error_pct=None if rel is None else 100.0 * rel, passed=passed,
            shape=shape_text(design), infill=infill_text(design),
            t80_min=num(release.get("t80_min")) if release else None,
            gcode_sha=str(sha)[:12] if sha else DASH, release=release,
        ))
        if passed is False:
            got = DASH if gcode is None else f"{gcode:.3f} mg"
            err = DASH if rel is None else f"{signed(100 * rel, 2)} %"
            failed.append(FailedLine(row_no, rx_id, drug, target,
                                     f"dose check failed: G-code dose {got}, error {err}"))
        elif passed is None:
            failed.append(FailedLine(row_no, rx_id, drug, target,
                                     "no dose check recorded: the G-code dose is unverified"))
    return lines, failed


def fmt_mg(x: float | None) -> str:
    """Dose in mg, 3 decimals (the balance's and the solver's resolution), or '—'."""
    return DASH if x is None else f"{x:.3f}"
