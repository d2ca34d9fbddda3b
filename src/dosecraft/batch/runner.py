"""`run_batch`: a prescriptions file through the pipeline to G-code, plates, records and documents.

Stages, each resumable (see `dosecraft.batch.resume`):

1. read the input (CSV, JSON, FHIR Bundle); open or resume the batch in the records;
2. run every prescription not yet done, in parallel (`dosecraft.batch.executors`): each
   writes its G-code and its row file (`dosecraft.batch.work`);
3. plan plates from the finished rows and write those not yet done (`planning`, `plates`);
4. assemble ``batch.json``, the worksheet and the labels; record them; close the batch;
5. optionally send the plates to the printers (`dosecraft.batch.send`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dosecraft.batch.documents import Document
from dosecraft.batch.executors import Executor, make_executor
from dosecraft.batch.inputs import BatchInput, read_batch_input, record_keys
from dosecraft.batch.lots import Lots
from dosecraft.batch.planning import chunked
from dosecraft.batch.recording import Recorder
from dosecraft.batch.resume import OutputLock, remove_leftovers
from dosecraft.batch.send import SendOptions
from dosecraft.batch.work import WorkSettings
from dosecraft.pipeline import Stage
from dosecraft.printers import PlateAssignment
from dosecraft.records.db import default_actor
from dosecraft.reports import StorageCondition

#: ``on_progress(phase, done, total)``; phase is "prescriptions" or "plates".
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BatchConfig:
    """Everything `run_batch` needs; the CLI builds one from its options.

    Attributes
    ----------
    source, out_dir : prescriptions file and output folder.
    workers : parallel workers; 1 runs in this process. dask : ``"local"`` or a scheduler
    address to run on Dask instead of a local pool.
    release : estimate release curves (the slowest stage; off gives G-code only).
    plates : write multi-prescription plates in ``DIR/plates``. plate_max : at most this
    many tablets per plate (default: what fits the bed; a big plate is hours of printing
    and about 1 GB of memory to write and re-read).
    records : records file (None: no records). operator : who is responsible.
    lots : formulation lots. use_by : label use-by date (default: see `lots`).
    storage : label storage condition. default_printer : printer profile for FHIR requests.
    formulary_dirs, profile_dirs : extra folders searched first. send : dispatch the
    plates to printers afterwards. today : the date expiry and use-by are judged against.
    """

    source: Path
    out_dir: Path
    workers: int = 1
    dask: str | None = None
    release: bool = True
    plates: bool = True
    plate_max: int | None = None
    records: Path | None = None
    operator: str = field(default_factory=default_actor)
    lots: Lots = field(default_factory=Lots)
    use_by: dt.date | None = None
    storage: StorageCondition = StorageCondition.BELOW_25C_DRY
    default_printer: str | None = None
    formulary_dirs: tuple[str, ...] = ()
    profile_dirs: tuple[str, ...] = ()
    send: SendOptions | None = None
    today: dt.date | None = None

    @property
    def until(self) -> Stage:
        return Stage.RELEASE if self.release else Stage.GCODE

    def options(self, fhir: bool = False) -> dict[str, Any]:
        """The options that change what is made (they enter the batch ID); worker count,
        executor and output folder do not, nor the default printer of a non-FHIR input."""
        return {"release": self.release, "plates": self.plates, "plate_max": self.plate_max,
                **self.lots.as_options(),
                "use_by": self.use_by.isoformat() if self.use_by else None,
                "storage": self.storage.value,
                "default_printer": self.default_printer if fhir else None,
                "formulary_dirs": list(self.formulary_dirs),
                "profile_dirs": list(self.profile_dirs)}


@dataclass
class BatchSummary:
    """What a run produced (the same data as ``batch.json`` plus run facts)."""

    batch_id: str
    out_dir: Path
    rows: list[dict[str, Any]]
    plates: list[dict[str, Any]] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    assignments: list[PlateAssignment] = field(default_factory=list)
    executor: str = "in-process"
    records_path: Path | None = None
    status: str | None = None
    redone: int = 0

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.get("status") != "ok")

    @property
    def ok(self) -> int:
        return len(self.rows) - self.failed

    @property
    def plates_failed(self) -> int:
        return sum(1 for p in self.plates if p.get("status") != "ok")

    @property
    def unassigned(self) -> list[PlateAssignment]:
        return [a for a in self.assignments if a.printer is None]


class _LazyExecutor:
    """Starts the executor only when there is work (a finished batch re-run starts no
    Dask cluster)."""

    def __init__(self, config: BatchConfig) -> None:
        self._config = config
        self._executor: Executor | None = None

    def get(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self._config.workers, self._config.dask)
        return self._executor

    @property
    def description(self) -> str:
        return self._executor.description if self._executor else "not needed"

    def close(self) -> None:
        if self._executor is not None:
            self._executor.close()


@contextmanager
def _session(config: BatchConfig) -> Iterator[tuple[OutputLock, Recorder, _LazyExecutor]]:
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with OutputLock(out) as lock, Recorder(config.records, config.operator) as recorder:
        executor = _LazyExecutor(config)
        try:
            yield lock, recorder, executor
        finally:
            executor.close()


def run_batch(config: BatchConfig,
              on_progress: ProgressCallback | None = None) -> BatchSummary:
    """Run a batch (see the module docstring); returns its summary.

    A prescription that fails never stops the others: it is a row with status "error".

    Raises
    ------
    PrescriptionFileError
        The file as a whole is unreadable (nothing is written or recorded).
    LotError
        A lot option is malformed or the lot has expired.
    OutputLocked
        Another batch is writing to the same folder.
    RecordsError
        The records refuse the batch (e.g. the same batch ID with another lot).
    ExecutorError
        A worker process or the Dask scheduler failed; re-run to finish.
    """
    from dosecraft.batch.stages import BatchRun

    today = config.today or dt.date.today()
    config.lots.check_not_expired(today)
    if config.dask is not None:
        from dosecraft.batch.executors import check_dask_address

        check_dask_address(config.dask)
    inp: BatchInput = read_batch_input(config.source, default_printer=config.default_printer)
    config = _absolute(config)
    progress = on_progress or (lambda phase, done, total: None)
    with _session(config) as (_, recorder, executor):
        remove_leftovers(config.out_dir)
        run = BatchRun(config, inp, recorder, today, record_keys(inp.rows))
        run.start()
        settings = WorkSettings(str(config.out_dir), config.until, config.formulary_dirs,
                                config.profile_dirs, cache_toolpaths=config.plates)
        tasks = run.pending_rows()
        progress("prescriptions", run.done_count, run.total)
        if tasks:
            from dosecraft.batch.work import run_rows

            ex = executor.get()
            for rows in ex.map_unordered(run_rows, chunked(tasks, config.workers), settings):
                run.add_rows(rows)
                progress("prescriptions", run.done_count, run.total)
        if config.plates:
            specs = run.pending_plates()
            progress("plates", run.plates_done, len(run.specs))
            if specs:
                from dosecraft.batch.plates import run_plates

                ex = executor.get()
                # One plate per task, largest first: plates differ tenfold in size, and
                # starting the big ones early keeps every worker busy to the end.
                specs = sorted(specs, key=lambda s: -len(s.labels))
                for markers in ex.map_unordered(run_plates, chunked(specs, config.workers,
                                                                    cap=1), settings):
                    run.add_plates(markers)
                    progress("plates", run.plates_done, len(run.specs))
        summary = run.finish()
        summary.executor = executor.description
        summary.redone = len(tasks)
        return summary


def _absolute(config: BatchConfig) -> BatchConfig:
    """Absolute paths: workers (Dask on other hosts too) must find the same folder."""
    from dataclasses import replace

    return replace(config, out_dir=config.out_dir.expanduser().resolve(),
                   records=(config.records.expanduser().resolve()
                            if config.records is not None else None))
