"""Builders shared by the G-code tests (profiles, formulations, toolpaths built in code, so
the exact-string tests do not move when the shipped profiles are retuned)."""

from __future__ import annotations

import math

import numpy as np

from dosecraft.gcode import PlacedTablet, Plate
from dosecraft.model import (
    ExtrusionPath,
    Formulation,
    PrinterProfile,
    ReleaseParameters,
    Toolpath,
    ToolpathLayer,
    ToolRole,
)

HEADER = {
    "rx_id": "RX1",
    "target_dose_mg": "12.5",
    "predicted_dose_mg": "12.5",
    "design_sha256": "0" * 64,
}


def fdm_profile(**overrides: object) -> PrinterProfile:
    values: dict[str, object] = dict(
        id="test_fdm", name="Test FDM", technology="fdm", firmware="marlin2",
        extruder="filament", relative_e=True, nozzle_diameter_mm=0.4, feed_diameter_mm=1.75,
        bed_x_mm=100.0, bed_y_mm=100.0, max_z_mm=50.0, layer_height_mm=0.2,
        first_layer_height_mm=0.2, line_width_mm=0.4, wall_count=1, top_layers=1,
        bottom_layers=1, min_feature_mm=0.8, print_speed_mm_s=30.0, wall_speed_mm_s=20.0,
        first_layer_speed_mm_s=10.0, travel_speed_mm_s=100.0, retract_length_mm=1.0,
        retract_speed_mm_s=40.0, z_hop_mm=0.0, plate_spacing_mm=5.0, bed_margin_mm=10.0,
        start_gcode="G28 ; home\nG1 Z5 F600", end_gcode="M104 S0\nM84",
    )
    values.update(overrides)
    return PrinterProfile(**values)


def sse_profile(**overrides: object) -> PrinterProfile:
    values: dict[str, object] = dict(
        id="test_sse", technology="sse", extruder="syringe", nozzle_diameter_mm=0.6,
        feed_diameter_mm=10.0, line_width_mm=0.8, layer_height_mm=0.4,
        first_layer_height_mm=0.4, retract_length_mm=0.05, retract_speed_mm_s=2.0,
        z_hop_mm=0.5, travel_speed_mm_s=40.0, start_gcode="G28", end_gcode="M84",
    )
    values.update(overrides)
    return fdm_profile(**values)


def pneumatic_profile(**overrides: object) -> PrinterProfile:
    values: dict[str, object] = dict(
        id="test_pneu", extruder="pneumatic", feed_diameter_mm=None, retract_length_mm=0.0,
        pressure_on_gcode="M42 P4 S255", pressure_off_gcode="M42 P4 S0",
        pressure_dwell_ms=100,
        # the synthetic beads here are thin (0.08 mm³/mm): at the profile's full flow they
        # would need more than the travel speed
        pneumatic_flow_factor=0.25,
    )
    values.update(overrides)
    return sse_profile(**values)


def formulation(technology: str = "fdm", **overrides: object) -> Formulation:
    values: dict[str, object] = dict(
        id="test_drug_" + technology, name="Test", drug="testamol", carrier="PVA",
        technology=technology, drug_loading=0.1, density_mg_mm3=1.25, mass_factor=1.0,
        print_temp_c=190.0, temp_min_c=180.0, temp_max_c=210.0, bed_temp_c=50.0,
        max_dose_per_unit_mg=100.0, max_daily_dose_mg=1000.0,
        release=ReleaseParameters(model="erosion", erosion_rate_mm_min=0.01),
    )
    if technology == "sse":
        values.update(print_temp_c=25.0, temp_min_c=20.0, temp_max_c=40.0, bed_temp_c=0.0)
    values.update(overrides)
    return Formulation(**values)


def tiny_toolpath(layer_height: float = 0.2) -> Toolpath:
    """Two layers: a closed 10 mm square wall (0.08 mm³/mm) and one 8 mm infill line
    (0.064 mm³/mm), the infill turned 90° on the second layer. Volume 2 × (3.2 + 0.512)."""
    square = np.array([[-5.0, -5.0], [5.0, -5.0], [5.0, 5.0], [-5.0, 5.0]])
    lines = [np.array([[-4.0, 0.0], [4.0, 0.0]]), np.array([[0.0, -4.0], [0.0, 4.0]])]
    layers = []
    for k in range(2):
        wall = ExtrusionPath(ToolRole.OUTER_WALL, square, 0.4, 0.08, closed=True)
        infill = ExtrusionPath(ToolRole.INFILL, lines[k], 0.4, 0.064)
        layers.append(ToolpathLayer(k, layer_height * (k + 1), layer_height, (wall, infill)))
    return Toolpath(tuple(layers))


def round_tablet(radius: float = 5.0, height: float = 3.0, layer: float = 0.2,
                 width: float = 0.45, points: int = 96, infill_step: float = 1.0) -> Toolpath:
    """A cylinder-like toolpath: two concentric walls and a rectilinear infill per layer,
    with off-grid coordinates (for round trips that exercise rounding)."""
    area = (width - layer) * layer + math.pi * layer**2 / 4
    n_layers = int(round(height / layer))
    t = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    layers = []
    for k in range(n_layers):
        paths = []
        for ring in range(2):
            r = radius - width / 2 - ring * width
            loop = np.column_stack([r * np.cos(t + 0.01 * k), r * np.sin(t + 0.01 * k)])
            role = ToolRole.OUTER_WALL if ring == 0 else ToolRole.INNER_WALL
            paths.append(ExtrusionPath(role, loop, width, area, closed=True))
        inner = radius - 2 * width
        ys = np.arange(-inner + infill_step / 2, inner, infill_step)
        zig = []
        for i, y in enumerate(ys):
            half = math.sqrt(max(inner**2 - y**2, 0.0))
            seg = [[-half, y], [half, y]]
            zig.extend(seg if i % 2 == 0 else seg[::-1])
        pts = np.array(zig)
        if k % 2:
            pts = pts[:, ::-1].copy()
        paths.append(ExtrusionPath(ToolRole.INFILL, pts, width, area * 0.97))
        layers.append(ToolpathLayer(k, layer * (k + 1), layer, tuple(paths)))
    return Toolpath(tuple(layers))


def single_plate(toolpath: Toolpath, offset: tuple[float, float] = (50.0, 50.0),
                 label: str = "RX1_1") -> Plate:
    return Plate((PlacedTablet(label, toolpath, np.array(offset)),))


def test_tiny_toolpath_volume_is_hand_computed() -> None:
    assert math.isclose(tiny_toolpath().extruded_volume_mm3, 2 * (40 * 0.08 + 8 * 0.064))


def test_round_tablet_has_walls_and_infill() -> None:
    tp = round_tablet()
    assert tp.layer_count == 15
    roles = tp.volume_by_role()
    assert set(roles) == {ToolRole.OUTER_WALL, ToolRole.INNER_WALL, ToolRole.INFILL}
