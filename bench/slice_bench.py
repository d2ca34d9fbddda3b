"""Slicer benchmark: in-process slicing speed, the whole prescription path, and the peers.

1. The 10 × 4 mm cylinder at 0.2 mm layers, in process (goal ≤ 30 ms).
2. Fifty varied cylinders (Ø 5–14 mm, 2–6 mm tall, 10–100 % infill) through
   `slice_tablet` on generic_fdm_175: median per-tablet time (median of `--runs` runs).
3. The sample prescriptions through ``run_job(Job(..., until=Stage.GCODE))``: median time
   of the dose closure (design + slicing until the dose is exact) and of closure + G-code.
4. Whole processes on the same STL files with equal settings — ``dosecraft slice`` against
   PrusaSlicer and CuraEngine when they are installed (see `peer_slicers`): wall-clock and
   CPU time, and the deposited volume (each program's extrusion, parsed by one small
   parser, × filament area) ÷ mesh volume, for a cylinder, a biconvex and a caplet at
   100 % and 50 % infill.

Run: ``.venv/bin/python bench/slice_bench.py [--runs N] [--quick]`` (or ``make bench``).
Figures go to stdout; nothing is asserted (timings belong in benchmarks, not in tests).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peer_slicers, run as a script

from peer_slicers import PrintSettings, available_peers, deposited_filament_mm  # noqa: E402

from dosecraft.cli.slice_cmd import plain_formulation, slice_to_program  # noqa: E402
from dosecraft.dose.shapes import family  # noqa: E402
from dosecraft.errors import DosecraftError  # noqa: E402
from dosecraft.io.meshes import export_stl  # noqa: E402
from dosecraft.io.prescriptions import read_prescriptions  # noqa: E402
from dosecraft.model.design import InfillStrategy  # noqa: E402
from dosecraft.model.enums import InfillPattern, ShapeKind  # noqa: E402
from dosecraft.model.profile import PrinterProfile  # noqa: E402
from dosecraft.pipeline import Job, Stage, run_job  # noqa: E402
from dosecraft.profiles import load_profile  # noqa: E402
from dosecraft.slicer import slice_tablet  # noqa: E402

PROFILE = "generic_fdm_175"
ROOT = Path(__file__).resolve().parents[1]
PRESCRIPTIONS = ROOT / "samples" / "prescriptions.csv"
GOAL_MS = 30.0
#: Peer comparison shapes: (label, kind, size mm, height mm). Heights are whole 0.2 mm
#: layers so every slicer prints the same layer count.
PEER_SHAPES = (("cylinder 10×4", ShapeKind.CYLINDER, 10.0, 4.0),
               ("biconvex 10×4.4", ShapeKind.BICONVEX, 10.0, 4.4),
               ("caplet 15.4×7×5", ShapeKind.CAPLET, 7.0, 5.0))
PEER_INFILLS = (1.0, 0.5)


def median_time(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall and CPU time of `runs` calls, seconds.

    CPU time is reported too because the bench machine may be shared: wall time then
    includes waiting for a core, CPU time does not.
    """
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def shape_mesh(kind: ShapeKind, size_mm: float, height_mm: float) -> trimesh.Trimesh:
    """A shape family's mesh, centred, on z = 0."""
    fam = family(kind)
    return fam.mesh(fam.dimensions(size_mm, height_mm))


def strategy(density: float) -> InfillStrategy:
    return InfillStrategy(density, InfillPattern.RECTILINEAR, 45.0, "bench")


# -- 2. fifty cylinders ------------------------------------------------------------------

def cylinder_set(count: int = 50, seed: int = 2026) -> list[tuple[float, float, float]]:
    """(diameter, height, infill) triples, reproducible."""
    rng = np.random.default_rng(seed)
    d = np.round(rng.uniform(5.0, 14.0, count), 2)
    h = np.round(rng.uniform(2.0, 6.0, count), 2)
    infill = np.round(rng.uniform(0.1, 1.0, count), 2)
    return list(zip(d.tolist(), h.tolist(), infill.tolist(), strict=True))


def bench_cylinders(profile: PrinterProfile, runs: int) -> None:
    times, cpus, failures = [], [], []
    for d, h, infill in cylinder_set():
        mesh = shape_mesh(ShapeKind.CYLINDER, d, h)
        try:
            slice_tablet(mesh, profile, strategy(infill))  # warm and check once
        except DosecraftError as exc:
            failures.append(f"Ø{d}×{h} mm at {infill:.0%}: {exc}")
            continue
        wall, cpu = median_time(lambda m=mesh, i=infill: slice_tablet(m, profile, strategy(i)),
                                runs)
        times.append(wall)
        cpus.append(cpu)
    ms, cpu_ms = np.array(times) * 1e3, np.array(cpus) * 1e3
    print(f"\n2. slice_tablet, {len(times)} cylinders (Ø 5–14 mm, 2–6 mm, 10–100 % infill), "
          f"median of {runs} runs each")
    if ms.size:
        print(f"   per tablet: median {np.median(ms):.1f} ms, p90 {np.percentile(ms, 90):.1f} ms,"
              f" min {ms.min():.1f} ms, max {ms.max():.1f} ms (CPU: median "
              f"{np.median(cpu_ms):.1f} ms)")
    for line in failures:
        print(f"   FAILED {line}")


# -- 3. sample prescriptions ---------------------------------------------------------------

def bench_prescriptions(runs: int) -> None:
    rows = [r for r in read_prescriptions(PRESCRIPTIONS) if r.prescription is not None]
    closure, whole, per_tablet, failures = [], [], [], []
    for row in rows:
        rx = row.prescription
        samples: list[tuple[float, float]] = []
        for _ in range(runs):
            marks: dict[Stage, float] = {}
            start = time.perf_counter()
            result = run_job(Job(prescription=rx, until=Stage.GCODE),
                             on_progress=lambda s, _m, marks=marks: marks.setdefault(
                                 s, time.perf_counter()))
            end = time.perf_counter()
            if not result.ok:
                failures.append(f"{rx.rx_id}: {result.error}")
                break
            samples.append((marks[Stage.GCODE] - start, end - start))
        if len(samples) == runs:
            closure.append(statistics.median(s[0] for s in samples))
            whole.append(statistics.median(s[1] for s in samples))
            per_tablet.append(whole[-1] / rx.quantity)
    print(f"\n3. run_job(until=GCODE), {len(whole)} sample prescriptions "
          f"({PRESCRIPTIONS.name}), median of {runs} runs each")
    if whole:
        print(f"   dose closure (design + slice until exact): median "
              f"{statistics.median(closure) * 1e3:.0f} ms, max {max(closure) * 1e3:.0f} ms")
        print(f"   closure + G-code for all copies (+ re-read): median "
              f"{statistics.median(whole) * 1e3:.0f} ms, max {max(whole) * 1e3:.0f} ms")
        print(f"   the same ÷ quantity (per printed tablet): median "
              f"{statistics.median(per_tablet) * 1e3:.0f} ms")
    for line in failures:
        print(f"   FAILED {line}")


# -- 1. the reference tablet -------------------------------------------------------------

def bench_reference(profile: PrinterProfile, runs: int) -> None:
    mesh = shape_mesh(ShapeKind.CYLINDER, 10.0, 4.0)
    print(f"\n1. 10 × 4 mm cylinder, 0.2 mm layers, in process (goal ≤ {GOAL_MS:.0f} ms), "
          f"median of {runs} runs")
    for density in (1.0, 0.5):
        slice_tablet(mesh, profile, strategy(density), 0.2)
        wall, cpu = median_time(lambda d=density: slice_tablet(mesh, profile, strategy(d), 0.2),
                                runs)
        verdict = "meets" if wall * 1e3 <= GOAL_MS else "MISSES"
        print(f"   infill {density:.0%}: {wall * 1e3:.1f} ms wall ({verdict} the goal), "
              f"{cpu * 1e3:.1f} ms CPU")


# -- 4. whole processes against the peers ---------------------------------------------------

@dataclass
class Run:
    """Medians of one slicer on one file, and what its G-code deposits."""

    wall_s: float
    cpu_s: float
    deposited_mm3: float


def run_process(cmd: Sequence[str]) -> tuple[float, float]:
    """(wall, CPU user + system) seconds of one child process; raises when it fails."""
    # stderr to a file, not a pipe: a chatty slicer would block on a full pipe buffer
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        # wait4 gives this child's own rusage (CPU), which a loaded machine distorts less
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-400:]
            raise RuntimeError(f"{Path(cmd[0]).name} exited {code}: {tail}")
    return wall, usage.ru_utime + usage.ru_stime


def dosecraft_command(stl: Path, out: Path, s: PrintSettings) -> list[str]:
    exe = Path(sys.executable).parent / "dosecraft"
    base = [str(exe)] if exe.exists() else [sys.executable, "-m", "dosecraft.cli.entry"]
    return base + ["slice", str(stl), "--printer", PROFILE, "--infill", f"{s.infill:g}",
                   "--pattern", "rectilinear", "--nozzle-temp", f"{s.nozzle_c:g}",
                   "--bed-temp", f"{s.bed_c:g}", "-o", str(out)]


def measure(cmd: list[str], out: Path, s: PrintSettings, runs: int) -> Run:
    walls, cpus = [], []
    for _ in range(runs):
        out.unlink(missing_ok=True)
        wall, cpu = run_process(cmd)
        walls.append(wall)
        cpus.append(cpu)
    deposited = deposited_filament_mm(out.read_text()) * s.filament_area_mm2
    return Run(statistics.median(walls), statistics.median(cpus), deposited)


def check_profile(profile: PrinterProfile, s: PrintSettings) -> list[str]:
    """Differences between the profile and the settings given to the peers."""
    pairs = [("layer_height_mm", s.layer_mm), ("first_layer_height_mm", s.layer_mm),
             ("nozzle_diameter_mm", s.nozzle_mm), ("line_width_mm", s.line_width_mm),
             ("wall_count", s.walls), ("top_layers", s.top_layers),
             ("bottom_layers", s.bottom_layers), ("feed_diameter_mm", s.filament_mm),
             ("bed_x_mm", s.bed_mm[0]), ("bed_y_mm", s.bed_mm[1])]
    return [f"{k} = {getattr(profile, k)} (peers get {v})" for k, v in pairs
            if not np.isclose(float(getattr(profile, k)), float(v))]


def bench_peers(profile: PrinterProfile, runs: int, workdir: Path) -> None:
    base = PrintSettings()
    peers, missing = available_peers()
    print(f"\n4. whole process on the same STL, equal settings ({base.layer_mm:g} mm layers, "
          f"{base.nozzle_mm:g} mm nozzle, {base.line_width_mm:g} mm lines, {base.walls} walls,"
          f" {base.top_layers}/{base.bottom_layers} top/bottom, rectilinear, no skirt/brim/"
          f"support, {base.filament_mm:g} mm filament, {base.nozzle_c:g}/{base.bed_c:g} °C); "
          f"median of {runs} runs")
    for problem in check_profile(profile, base):
        print(f"   WARNING profile {PROFILE}: {problem}")
    header = (f"   {'shape':<17}{'infill':>7}  {'slicer':<12}{'wall s':>8}{'CPU s':>8}"
              f"{'wall ×':>8}{'CPU ×':>7}{'deposited mm³':>15}{'÷ mesh':>9}")
    print(header)
    print("   " + "-" * (len(header) - 3))
    commands: dict[str, list[str]] = {}
    plain = plain_formulation(profile, base.nozzle_c, base.bed_c)
    for label, kind, size, height in PEER_SHAPES:
        mesh = shape_mesh(kind, size, height)
        stl = export_stl(mesh, workdir / f"{kind.value}.stl")
        volume = trimesh.load(stl, force="mesh").volume
        for infill in PEER_INFILLS:
            s = replace(base, infill=infill)
            out = workdir / f"{kind.value}_{round(infill * 100)}"
            ours_cmd = dosecraft_command(stl, out.with_suffix(".dosecraft.gcode"), s)
            ours = measure(ours_cmd, out.with_suffix(".dosecraft.gcode"), s, runs)
            commands.setdefault("dosecraft", ours_cmd)
            wall, cpu = median_time(lambda st=stl, d=infill: slice_to_program(
                st, profile, plain, True, d, InfillPattern.RECTILINEAR, None, 1), runs)
            rows: list[tuple[str, Run | str]] = [
                ("dosecraft", ours),
                (" in process", f"{wall:>8.2f}{cpu:>8.2f}{wall / ours.wall_s:>8.2f}"
                                f"{cpu / ours.cpu_s:>7.2f}   (load, slice, write, re-read)")]
            for peer in peers:
                peer.prepare(workdir, s)
                cmd = peer.command(stl, out.with_suffix(f".{peer.executable}.gcode"), s)
                commands.setdefault(peer.name, cmd)
                try:
                    rows.append((peer.name, measure(cmd, Path(cmd[cmd.index("-o") + 1]), s,
                                                    runs)))
                except RuntimeError as exc:
                    rows.append((peer.name, f"failed: {exc}"))
            rows += [(name, reason) for name, reason in missing.items()]
            for name, run in rows:
                lead = f"   {label:<17}{infill:>7.0%}  {name:<12}"
                if isinstance(run, str):
                    print(f"{lead}{run}")
                    continue
                print(f"{lead}{run.wall_s:>8.2f}{run.cpu_s:>8.2f}"
                      f"{run.wall_s / ours.wall_s:>8.2f}{run.cpu_s / ours.cpu_s:>7.2f}"
                      f"{run.deposited_mm3:>15.2f}{run.deposited_mm3 / volume:>9.2%}")
        print(f"   {'':<17}mesh volume {volume:.2f} mm³ ({stl.name})")
    print("   (× columns: time ÷ dosecraft's; deposited = extrusion parsed from each G-code "
          "× filament area)")
    print("\n   command lines (first run):")
    for name, cmd in commands.items():
        print(f"   {name}: " + " ".join(_quote(c) for c in cmd))
    for peer in peers:
        failed = getattr(peer, "unevaluated", {})
        if failed:
            print(f"   {peer.name}: formulas left at Cura defaults: {', '.join(sorted(failed))}")


#: Python start-ups that import only the libraries `dosecraft slice` is built on, from bare
#: interpreter to the whole stack with one pydantic model built (the first model build
#: imports most of pydantic's internals), with the console script's garbage-collector
#: settings. dosecraft's own modules and work come on top.
_MODEL = "\nclass M(pydantic.BaseModel):\n    x: float\nM(x=1)"
STARTUP_FLOOR: tuple[tuple[str, str], ...] = (
    ("python", "pass"),
    ("+ numpy, shapely", "import gc; gc.disable()\nimport numpy, shapely\ngc.freeze()"),
    ("+ pydantic model", "import gc; gc.disable()\nimport numpy, shapely, pydantic"
                         + _MODEL + "\ngc.freeze()"),
    ("+ typer, rich", "import gc; gc.disable()\nimport numpy, shapely, pydantic, typer, "
                      "rich.console, rich.table" + _MODEL + "\ngc.freeze()"),
)


def bench_startup_floor(runs: int) -> None:
    """Wall time of processes that only import dosecraft's libraries (start-up floor)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYDANTIC_DISABLE_PLUGINS="__all__")
    print(f"\n5. start-up floor: a process that only imports the libraries `dosecraft slice` "
          f"uses (same environment as the console script), median of {runs} runs")
    for label, code in STARTUP_FLOOR:
        walls = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            walls.append(time.perf_counter() - start)
        print(f"   {label:<20}{statistics.median(walls):>8.3f} s")


def _quote(arg: str) -> str:
    """Shell-ready argument; newlines as bash ANSI-C quoting so a command stays on a line."""
    if "\n" in arg:
        return "$'" + arg.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    return shlex.quote(arg)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--quick", action="store_true", help="one run each, for a smoke test")
    parser.add_argument("--skip-peers", action="store_true", help="in-process figures only")
    args = parser.parse_args(argv)
    runs = 1 if args.quick else max(1, args.runs)
    profile = load_profile(PROFILE)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"slice_bench: {PROFILE}, {os.cpu_count()} CPUs, load average {load} at start")
    started = time.perf_counter()
    bench_reference(profile, max(5, 5 * runs))
    bench_cylinders(profile, runs)
    bench_prescriptions(runs)
    if not args.skip_peers:
        workdir = Path(tempfile.mkdtemp(prefix="slice_bench_"))
        try:
            bench_peers(profile, runs, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        bench_startup_floor(max(5, runs))
    print(f"\nbench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
