"""Background work: a `QRunnable` that runs a callable off the GUI thread.

Slicing and the release estimate take seconds; running them on the GUI thread would
freeze the window. The callable receives a progress callback and a cancel check, the same
shape as `pipeline.run_job`'s, and its return value comes back through a Qt signal (queued
to the GUI thread, so slots may touch widgets).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

Progress = Callable[[int, str], None]
Task = Callable[[Progress, Callable[[], bool]], Any]


class WorkerSignals(QObject):
    """Signals of a `Worker`: emitted from the pool thread, delivered on the GUI thread.

    Attributes
    ----------
    progress : (step, message); the step is a `Stage` value or a row number.
    item : an intermediate result (a batch row) while the task goes on.
    finished : the task's return value.
    failed : a traceback text, when the task raised (a bug, not a dosecraft error).
    """

    progress = Signal(int, str)
    item = Signal(object)
    finished = Signal(object)
    failed = Signal(str)


class Worker(QRunnable):
    """Run `task(progress, cancelled)` in a `QThreadPool` thread.

    Parameters
    ----------
    task : the work; it calls `progress(step, message)` as it goes and polls `cancelled()`
        between steps.
    """

    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        self._done = threading.Event()
        # The pool must not delete the runnable while the GUI still holds its signals.
        self.setAutoDelete(False)

    def cancel(self) -> None:
        """Ask the task to stop at its next check (a running stage finishes first)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def emit_item(self, obj: object) -> None:
        """Send an intermediate result to the GUI thread."""
        self.signals.item.emit(obj)

    @property
    def done(self) -> bool:
        """True once `run` has (all but) returned."""
        return self._done.is_set()

    def run(self) -> None:  # noqa: D102 (QRunnable API)
        try:
            result = self.task(self.signals.progress.emit, self._cancel.is_set)
        except Exception:  # a bug in the core must reach the user, not kill the thread
            self.signals.failed.emit(traceback.format_exc())
        else:
            self.signals.finished.emit(result)
        finally:
            self._done.set()


#: Every started worker until its `run` has returned: PySide does not own a runnable the
#: pool holds, and dropping the last Python reference (e.g. when a job is superseded and
#: still queued) would delete it under the pool.
_LIVE: set[Worker] = set()


def _prune() -> None:
    """Forget workers whose `run` has returned."""
    for w in [w for w in _LIVE if w.done]:
        _LIVE.discard(w)


def start(worker: Worker, pool: QThreadPool | None = None) -> Worker:
    """Queue `worker` on `pool` (the global pool by default) and return it."""
    _prune()
    _LIVE.add(worker)
    (pool or QThreadPool.globalInstance()).start(worker)
    return worker
