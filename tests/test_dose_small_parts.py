"""The dose contract on the hardest parts: 2–3 mm mini-tablets and thin-walled rings.

A test formulary folder (the user-folder mechanism) holds a drug dense enough that a
2 mm mini-tablet is a real dose, so these sizes are exercised on FDM and SSE printers.
"""

import math

import pytest

from dosecraft.constants import DOSE_TOLERANCE
from dosecraft.model import Prescription, ShapeKind
from dosecraft.pipeline import Job, Stage, run_job

FORMULATIONS = {
    "fdm": ("minitest_fdm", "generic_fdm_175", 0.36, 'filament_diameter_mm = 1.75\n'
            'print_temp_c = 180.0\ntemp_min_c = 170.0\ntemp_max_c = 200.0\n'),
    "sse": ("minitest_sse", "generic_sse_syringe", 0.36,
            'print_temp_c = 25.0\ntemp_min_c = 20.0\ntemp_max_c = 40.0\n'),
}


@pytest.fixture(scope="module")
def formulary(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formulary")
    for tech, (fid, _printer, _per_mm3, extra) in FORMULATIONS.items():
        (folder / f"{fid}.toml").write_text(
            f'id = "{fid}"\nname = "test drug 30 % ({tech})"\ndrug = "testdrug"\n'
            f'carrier = "test"\ntechnology = "{tech}"\ndrug_loading = 0.3\n'
            'density_mg_mm3 = 1.2\n' + extra +
            'min_dose_per_unit_mg = 0.1\nmax_dose_per_unit_mg = 400.0\n'
            'max_daily_dose_mg = 2000.0\nexample = true\nsource = "test"\n'
            '[release]\nmodel = "erosion"\nerosion_rate_mm_min = 0.02\n',
            encoding="utf-8")
    return str(folder)


def run(rx: Prescription, formulary: str):
    return run_job(Job(prescription=rx, until=Stage.GCODE, formulary_dirs=(formulary,)))


@pytest.mark.parametrize("tech", ["fdm", "sse"])
@pytest.mark.parametrize("diameter", [2.05, 2.5, 2.95])
@pytest.mark.parametrize("infill", [None, 0.1, 0.5])
def test_minitablets(formulary, tech, diameter, infill):
    fid, printer, per_mm3, _ = FORMULATIONS[tech]
    dose = math.pi * (diameter / 2) ** 2 * diameter * per_mm3 * 0.8
    rx = Prescription(rx_id="MINI-1", drug="testdrug", dose_mg=round(dose, 4),
                      formulation=fid, printer=printer, shape="minitablet", age_years=1,
                      infill=infill, quantity=3)
    result = run(rx, formulary)
    assert result.ok, result.error
    assert result.design.shape == ShapeKind.MINITABLET
    assert 2.0 <= result.design.dimensions_mm["diameter"] <= 3.0 * 1.005
    for dose_mg in result.gcode_dose_by_tablet_mg.values():
        assert abs(dose_mg / rx.unit_dose_mg - 1) <= DOSE_TOLERANCE


@pytest.mark.parametrize("tech", ["fdm", "sse"])
@pytest.mark.parametrize("dose_mg", [12.0, 25.0, 90.0])
@pytest.mark.parametrize("infill", [0.1, 1.0])
def test_rings(formulary, tech, dose_mg, infill):
    fid, printer, _, _ = FORMULATIONS[tech]
    rx = Prescription(rx_id="RING-1", drug="testdrug", dose_mg=dose_mg, formulation=fid,
                      printer=printer, shape="torus", infill=infill)
    result = run(rx, formulary)
    assert result.ok, result.error
    (dose,) = result.gcode_dose_by_tablet_mg.values()
    assert abs(dose / dose_mg - 1) <= DOSE_TOLERANCE
