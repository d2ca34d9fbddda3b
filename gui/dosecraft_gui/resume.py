"""Re-run only what a changed setting invalidates, starting from the last result.

`SETTING_STAGE` says which stage a field invalidates. A change that only reaches
`Stage.GCODE` (quantity, rx_id, patient reference) keeps the design, mesh, toolpath and
release of the cached result and rewrites only the G-code and its dose check.

`resume_gcode` hands the cached result to `pipeline.run_job(..., previous=...)`, which
reuses what the change does not invalidate.
"""

from __future__ import annotations

from dosecraft import pipeline
from dosecraft.model.prescription import Prescription
from dosecraft.pipeline import SETTING_STAGE, JobResult, ProgressCallback, Stage


def changed_fields(old: Prescription, new: Prescription) -> set[str]:
    """Names of the prescription fields whose values differ."""
    return {name for name in type(new).model_fields
            if getattr(old, name) != getattr(new, name)}


def first_stage(changed: set[str]) -> Stage | None:
    """The earliest stage the changed fields invalidate; None when nothing changed.

    A field missing from `SETTING_STAGE` (e.g. ``mesh_path``) re-runs everything: being
    wrong the other way would show a stale tablet.
    """
    if not changed:
        return None
    return min(SETTING_STAGE.get(name, Stage.DESIGN) for name in changed)


def plan(previous: JobResult | None, rx: Prescription) -> Stage | None:
    """Where to start for `rx` given the cached result: None = nothing to do.

    Starting after `Stage.DESIGN` needs a successful previous result that got through
    the toolpath; otherwise the whole job runs.
    """
    if previous is None:
        return Stage.DESIGN
    stage = first_stage(changed_fields(previous.prescription, rx))
    if stage is None:
        return None if previous.ok else Stage.DESIGN
    if stage > Stage.DESIGN and (not previous.ok or previous.toolpath is None):
        return Stage.DESIGN
    return stage


def resume_gcode(previous: JobResult, rx: Prescription,
                 on_progress: ProgressCallback | None = None,
                 cancel: pipeline.CancelCheck | None = None) -> JobResult:
    """Re-write the G-code of `previous` for `rx` (which differs only in G-code fields),
    through the core's own resume path (`run_job(..., previous=...)`)."""
    return pipeline.run_job(pipeline.Job(prescription=rx), on_progress, cancel,
                            previous=previous)
