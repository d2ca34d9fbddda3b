"""Mistakes a new user makes on the command line: one clear error each, never a traceback.

Each case comes from trying the README as a new user: the message must name the value that
was wrong and what would work, and the exit status must be 2 (input error).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trimesh
from typer.testing import CliRunner

from dosecraft.cli.main import app
from dosecraft.cli.slice_cmd import object_base
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
RX = ["--drug", "paracetamol", "--formulation", "paracetamol_pva_fdm"]
runner = CliRunner()


def run(*args: object):  # noqa: ANN201
    return runner.invoke(app, [str(a) for a in args])


def assert_input_error(result, *needles: str) -> None:  # noqa: ANN001
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


def test_missing_printer_flag_is_named_as_a_flag() -> None:
    result = run("design", *RX, "--dose-mg", "60")
    assert_input_error(result, "--printer: not given", "profiles list")
    assert "{" not in result.output  # not the whole row as a dict


@pytest.mark.parametrize(("flags", "needles"), [
    (["--dose-mg", "0.25g"], ["--dose-mg", "0.25 g = 250 mg"]),
    (["--dose-mg", "60", "--infill", "50"], ["--infill", "for 50 % write 0.5"]),
    (["--dose-mg", "60", "--mesh-path", "x.stl"], ["set shape to 'mesh'"]),
    (["--dose-mg-per-kg", "15"], ["--dose-mg-per-kg", "--weight-kg"]),
])
def test_prescription_flags(flags: list[str], needles: list[str]) -> None:
    result = run("design", *RX, "--printer", "generic_fdm_175", *flags)
    assert_input_error(result, *needles)


def test_misspelt_drug_gets_a_suggestion() -> None:
    result = run("design", "--drug", "paracetamoll", "--dose-mg", "60", "--formulation",
                 "paracetamol_pva_fdm", "--printer", "generic_fdm_175")
    assert_input_error(result, "did you mean 'paracetamol'")


def test_unknown_formulation_is_an_input_error() -> None:
    result = run("design", "--drug", "paracetamol", "--dose-mg", "60", "--formulation",
                 "no_such_formulation", "--printer", "generic_fdm_175")
    assert_input_error(result, "no_such_formulation")


def test_design_from_a_file_of_many_rows_needs_row() -> None:
    result = run("design", "--from", SAMPLES / "prescriptions.csv")
    assert_input_error(result, "choose one with --row", "RX-2026-0001")


def test_plot_must_be_a_png(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)  # a short path: Typer's error box wraps long ones
    csv = SAMPLES / "dissolution" / "paracetamol_pva_weibull.csv"
    result = run("release", "fit", csv, "--plot", "r.txt")
    assert result.exit_code == 2 and "does not end in .png" in result.output
    assert not (tmp_path / "r.txt").exists()


def _batch_args(tmp_path: Path, *extra: str) -> list[object]:
    src = tmp_path / "rx.csv"
    src.write_text(",".join(PRESCRIPTION_COLUMNS) + "\n"
                   "A-1,P1,paracetamol,100,,,,paracetamol_pva_fdm,generic_fdm_175,,,,,1\n")
    return ["batch", src, "--out", tmp_path / "out", "--records", tmp_path / "rec.sqlite",
            "--no-release", "--quiet", *extra]


def test_bad_dask_address_stops_before_the_batch_starts(tmp_path: Path) -> None:
    result = run(*_batch_args(tmp_path, "--dask", "nonsense"))
    assert_input_error(result, "'nonsense' is not a Dask address", "tcp://HOST:8786")
    records = tmp_path / "rec.sqlite"
    if records.exists():  # nothing may be left "running"
        with sqlite3.connect(records) as db:
            assert db.execute("select count(*) from batches").fetchone()[0] == 0


def test_workers_below_one_are_refused(tmp_path: Path) -> None:
    result = run(*_batch_args(tmp_path, "--workers", "0"))
    assert result.exit_code == 2 and "--workers" in result.output


def test_broken_user_profile_is_named_and_the_rest_listed(tmp_path: Path,
                                                          monkeypatch) -> None:  # noqa: ANN001
    (tmp_path / "myprinter.toml").write_text('id = "x"\n')
    monkeypatch.setenv("DOSECRAFT_PROFILES_PATH", f"{tmp_path}:{tmp_path / 'nope'}")
    result = run("profiles", "list")
    assert_input_error(result, "myprinter.toml", "generic_fdm_175", "is not a folder")


def test_broken_user_formulation_is_named_and_the_rest_listed(tmp_path: Path,
                                                              monkeypatch) -> None:  # noqa: ANN001
    (tmp_path / "myform.toml").write_text('id = "myform"\ndrug = "paracetamol"\n')
    monkeypatch.setenv("DOSECRAFT_FORMULARY_PATH", str(tmp_path))
    result = run("formulary", "list")
    assert_input_error(result, "myform.toml", "paracetamol_pva_fdm", "left out of the list")


def test_mesh_in_metres_is_called_out(tmp_path: Path) -> None:
    trimesh.creation.box((0.01, 0.01, 0.004)).export(tmp_path / "box_m.stl")
    result = run("slice", tmp_path / "box_m.stl", "--printer", "generic_fdm_175", "-o",
                 tmp_path / "o.gcode")
    assert_input_error(result, "exported in metres", "1000")


def test_unwritable_output_names_the_output_not_a_temp_file(tmp_path: Path) -> None:
    result = run("slice", SAMPLES / "meshes" / "rounded_triangle.stl", "--printer",
                 "generic_fdm_175", "-o", "/proc/dosecraft-test.gcode")
    assert_input_error(result, "'/proc/dosecraft-test.gcode'")
    assert ".tmp" not in result.output


def test_object_labels_keep_accented_letters() -> None:
    assert object_base(Path("über tablet ✓.stl")) == "uber_tablet"
    assert object_base(Path("日本.stl")) == "tablet"


def test_design_writes_its_verified_gcode(tmp_path: Path) -> None:
    from dosecraft.gcode import read_gcode

    out = tmp_path / "para.gcode"
    result = run("design", *RX, "--printer", "generic_fdm_175", "--dose-mg", "60",
                 "--quantity", "2", "--rx-id", "RX-9", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"G-code: {out}" in result.output
    readout = read_gcode(out.read_text())
    assert readout.object_names == ("RX-9_1", "RX-9_2")
    for dose in readout.dose_by_object_mg.values():
        assert abs(dose - 60) <= 0.01 * 60


def test_design_output_folder_must_exist(tmp_path: Path) -> None:
    result = run("design", *RX, "--printer", "generic_fdm_175", "--dose-mg", "60", "-o",
                 tmp_path / "no" / "x.gcode")
    assert_input_error(result, "does not exist")


def test_formulary_list_names_the_file_in_effect(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from dosecraft.formulary import SHIPPED_DIR

    own = tmp_path / "paracetamol_pva_fdm.toml"
    own.write_text((SHIPPED_DIR / "paracetamol_pva_fdm.toml").read_text())
    monkeypatch.setenv("DOSECRAFT_FORMULARY_PATH", str(tmp_path))
    result = run("formulary", "list")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.count("│") > 3}
    assert "shipped" not in rows["paracetamol_pva_fdm"]
    assert "shipped" in rows["prednisolone_pva_fdm"]
    flat = "".join(c for c in result.output if c not in "│ \n")
    assert str(own).replace(" ", "") in flat
    shown = run("formulary", "show", "paracetamol_pva_fdm")
    assert "release.erosion_rate_mm_min" in shown.output and str(own) in shown.output
