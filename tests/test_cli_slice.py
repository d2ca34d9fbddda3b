"""`dosecraft slice`: plain slicing of a mesh file, parse-back invariants, and bad inputs."""

from pathlib import Path

import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from dosecraft.cli.main import app
from dosecraft.dose.shapes import family
from dosecraft.gcode import read_gcode
from dosecraft.io.meshes import export_stl, load_mesh
from dosecraft.model.enums import ShapeKind
from dosecraft.profiles import load_profile

PRINTER = "generic_fdm_175"
runner = CliRunner()


def slice_args(mesh: Path, out: Path, *extra: str) -> list[str]:
    return ["slice", str(mesh), "--printer", PRINTER, "-o", str(out), *extra]


@pytest.fixture(scope="module")
def cylinder_stl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fam = family(ShapeKind.CYLINDER)
    path = tmp_path_factory.mktemp("mesh") / "cyl 10x4.stl"  # a space: labels must cope
    return export_stl(fam.mesh(fam.dimensions(10.0, 4.0)), path)


@pytest.fixture(scope="module")
def triangle(samples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The sample rounded-triangle prism (4 mm tall), sliced at 40 % infill."""
    mesh = samples_dir / "meshes" / "rounded_triangle.stl"
    out = tmp_path_factory.mktemp("out") / "triangle.gcode"
    result = runner.invoke(app, slice_args(mesh, out, "--infill", "0.4"))
    assert result.exit_code == 0, result.output
    return mesh, out, result.output


def test_writes_complete_gcode_with_header(triangle) -> None:
    mesh, out, output = triangle
    text = out.read_text()
    assert text.startswith("; dosecraft.version = ")
    assert text.endswith("M84\n")  # the profile's end template made it to the file
    readout = read_gcode(text)
    assert readout.header["drug"] == "none (plain slicing)"
    assert readout.header["target_dose_mg"] == "none"
    assert readout.header["source_mesh"] == mesh.name
    assert readout.object_names == ("rounded_triangle_1",)
    assert not list(out.parent.glob(".*.tmp"))  # the atomic write left no temp file
    for word in ("layers", "extruded volume", "mass", "print time", "bounding box", "SHA-256"):
        assert word in output
    assert "dose /" not in output  # no formulation: no dose reported
    assert readout.header["design_sha256"] != ""


def test_layer_count_is_height_over_layer_height(triangle) -> None:
    _, out, _ = triangle
    readout = read_gcode(out.read_text())
    profile = load_profile(PRINTER)
    assert readout.layer_count == round(4.0 / profile.layer_height_mm)
    extruding = readout.moves.extruding
    assert np.isclose(readout.moves.end[extruding, 2].max(), 4.0)


def test_extrusion_inside_outline_and_bed_and_z_monotonic(triangle) -> None:
    mesh_path, out, _ = triangle
    profile = load_profile(PRINTER)
    readout = read_gcode(out.read_text())
    assert readout.invariant_violations() == []
    moves = readout.moves
    ext = moves.extruding
    z = moves.end[ext, 2]
    assert np.all(np.diff(z) >= -1e-9), "Z decreased between extrusions"
    # A single tablet is centred on the bed; its outline there, grown by half a bead.
    centre = np.array([profile.bed_x_mm, profile.bed_y_mm]) / 2
    lo, hi = readout.bbox[:, :2]
    assert np.allclose((lo + hi) / 2, centre, atol=0.01)
    mesh = load_mesh(mesh_path)
    section = mesh.section(plane_origin=[0, 0, 2.0], plane_normal=[0, 0, 1])
    polygon, to_3d = section.to_2D()
    outline = shapely.affinity.translate(
        shapely.unary_union(polygon.polygons_full),
        xoff=to_3d[0, 3] + centre[0], yoff=to_3d[1, 3] + centre[1])
    allowed = outline.buffer(profile.line_width_mm / 2 + 1e-3)
    pts = np.vstack([moves.start[ext, :2], moves.end[ext, :2]])
    inside = shapely.contains_xy(allowed, pts[:, 0], pts[:, 1])
    assert inside.all(), f"{(~inside).sum()} extrusion points outside the outline"
    assert np.all(pts >= 0) and np.all(pts <= [profile.bed_x_mm, profile.bed_y_mm])
    assert readout.bbox[1, 2] <= profile.max_z_mm


def test_formulation_and_copies_report_dose(cylinder_stl: Path, tmp_path: Path) -> None:
    out = tmp_path / "cyl.gcode"
    result = runner.invoke(app, slice_args(cylinder_stl, out, "--formulation",
                                           "paracetamol_pva_fdm", "--copies", "3",
                                           "--infill", "0.5"))
    assert result.exit_code == 0, result.output
    readout = read_gcode(out.read_text())
    assert readout.object_names == ("cyl_10x4_1", "cyl_10x4_2", "cyl_10x4_3")
    doses = list(readout.dose_by_object_mg.values())
    predicted = float(readout.header["predicted_dose_mg"])
    assert np.allclose(doses, predicted, rtol=1e-5)
    assert readout.header["drug"] == "paracetamol"
    assert "dose / tablet" in result.output and "paracetamol" in result.output


def test_same_inputs_give_identical_files(cylinder_stl: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.gcode", tmp_path / "b.gcode"
    for out in (a, b):
        assert runner.invoke(app, slice_args(cylinder_stl, out)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.stl"
    path.write_bytes(b"solid nonsense\nthis is not an stl at all\x00\x01\x02" * 20)
    return path


def _open_box(tmp_path: Path) -> Path:
    import trimesh

    box = trimesh.creation.box((5, 5, 5))
    box.update_faces(np.arange(len(box.faces)) > 1)  # drop one side: open edges
    return export_stl(box, tmp_path / "open.stl")


def _bottomless(tmp_path: Path) -> Path:
    fam = family(ShapeKind.CYLINDER)
    mesh = fam.mesh(fam.dimensions(10.0, 4.0))
    mesh.update_faces(mesh.triangles_center[:, 2] > 1e-6)  # no bottom disc: a large hole
    return export_stl(mesh, tmp_path / "bottomless.stl")


def _huge(tmp_path: Path) -> Path:
    import trimesh

    return export_stl(trimesh.creation.box((250, 20, 5)), tmp_path / "huge.stl")


@pytest.mark.parametrize(("case", "needle"), [
    ("missing mesh", "does not exist"),
    ("unknown printer", "no_such_printer"),
    ("garbage stl", "garbage.stl"),
    ("small hole", "not watertight"),
    ("large hole", "not watertight"),
    ("larger than the bed", "bed margin"),
    ("output folder missing", "does not exist"),
    ("output is a device", "not a regular file"),
    ("technology mismatch", "SSE"),
    ("bad layer height", "--layer-height"),
])
def test_bad_inputs_exit_2_without_file(case: str, needle: str, cylinder_stl: Path,
                                        tmp_path: Path) -> None:
    out = tmp_path / "out.gcode"
    mesh, extra = cylinder_stl, []
    if case == "missing mesh":
        mesh = tmp_path / "nope.stl"
    elif case == "unknown printer":
        extra = ["--printer", "no_such_printer"]
    elif case == "garbage stl":
        mesh = _garbage(tmp_path)
    elif case == "small hole":
        mesh = _open_box(tmp_path)
    elif case == "large hole":
        mesh = _bottomless(tmp_path)
    elif case == "larger than the bed":
        mesh = _huge(tmp_path)
    elif case == "output folder missing":
        out = tmp_path / "no" / "such" / "folder" / "out.gcode"
    elif case == "output is a device":
        out = Path("/dev/null")
    elif case == "technology mismatch":
        extra = ["--formulation", "hydrocortisone_gel_sse"]
    elif case == "bad layer height":
        extra = ["--layer-height", "0.5"]
    args = slice_args(mesh, out)
    if extra[:1] == ["--printer"]:
        args[args.index("--printer") + 1] = extra[1]
    else:
        args += extra
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and needle in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if out != Path("/dev/null"):
        assert not out.exists()
        assert not out.parent.exists() or not list(out.parent.glob("*.gcode*"))
    else:
        assert out.is_char_device()


def test_failed_run_keeps_the_previous_file(cylinder_stl: Path, tmp_path: Path) -> None:
    out = tmp_path / "keep.gcode"
    out.write_text("previous\n")
    result = runner.invoke(app, slice_args(cylinder_stl, out, "--copies", "500"))
    assert result.exit_code == 2, result.output
    assert "fit" in result.output
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.gcode"]
