"""Trimesh-free mesh loading for slicing: STL parsing, `TriangleMesh`, and the fallback."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh

from dosecraft.dose.shapes import family
from dosecraft.errors import ShapeError
from dosecraft.io.meshes import export_stl, load_mesh, load_slicing_mesh
from dosecraft.io.stl_read import StlFormatError, parse_stl
from dosecraft.model.enums import ShapeKind
from dosecraft.profiles import load_profile
from dosecraft.slicer import slice_tablet
from dosecraft.slicer.section import section_areas
from dosecraft.slicer.triangle_mesh import TriangleMesh


def _ascii_stl(mesh: trimesh.Trimesh) -> bytes:
    lines = ["solid part"]
    for tri in mesh.triangles:
        lines += ["  facet normal 0 0 0", "    outer loop"]
        lines += [f"      vertex {x:.17g} {y:.17g} {z:.17g}" for x, y, z in tri]
        lines += ["    endloop", "  endfacet"]
    return ("\n".join([*lines, "endsolid part"]) + "\n").encode()


@pytest.fixture(scope="module")
def caplet() -> trimesh.Trimesh:
    fam = family(ShapeKind.CAPLET)
    return fam.mesh(fam.dimensions(400.0, 4.0))


def test_binary_and_ascii_give_the_same_triangles(caplet, tmp_path: Path) -> None:
    binary = export_stl(caplet, tmp_path / "c.stl").read_bytes()
    from_binary = parse_stl(binary)
    from_ascii = parse_stl(_ascii_stl(caplet))
    assert from_binary.shape == (len(caplet.faces), 3, 3)
    # binary STL stores float32; the ASCII text here carries full float64 digits
    assert np.allclose(from_binary, caplet.triangles, atol=1e-5)
    assert np.allclose(from_ascii, caplet.triangles, atol=0)


@pytest.mark.parametrize("data", [
    b"", b"solid x\nendsolid x\n", b"solid x\n vertex 1 2 3\n vertex 4 5 6\nendsolid\n",
    b"\x00" * 80 + (5).to_bytes(4, "little") + b"\x00" * 10, b"not an stl at all" * 10,
])
def test_malformed_stl_is_refused(data: bytes) -> None:
    with pytest.raises(StlFormatError):
        parse_stl(data)


def test_non_finite_corners_are_refused() -> None:
    text = b"solid x\n vertex 0 0 0\n vertex 1 0 0\n vertex nan 1 0\nendsolid\n"
    with pytest.raises(StlFormatError):  # 'nan' is no number to the parser: 2 vertices
        parse_stl(text)
    record = np.zeros(1, dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    record["v"][0, 2, 0] = np.inf
    with pytest.raises(StlFormatError, match="finite"):
        parse_stl(b"\x00" * 80 + (1).to_bytes(4, "little") + record.tobytes())


def test_triangle_mesh_matches_trimesh(caplet) -> None:
    mesh = TriangleMesh.from_triangles(caplet.triangles)
    assert mesh.defects() == []
    assert len(mesh.vertices) == len(caplet.vertices)
    assert len(mesh.edges_unique) == len(caplet.edges_unique)
    assert mesh.volume == pytest.approx(caplet.volume, rel=1e-12)
    assert np.allclose(mesh.bounds, caplet.bounds)
    # every face side maps to the edge joining its two corners
    sides = mesh.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 3, 2)
    edges = mesh.edges_unique[mesh.faces_unique_edges]
    assert np.array_equal(np.sort(sides, axis=2), edges)


def test_defects_name_open_and_misoriented_surfaces(caplet) -> None:
    tri = caplet.triangles
    assert "open edges" in " ".join(TriangleMesh.from_triangles(tri[1:]).defects())
    flipped_one = tri.copy()
    flipped_one[0] = flipped_one[0, ::-1]
    assert TriangleMesh.from_triangles(flipped_one).defects() == ["faces wound inconsistently"]
    inside_out = TriangleMesh.from_triangles(tri[:, ::-1])
    assert inside_out.defects() == [] and inside_out.volume < 0
    assert inside_out.outward().volume == pytest.approx(caplet.volume)


def test_bounds_ignore_vertices_no_face_uses(caplet) -> None:
    stray = np.vstack([caplet.vertices, [[500.0, -500.0, 90.0]]])
    mesh = TriangleMesh(vertices=stray, faces=np.asarray(caplet.faces))
    assert np.allclose(mesh.bounds, caplet.bounds)


def test_degenerate_faces_are_dropped(caplet) -> None:
    tri = caplet.triangles
    sliver = np.array([[tri[0, 0], tri[0, 0], tri[0, 1]]])
    mesh = TriangleMesh.from_triangles(np.concatenate([tri, sliver]))
    assert len(mesh.faces) == len(tri) and mesh.defects() == []


def test_fast_loader_slices_like_the_trimesh_loader(caplet, tmp_path: Path) -> None:
    path = export_stl(caplet, tmp_path / "caplet.stl")
    fast, full = load_slicing_mesh(path), load_mesh(path)
    assert np.allclose(fast.bounds, full.bounds, atol=1e-9)
    assert fast.volume == pytest.approx(full.volume, rel=1e-9)
    z = np.linspace(0.05, fast.bounds[1, 2] - 0.05, 9)
    assert np.allclose(section_areas(fast, z), section_areas(full, z), rtol=1e-9)
    profile = load_profile("generic_fdm_175")
    from dosecraft.model.design import InfillStrategy

    strategy = InfillStrategy(0.3, profile.infill_pattern, profile.infill_angle_deg, "test")
    a = slice_tablet(fast, profile, strategy).extruded_volume_mm3
    b = slice_tablet(full, profile, strategy).extruded_volume_mm3
    assert a == pytest.approx(b, rel=1e-9)


def test_inconsistent_winding_falls_back_to_trimesh_repair(caplet, tmp_path: Path) -> None:
    tri = caplet.triangles.copy()
    tri[::7] = tri[::7, ::-1]  # every 7th face inside out: trimesh's fix_normals repairs it
    path = tmp_path / "mixed.stl"
    data = np.zeros(len(tri), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    data["v"] = tri
    path.write_bytes(b"\x00" * 80 + len(tri).to_bytes(4, "little") + data.tobytes())
    mesh = load_slicing_mesh(path)
    assert mesh.defects() == []
    assert mesh.volume == pytest.approx(caplet.volume, rel=1e-5)


def test_open_stl_gets_the_trimesh_error(caplet, tmp_path: Path) -> None:
    open_mesh = caplet.copy()
    open_mesh.update_faces(np.arange(len(caplet.faces)) > 0)
    path = export_stl(open_mesh, tmp_path / "open.stl")
    with pytest.raises(ShapeError, match="not watertight"):
        load_slicing_mesh(path)


def test_slice_command_imports_neither_trimesh_nor_scipy_nor_numpy_ma(tmp_path: Path) -> None:
    fam = family(ShapeKind.CYLINDER)
    stl = export_stl(fam.mesh(fam.dimensions(10.0, 4.0)), tmp_path / "cyl.stl")
    code = ("import sys; sys.argv = ['dosecraft', 'slice', sys.argv[1], '--printer', "
            "'generic_fdm_175', '-o', sys.argv[2]]\n"
            "from dosecraft.cli.entry import main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "heavy = [m for m in ('trimesh', 'scipy', 'networkx', 'httpx', 'reportlab', "
            "'fhir', 'matplotlib', 'numpy.ma') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n"
            "import gc; print('GC enabled', gc.isenabled())\n")
    run = subprocess.run([sys.executable, "-c", code, str(stl), str(tmp_path / "o.gcode")],
                         capture_output=True, text=True, check=True)
    assert "HEAVY []" in run.stdout, run.stdout + run.stderr
    assert "GC enabled True" in run.stdout  # start-up switches it off only for imports
    assert (tmp_path / "o.gcode").read_text().startswith("; dosecraft.version")
