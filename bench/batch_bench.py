"""Batch benchmark: N mixed prescriptions to G-code, local process pool vs Dask LocalCluster.

The prescriptions are the sample rows (samples/prescriptions.csv) repeated with their doses
varied over ±15 %, so every design, toolpath and G-code file is different. Prints wall time,
prescriptions and tablets per second, the time of each stage, and the peak memory of the
whole process tree (psutil, sampled every 0.1 s; else getrusage, which only knows the
largest single child).

    python bench/batch_bench.py                   # 1000 prescriptions to G-code, pool and Dask
    python bench/batch_bench.py --n 100 --modes pool --release   # with release curves
    python bench/batch_bench.py --n 60 --profile    # where one worker's time goes

Release curves are off by default: they cost about 1.2 CPU-s per prescription (five times
the rest of the pipeline), so a large batch runs with ``dosecraft batch --no-release``.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from dosecraft.batch.runner import BatchConfig, BatchSummary, run_batch

ROOT = Path(__file__).resolve().parents[1]


def make_prescriptions(n: int, path: Path) -> Path:
    """N rows from the samples, dose × 0.85–1.15 (deterministic), unique rx_ids."""
    with open(ROOT / "samples" / "prescriptions.csv", newline="") as fh:
        base = list(csv.DictReader(fh))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(base[0]))
    writer.writeheader()
    for i in range(n):
        row = dict(base[i % len(base)])
        factor = 0.85 + 0.30 * ((i * 7919) % 1000) / 999
        key = "dose_mg" if row["dose_mg"] else "dose_mg_per_kg"
        row[key] = f"{float(row[key]) * factor:.4g}"
        row["rx_id"] = f"BENCH-{i:05d}"
        writer.writerow(row)
    path.write_text(out.getvalue())
    return path


class PeakMemory:
    """Peak RSS of this process plus all its descendants (pool workers, Dask nannies), and
    the CPU time they used (so that a run slowed by other load on the machine shows as
    wall time well above CPU time / workers).

    Memory is sampled every `period_s` as RSS (cheap); PSS, which walks every page of every
    process (30 ms for a 2 GB tree: at every sample it took a third of a core from the two
    workers it measured), only near the RSS peak and at least every `pss_every_s` (see
    `_run`), which is where the PSS peak is.
    """

    def __init__(self, period_s: float = 0.1, pss_every_s: float = 2.0) -> None:
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self.period_s, self.pss_every_s = period_s, pss_every_s
        self._stop = threading.Event()
        try:
            import psutil

            self._proc = psutil.Process()
            self._pss = hasattr(self._proc.memory_full_info(), "pss")
        except (ImportError, OSError):
            self._proc = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, pss: bool = True) -> int:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                # PSS shares copy-on-write pages among the processes that map them: pool
                # workers forked from one server would count the same pages twice in RSS.
                info = p.memory_full_info() if pss and self._pss else p.memory_info()
                total += getattr(info, "pss", info.rss)
                t = p.cpu_times()
                self.cpu[p.pid] = t.user + t.system
            except Exception:  # a worker that just exited
                pass
        return total

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the process tree (as last sampled; NaN without psutil)."""
        return sum(self.cpu.values()) if self._proc is not None else float("nan")

    def _run(self) -> None:
        rss_peak, last_pss = 0, -math.inf
        while not self._stop.is_set():
            rss = self._sample(pss=False)
            now = time.perf_counter()
            # PSS ≤ RSS and their difference (shared pages) hardly moves during a run, so the
            # PSS peak is where RSS is within a few per cent of its own peak
            if not self._pss or rss >= 0.95 * rss_peak or now - last_pss >= self.pss_every_s:
                self.peak = max(self.peak, self._sample() if self._pss else rss)
                last_pss = now
            rss_peak = max(rss_peak, rss)
            self._stop.wait(self.period_s)

    def __enter__(self) -> PeakMemory:
        if self._proc is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._proc is not None:
            self._thread.join()
        else:  # kB on Linux: the largest child, and this process
            kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.peak = (kids + own) * 1024

    @property
    def method(self) -> str:
        if self._proc is None:
            return "getrusage: largest child + self"
        return f"sum over the process tree, {'PSS' if self._pss else 'RSS'}"


def run(mode: str, src: Path, work: Path, args: argparse.Namespace) -> dict[str, float | str]:
    out = work / f"out-{mode}"
    shutil.rmtree(out, ignore_errors=True)
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int) -> None:
        marks.setdefault(phase, time.perf_counter())
        marks[f"{phase}_end"] = time.perf_counter()

    cfg = BatchConfig(source=src, out_dir=out, workers=args.workers,
                      dask="local" if mode == "dask" else None, release=args.release,
                      plates=args.plates, records=work / f"records-{mode}.sqlite",
                      operator="bench")
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        summary: BatchSummary = run_batch(cfg, on_progress=progress)
        wall = time.perf_counter() - t0
        mem._sample()  # the CPU time up to the end
    tablets = sum(int(r.get("quantity") or 0) for r in summary.rows if r.get("status") == "ok")
    rows_end = marks.get("prescriptions_end", t0)
    plates_end = marks.get("plates_end", rows_end)
    return {"mode": summary.executor, "wall_s": wall, "rx": len(summary.rows),
            "ok": summary.ok, "tablets": tablets, "plates": len(summary.plates),
            "rx_per_s": len(summary.rows) / wall, "tablets_per_s": tablets / wall,
            "rows_s": rows_end - t0, "plates_s": plates_end - rows_end,
            "docs_s": t0 + wall - plates_end, "peak_mb": mem.peak / 2**20,
            "cpu_s": mem.cpu_s, "cpu_per_rx": mem.cpu_s / max(1, len(summary.rows)),
            "mem_method": mem.method}


#: Functions whose share of a profiled run `--profile` prints: what a batch spends on.
PROFILE_PARTS = {"write_gcode": "write G-code", "read_gcode": "re-read G-code",
                 "design_tablet": "size solver", "close_dose": "closure slicing",
                 "estimate_release": "release", "write_atomic": "atomic writes (fsync)"}


def profile(src: Path, work: Path, args: argparse.Namespace) -> None:
    """Run the batch in this process (one worker) under cProfile; print each part's share."""
    import cProfile
    import pstats

    cfg = BatchConfig(source=src, out_dir=work / "out-profile", workers=1,
                      release=args.release, plates=args.plates)
    profiler = cProfile.Profile()
    profiler.runcall(run_batch, cfg)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    table = stats.stats  # type: ignore[attr-defined]
    cumulative = {key[2]: value[3] for key, value in table.items()}
    print(f"profile (one worker, in process, {total:.1f} s under cProfile):")
    for name, label in PROFILE_PARTS.items():
        if name in cumulative:
            share = 100 * cumulative[name] / total
            print(f"  {label:24s} {cumulative[name]:6.1f} s  {share:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="prescriptions (default 1000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="pool,dask",
                        help="comma-separated: pool, dask (default both)")
    parser.add_argument("--release", action="store_true", help="also estimate release")
    parser.add_argument("--no-plates", dest="plates", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the output folders")
    parser.add_argument("--profile", action="store_true",
                        help="instead: profile one in-process worker and print the share of "
                        "writing, re-reading, sizing and slicing (use a small --n)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dosecraft-bench-"))
    src = make_prescriptions(args.n, work / "prescriptions.csv")
    print(f"{args.n} prescriptions, {args.workers} workers, {os.cpu_count()} CPUs, "
          f"release {'on' if args.release else 'off'}, plates {'on' if args.plates else 'off'}"
          f", Python {sys.version.split()[0]}")
    try:
        if args.profile:
            profile(src, work, args)
            return
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        unknown = [m for m in modes if m not in ("pool", "dask")]
        if unknown:
            parser.error(f"unknown mode(s) {', '.join(unknown)}; use pool and/or dask")
        for mode in modes:
            r = run(mode, src, work, args)
            print(f"{r['mode']}: {r['wall_s']:.1f} s wall for {r['rx']} prescriptions "
                  f"({r['ok']} ok, {r['tablets']} tablets, {r['plates']} plates): "
                  f"{r['rx_per_s']:.2f} rx/s, {r['tablets_per_s']:.1f} tablets/s; "
                  f"stages: prescriptions {r['rows_s']:.1f} s, plates {r['plates_s']:.1f} s, "
                  f"documents+records {r['docs_s']:.1f} s; CPU {r['cpu_s']:.0f} s "
                  f"({r['cpu_per_rx']:.2f} s per prescription, so {r['cpu_s'] / args.workers:.0f}"
                  f" s on {args.workers} idle cores); peak memory {r['peak_mb']:.0f} MiB "
                  f"({r['mem_method']})", flush=True)
    finally:
        if args.keep:
            print(f"outputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
