"""The document (view-model): the current prescription, its last result and the running job.

Panels read from here and never call the core themselves. A request for a prescription
starts (at most) one background job; a newer request cancels the older one, and results
of superseded jobs are dropped, so the panels always show the latest inputs' figures.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThreadPool, Signal

from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import JobResult, Stage
from dosecraft_gui import resume
from dosecraft_gui.jobs import calibration_changed, run_prescription
from dosecraft_gui.worker import Worker, start


class Document(QObject):
    """Holds the current prescription and result; runs the pipeline in a worker thread.

    Signals
    -------
    busy_changed(bool) : a job started (True) or the last one ended (False).
    progress(int, str) : the stage (a `Stage` value) and what it is doing.
    result_changed(object) : a new `JobResult` for the current prescription.
    stale() : the inputs changed; the shown result no longer matches them.
    crashed(str) : a job raised (a bug); the traceback text.
    """

    busy_changed = Signal(bool)
    progress = Signal(int, str)
    result_changed = Signal(object)
    stale = Signal()
    crashed = Signal(str)

    def __init__(self, parent: QObject | None = None, pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self.pool = pool or QThreadPool.globalInstance()
        self.result: JobResult | None = None
        self.path: str | None = None
        #: The stage the last started job began at (tests and the status bar read it).
        self.last_start: Stage | None = None
        self._worker: Worker | None = None
        self._generation = 0
        self._pending: Prescription | None = None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def prescription(self) -> Prescription | None:
        """The prescription of the pending request, or of the shown result."""
        if self._pending is not None:
            return self._pending
        return self.result.prescription if self.result is not None else None

    def invalidate(self) -> None:
        """The form no longer holds what the result was computed for."""
        self.stale.emit()

    def adopt(self, result: JobResult) -> None:
        """Show a result computed elsewhere (a batch row) as the current one."""
        self.cancel()
        self.result = result
        self.result_changed.emit(result)

    def request(self, rx: Prescription) -> Stage | None:
        """Compute `rx`, re-running only the stages its changes invalidate.

        Returns
        -------
        Stage or None
            The stage the job starts at; None when the cached result already answers.
        """
        base = self.result
        stage = resume.plan(base, rx)
        if base is not None and stage in (None, Stage.GCODE) and calibration_changed(base, rx):
            stage = Stage.DESIGN  # recalibrated since: the tablet itself changes
        self.cancel()  # whatever runs was for other inputs
        if stage is None:
            self.result_changed.emit(base)  # the cached result answers; refresh the views
            return None
        self._generation += 1
        generation = self._generation
        self._pending = rx
        self.last_start = stage
        if stage == Stage.GCODE and base is not None:
            def task(progress, cancelled):  # type: ignore[no-untyped-def]
                return resume.resume_gcode(base, rx, progress, cancelled)
        else:
            def task(progress, cancelled):  # type: ignore[no-untyped-def]
                return run_prescription(rx, progress, cancelled)
        worker = Worker(task)
        worker.signals.progress.connect(
            lambda step, msg: self._on_progress(generation, step, msg))
        worker.signals.finished.connect(lambda res: self._on_finished(generation, res))
        worker.signals.failed.connect(lambda tb: self._on_failed(generation, tb))
        self._worker = worker
        self.busy_changed.emit(True)
        start(worker, self.pool)
        return stage

    def cancel(self) -> None:
        """Stop the running job (its result, if it still arrives, is dropped)."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
            self._pending = None
            self._generation += 1
            self.busy_changed.emit(False)

    def _on_progress(self, generation: int, step: int, message: str) -> None:
        if generation == self._generation:
            self.progress.emit(step, message)

    def _on_finished(self, generation: int, result: JobResult) -> None:
        if generation != self._generation:
            return  # superseded by a newer request
        self._worker = None
        self._pending = None
        self.result = result
        self.busy_changed.emit(False)
        self.result_changed.emit(result)

    def _on_failed(self, generation: int, trace: str) -> None:
        if generation != self._generation:
            return
        self._worker = None
        self._pending = None
        self.busy_changed.emit(False)
        self.crashed.emit(trace)
