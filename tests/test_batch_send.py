"""``batch --send``: plates go to free printers of their profile, print jobs are recorded,
plates no printer may take are reported (in-memory printers, real batch and records)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from dosecraft.batch.runner import BatchConfig, run_batch
from dosecraft.batch.send import SendOptions
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS
from dosecraft.printers import JobState, JobStatus, Printer
from dosecraft.records import RecordStore

ROWS = [
    "S-01,PS-01,hydrocortisone,2.5,,,11,hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,2",
    "S-02,PS-02,propranolol,5,,,8,propranolol_gel_sse,generic_sse_syringe,caplet,,,,2",
]
_clock = itertools.count(1)


class MemoryPrinter:
    """Idle until a job starts; then printing once, then finished."""

    def __init__(self, printer: Printer) -> None:
        self.name = printer.name
        self.queue: list[JobStatus] = []
        self.idle = JobStatus(JobState.IDLE)
        self.uploaded: list[str] = []

    def upload(self, source: object, name: str, select: bool = False,
               start: bool = False) -> str:
        self.uploaded.append(name)
        return name

    def start(self, name: str) -> None:
        n = next(_clock)
        self.queue = [JobStatus(JobState.PRINTING, 0.5, name, f"job-{n}"),
                      JobStatus(JobState.FINISHED, 1.0, name, f"job-{n}", float(n))]

    def status(self) -> JobStatus:
        if len(self.queue) > 1:
            return self.queue.pop(0)
        return self.queue[0] if self.queue else self.idle

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("send") / "rx.csv"
    path.write_text(",".join(PRESCRIPTION_COLUMNS) + "\n" + "\n".join(ROWS) + "\n")
    return path


def _registry(path: Path, profiles: dict[str, tuple[str, list[str]]]) -> Path:
    lines = []
    for name, (profile, formulations) in profiles.items():
        lines += [f"[printers.{name}]", 'kind = "moonraker"', f'url = "http://{name}.local"',
                  f'profile = "{profile}"', f"formulations = {formulations!r}".replace("'", '"'),
                  ""]
    path.write_text("\n".join(lines))
    return path


def test_send_start_and_wait_prints_every_plate(source: Path, tmp_path: Path) -> None:
    printers = _registry(tmp_path / "printers.toml", {
        "sse-1": ("generic_sse_syringe", []), "fdm-1": ("generic_fdm_175", [])})
    summary = run_batch(BatchConfig(
        source=source, out_dir=tmp_path / "out", records=tmp_path / "rec.sqlite",
        release=False, send=SendOptions(printers, start=True, wait=True, poll_s=0.0,
                                        client_factory=MemoryPrinter)))
    assert len(summary.plates) == 2 and not summary.unassigned
    assert [a.printer for a in summary.assignments] == ["sse-1", "sse-1"]  # one after another
    with RecordStore(tmp_path / "rec.sqlite") as store:
        jobs = store.print_jobs(batch_id=summary.batch_id)
    assert [(j["printer"], j["state"]) for j in jobs] == [("sse-1", "finished")] * 2
    assert {j["file_sha256"] for j in jobs} == {p["sha256"] for p in summary.plates}


def test_plates_without_a_printer_are_reported(source: Path, tmp_path: Path) -> None:
    printers = _registry(tmp_path / "printers.toml", {
        "sse-1": ("generic_sse_syringe", ["hydrocortisone_gel_sse"])})
    summary = run_batch(BatchConfig(
        source=source, out_dir=tmp_path / "out", records=None, release=False,
        send=SendOptions(printers, client_factory=MemoryPrinter)))
    sent = [a for a in summary.assignments if a.printer]
    assert [a.plate.formulation_id for a in sent] == ["hydrocortisone_gel_sse"]
    assert len(summary.unassigned) == 1
    assert "may print formulation 'propranolol_gel_sse'" in str(summary.unassigned[0].error)
