"""The slicer's output, bit for bit: reference hashes taken before the speed work.

The slicer was made faster (per-mesh cut tables, ring order shared by the planes of a band,
per-geometry reuse of offsets and line fields, nearest-neighbour ordering from a distance
matrix) on the promise that no toolpath array, flow or volume changes by a single bit.
These SHA-256 values were computed with the code *before* those changes; any difference in
any float of any path shows up here.

The meshes are trimesh primitives and the profiles are built in code (`test_gcode_support`),
so retuning the shipped profiles or the tablet shape families does not move them. A change
that is *meant* to change the toolpath must update the hashes (and say so in its commit).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import trimesh
from test_gcode_support import fdm_profile, sse_profile

from dosecraft.model.design import InfillStrategy
from dosecraft.model.enums import InfillPattern
from dosecraft.model.toolpath import Toolpath
from dosecraft.slicer import predict_deposited_volume_mm3, slice_tablet
from dosecraft.slicer.dedupe import cached_lines, line_cache, unique_geometries
from dosecraft.slicer.ordering import Bead, _fixed_entry_order, order_layer
from dosecraft.slicer.section import _cut_segments, _rings, _section_rings

# -- meshes: standing on z = 0, centred in XY -------------------------------------------


def _on_bed(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    mesh.apply_translation(-np.array([*mesh.bounds.mean(axis=0)[:2], mesh.bounds[0, 2]]))
    return mesh


def cylinder() -> trimesh.Trimesh:
    """A prism: every layer cuts the same polygon."""
    return _on_bed(trimesh.creation.cylinder(radius=5.0, height=4.0, sections=64))


def ring() -> trimesh.Trimesh:
    """A section with a hole."""
    return _on_bed(trimesh.creation.annulus(r_min=2.0, r_max=5.0, height=3.0, sections=48))


def lens() -> trimesh.Trimesh:
    """Domes top and bottom: every layer differs, thin last layers get gap fill."""
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    mesh.apply_scale([1.0, 1.0, 0.45])
    return _on_bed(mesh)


def caplet() -> trimesh.Trimesh:
    """A capsule lying down: rounded flanks, curved first layers."""
    mesh = trimesh.creation.capsule(height=7.0, radius=2.5, count=[24, 12])
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    return _on_bed(mesh)


def box() -> trimesh.Trimesh:
    return _on_bed(trimesh.creation.box(extents=(8.0, 5.0, 3.0)))


MESHES = {"cylinder": cylinder, "ring": ring, "lens": lens, "caplet": caplet, "box": box}
PROFILES = {"fdm": lambda: fdm_profile(wall_count=2, top_layers=2, bottom_layers=2),
            "sse": lambda: sse_profile(wall_count=2)}
R = InfillPattern.RECTILINEAR
#: (mesh, profile, density, pattern)
CASES = [(m, "fdm", d, R) for m in MESHES for d in (1.0, 0.5, 0.2)]
CASES += [(m, "sse", d, R) for m in ("cylinder", "lens", "caplet") for d in (1.0, 0.3)]
CASES += [(m, "fdm", 0.35, p) for m in ("cylinder", "lens") for p in InfillPattern if p != R]


def toolpath_sha256(tp: Toolpath) -> str:
    """SHA-256 of every number of a toolpath: layers, roles, widths, flows, points."""
    h = hashlib.sha256()
    for layer in tp.layers:
        h.update(np.array([layer.index, layer.z_mm, layer.height_mm]).tobytes())
        for p in layer.paths:
            h.update(p.role.value.encode())
            h.update(np.array([p.width_mm, p.mm3_per_mm, float(p.closed)]).tobytes())
            h.update(np.ascontiguousarray(p.points_xy, dtype=np.float64).tobytes())
    return h.hexdigest()


def case_id(case: tuple) -> str:
    mesh, prof, density, pattern = case
    return f"{mesh}-{prof}-{density:g}-{pattern.value}"


def compute(case: tuple) -> tuple[str, str]:
    """(toolpath SHA-256, repr of (extruded volume, predicted volume)) of one case."""
    mesh_name, prof, density, pattern = case
    mesh, profile = MESHES[mesh_name](), PROFILES[prof]()
    tp = slice_tablet(mesh, profile, InfillStrategy(density, pattern, 45.0, "test"))
    predicted = predict_deposited_volume_mm3(mesh, profile, density)
    return toolpath_sha256(tp), repr((tp.extruded_volume_mm3, predicted))


#: Computed with the slicer before the speed work (same inputs, same library versions).
REFERENCE: dict[str, tuple[str, str]] = {
    "cylinder-fdm-1-rectilinear": (
        "0f2eb33d4312882b8cc0dbd70c9418496ac5e17e4a97d569524aa44a41e6673b",
        "(313.654849054594, 313.654849054594)"),
    "cylinder-fdm-0.5-rectilinear": (
        "cd65b548da262c58b18f250cd6d20c6d2c4387aa6216e74f64b29f7f75ca3685",
        "(221.5103363039464, 221.51033630394647)"),
    "cylinder-fdm-0.2-rectilinear": (
        "888de9f6c222845394a28bbd935a5bb28e0edaf88770bf07822a7a3300a0b689",
        "(166.22362865355797, 166.22362865355797)"),
    "ring-fdm-1-rectilinear": (
        "1ab5b5ba04b3855372fe04535419640986bb95d20d290ddbfee3bb9bf36f9f21",
        "(197.3556026367181, 197.355602636718)"),
    "ring-fdm-0.5-rectilinear": (
        "3182e03f8646a9ed407aeba64766b4a7d49d59d47ce5bac2c4d106a555a7c2ef",
        "(159.51862060449412, 159.51862060449406)"),
    "ring-fdm-0.2-rectilinear": (
        "b996e7552211cf76aea07d5521bb1202fb38b31f6f9d4a8a4409523f7a361498",
        "(136.81643138515975, 136.81643138515972)"),
    "lens-fdm-1-rectilinear": (
        "e901f636fadd3e6a1d587b9be183b9eb286de0556c53dd00fc5a67167c5758f7",
        "(233.59083791657983, 233.59083791657983)"),
    "lens-fdm-0.5-rectilinear": (
        "f0ebb693f8fcd7fb120838570afe145274dd73609dffe1d560035b5b1cc613a5",
        "(159.4183199165085, 159.41831991650847)"),
    "lens-fdm-0.2-rectilinear": (
        "6c7fbc53805af68f671335aa928d8bf848cdf190d01f210a7224999cbfc37035",
        "(114.91480911646566, 114.91480911646566)"),
    "caplet-fdm-1-rectilinear": (
        "32f0a37b50e3b23acd9f43b6b1de9a499a417278a2531caa1b6db90c440e348d",
        "(193.48076515882042, 193.48076515882045)"),
    "caplet-fdm-0.5-rectilinear": (
        "9b8717a615378e9fcd326daef3e0cc7c62214b3d9bee8526a45bd96a291a51d2",
        "(140.3744464652884, 140.37444646528837)"),
    "caplet-fdm-0.2-rectilinear": (
        "62d658cca65bd01879f4908466b9089b84825ba53065a2aa11376f92b42aa1ad",
        "(108.51065524916909, 108.51065524916912)"),
    "box-fdm-1-rectilinear": (
        "16929f9d961fe684027a075e973b08ada5567c0c2c724d6a4ffd5c288e9dba5d",
        "(119.99999999999999, 119.99999999999999)"),
    "box-fdm-0.5-rectilinear": (
        "d55701c5b8d15ca75d87d67c356db2999078504fde4242c574f7c9b03d22e00b",
        "(94.18085178155526, 94.18085178155526)"),
    "box-fdm-0.2-rectilinear": (
        "a36f30dcc7a871be011bc9c2322d5ce7346fbbeae90beef4796bca4a4968f07d",
        "(78.68936285048842, 78.68936285048844)"),
    "cylinder-sse-1-rectilinear": (
        "222dabf4d809aade7c4e98589919336bad84c664a1ae0d6dc3e46d117c3b7a27",
        "(313.6548490545941, 313.6548490545941)"),
    "cylinder-sse-0.3-rectilinear": (
        "32213310edd7bcf7ae5277e24be6c4f509ecddcf7141a81e57e46b718eb03349",
        "(224.11291673953005, 224.11291673953)"),
    "lens-sse-1-rectilinear": (
        "e732f789950d06c9499f96caebb56814d92025e41b2022c4a4c32bd4d74232c6",
        "(233.61181567491062, 233.6118156749106)"),
    "lens-sse-0.3-rectilinear": (
        "8e42b39c3d43e14491e9dbea725c3ac42ef06a1a81ab68ddb5ed9bb250b7f3b4",
        "(162.08020741445688, 162.08020741445685)"),
    "caplet-sse-1-rectilinear": (
        "e9d446d0af78237895409cef5db34f49016d3023f3a720531aee6b30ca074553",
        "(193.4883529448363, 193.48835294483632)"),
    "caplet-sse-0.3-rectilinear": (
        "b5b37b34e3fa4f0b0afe4a112744375c97a7f86157d6f80e9bd13e59eb35a529",
        "(161.37727285738282, 161.37727285738282)"),
    "cylinder-fdm-0.35-grid": (
        "910c81546d4b917ab99567006733c85d15fc40d928111c06710e57fa6c9f75b3",
        "(193.86698247875222, 193.86698247875228)"),
    "cylinder-fdm-0.35-triangles": (
        "9ffc6086ffecf7058046eef7b16b95c349cae047cca5b4fe41e25f63f2915667",
        "(193.86698247875228, 193.86698247875228)"),
    "cylinder-fdm-0.35-honeycomb": (
        "7a5ad94b5a5febc40691ca8247c0f750ad17687c3f5fd731de2afec26be736a8",
        "(193.86698247875222, 193.86698247875228)"),
    "cylinder-fdm-0.35-gyroid": (
        "9aec51f42dfc39bfeefde472bc2db02f3eacf9ffee1ea71bf60c64f03f63d38a",
        "(193.8669824787521, 193.86698247875228)"),
    "cylinder-fdm-0.35-concentric": (
        "85958203cd9da54100fec58d40aaa6e2b058d26839490beb78e9c385d6c6cd78",
        "(193.86698247875208, 193.86698247875228)"),
    "lens-fdm-0.35-grid": (
        "6c2d50d0cb56ec1b8755d6861e04ce30ff812af601a11da0d64cd964b6030ce0",
        "(137.16656451648709, 137.16656451648709)"),
    "lens-fdm-0.35-triangles": (
        "7ca0349ce711f44c857c28512d84acb4c7c8e61d262719924db2f5d2345706a6",
        "(137.16656451648709, 137.16656451648709)"),
    "lens-fdm-0.35-honeycomb": (
        "01638a85c727a1043fd1bec6a019ae058f550eae526a2037ed8fcc63f55361ef",
        "(137.16656451648717, 137.16656451648709)"),
    "lens-fdm-0.35-gyroid": (
        "c8eade47715d1fe1d2e965340756794f14bebe6a632def40648d3671fd8211a1",
        "(137.16656451648697, 137.16656451648709)"),
    "lens-fdm-0.35-concentric": (
        "6627ee2e7b31159c1e18a8456ce1b3ce2ea63c018d9031fb02058a2b9a7cad1c",
        "(137.16656451648706, 137.16656451648709)"),
}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_toolpath_is_bit_identical_to_the_reference(case: tuple) -> None:
    assert compute(case) == REFERENCE[case_id(case)]


def test_every_case_has_a_reference() -> None:
    assert sorted(REFERENCE) == sorted(case_id(c) for c in CASES)


# -- the faster pieces against the code they replace ---------------------------------------


@pytest.mark.parametrize("name", sorted(MESHES))
def test_band_shared_rings_equal_per_plane_rings(name: str) -> None:
    """`_section_rings` reuses one ring order per band of planes between vertex heights;
    it must give exactly the arrays of cutting and chaining every plane."""
    mesh = MESHES[name]()
    z0, z1 = mesh.bounds[:, 2]
    rng = np.random.default_rng(7)
    for planes in (np.linspace(z0 - 0.1, z1 + 0.1, 97), np.sort(rng.uniform(z0, z1, 40)),
                   np.unique(mesh.vertices[:, 2]), np.array([0.5 * (z0 + z1)])):
        expected = _rings(*_cut_segments(mesh, planes))
        got = _section_rings(mesh, planes)
        for e, g in zip(expected, got, strict=True):
            assert e.dtype == g.dtype and e.shape == g.shape
            assert e.tobytes() == g.tobytes()


def _reference_order(beads: list[Bead], at: np.ndarray) -> tuple[list, np.ndarray]:
    """The nearest-neighbour loop as it was (fixed entry points only)."""
    n = len(beads)
    closed = np.array([b.closed for b in beads])
    seam = np.array([int(np.lexsort((b.points[:, 0], b.points[:, 1]))[-1]) if b.closed else 0
                     for b in beads])
    heads = np.array([b.points[seam[i]] for i, b in enumerate(beads)])
    tails = np.array([b.points[-1] for b in beads])
    tails[closed] = np.inf
    left = np.ones(n, bool)
    out = []
    for _ in range(n):
        dh = np.hypot(*(heads - at).T)
        dt = np.hypot(*(tails - at).T)
        d = np.minimum(dh, dt)
        d[~left] = np.inf
        j = int(np.argmin(d))
        left[j] = False
        pts = beads[j].points
        if closed[j]:
            pts = np.concatenate([pts[seam[j]:], pts[:seam[j]]]) if seam[j] else pts
        elif dt[j] < dh[j]:
            pts = pts[::-1]
        out.append((beads[j], pts))
        at = pts[0] if closed[j] else pts[-1]
    return out, at


@pytest.mark.parametrize("n", [2, 3, 17, 40, 120])
def test_fixed_entry_order_matches_the_loop(n: int) -> None:
    """Open lines (with exact ties) and outer walls, small groups (Python floats) and
    large ones (numpy rows)."""
    from dosecraft.model.enums import ToolRole

    rng = np.random.default_rng(n)
    beads = []
    for i in range(n):
        if i % 7 == 3:
            loop = rng.normal(size=(12, 2)) + rng.integers(-5, 5, 2)
            beads.append(Bead(ToolRole.OUTER_WALL, loop, 0.4, 0.08, True, 0, -1))
        else:
            pts = np.round(rng.uniform(-5, 5, (rng.integers(2, 5), 2)), 1)  # ties happen
            beads.append(Bead(ToolRole.INFILL, pts, 0.4, 0.08, False, -1, 0))
    at = np.array([0.3, -0.2])
    expected, end = _reference_order(beads, at)
    closed = np.array([b.closed for b in beads])
    seam = np.array([int(np.lexsort((b.points[:, 0], b.points[:, 1]))[-1]) if b.closed else 0
                     for b in beads])
    heads = np.array([b.points[seam[i]] for i, b in enumerate(beads)])
    tails = np.array([b.points[-1] for b in beads])
    tails[closed] = np.inf
    got, got_end = _fixed_entry_order(beads, at, heads, tails, closed, seam)
    assert [b for b, _ in got] == [b for b, _ in expected]
    for (_, g), (_, e) in zip(got, expected, strict=True):
        assert g.tobytes() == e.tobytes()
    assert got_end.tobytes() == end.tobytes()
    # and through the public entry point (groups by role, then nearest first)
    ordered, _ = order_layer(beads, at)
    assert sorted(id(b) for b, _ in ordered) == sorted(id(b) for b in beads)


def test_unique_geometries_and_line_cache() -> None:
    import shapely

    a, b = shapely.box(0, 0, 1, 1), shapely.box(0, 0, 2, 1)
    unique, inverse = unique_geometries(np.array([a, b, shapely.box(0, 0, 1, 1), b],
                                                 dtype=object))
    assert len(unique) == 2 and inverse.tolist() == [0, 1, 0, 1]
    calls = []

    def compute() -> list[np.ndarray]:
        calls.append(1)
        return [np.array([[0.0, 0.0], [1.0, 1.0]])]

    assert len(cached_lines(compute, a, 1.0)) == 1 and len(calls) == 1  # no block: no cache
    with line_cache():
        first = cached_lines(compute, a, 1.0)
        first[0][0, 0] = 99.0                        # a caller may modify what it got
        again = cached_lines(compute, shapely.box(0, 0, 1, 1), 1.0)
        other = cached_lines(compute, a, 2.0)
    assert len(calls) == 3                           # one hit (same WKB, same parameters)
    assert again[0][0, 0] == 0.0 and other[0][0, 0] == 0.0
