"""`BatchRun`: the state of one run of a batch, stage by stage (driven by `run_batch`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dosecraft.batch import documents as docs
from dosecraft.batch.inputs import BatchInput
from dosecraft.batch.lots import default_use_by
from dosecraft.batch.planning import PlateSpec, plan_plates, row_fingerprint
from dosecraft.batch.recording import Recorder
from dosecraft.batch.resume import done_plate, done_row, remove_cache, remove_stale
from dosecraft.batch.rows import error_row
from dosecraft.batch.work import RowTask
from dosecraft.errors import DosecraftError
from dosecraft.formulary import get_formulation
from dosecraft.model.formulation import Formulation
from dosecraft.model.profile import PrinterProfile
from dosecraft.profiles import load_profile
from dosecraft.records import batch_id_for

if TYPE_CHECKING:
    from dosecraft.batch.runner import BatchConfig, BatchSummary


class BatchRun:
    """One run of a batch: rows and plates as they complete, then the documents.

    Parameters
    ----------
    config : the run's options. inp : the input rows. recorder : the records.
    today : the date expiry and use-by are judged against. keys : row → records key.
    """

    def __init__(self, config: BatchConfig, inp: BatchInput, recorder: Recorder,
                 today: dt.date, keys: dict[int, str]) -> None:
        self.config, self.inp, self.recorder, self.today, self.keys = (
            config, inp, recorder, today, keys)
        self.out = config.out_dir
        self.rows: dict[int, dict[str, Any]] = {}
        self.specs: list[PlateSpec] = []
        self.markers: dict[str, dict[str, Any]] = {}
        self.batch_id = ""
        self.options: dict[str, Any] = {}
        self.factors: dict[tuple[str, str], float | None] = {}
        self._formulations: dict[str, Formulation | None] = {}
        self._profiles: dict[str, PrinterProfile | None] = {}

    # -- helpers ---------------------------------------------------------------------

    def formulation(self, fid: str) -> Formulation | None:
        if fid not in self._formulations:
            try:
                self._formulations[fid] = get_formulation(fid, self.config.formulary_dirs)
            except DosecraftError:
                self._formulations[fid] = None  # the row itself will say why
        return self._formulations[fid]

    def profile(self, pid: str) -> PrinterProfile | None:
        if pid not in self._profiles:
            try:
                self._profiles[pid] = load_profile(pid, self.config.profile_dirs)
            except DosecraftError:
                self._profiles[pid] = None
        return self._profiles[pid]

    def _profile_strict(self, pid: str) -> PrinterProfile:
        profile = self.profile(pid)
        assert profile is not None, pid  # only rows that printed on it reach the plates
        return profile

    @property
    def total(self) -> int:
        return len(self.inp.valid)

    @property
    def done_count(self) -> int:
        valid = {r.row for r in self.inp.valid}
        return sum(1 for k in self.rows if k in valid)

    @property
    def plates_done(self) -> int:
        return len(self.markers)

    # -- stage 1: start ---------------------------------------------------------------

    def start(self) -> None:
        """Resolve calibrations, derive the batch ID, open the batch, record bad rows."""
        valid = [r.prescription for r in self.inp.valid if r.prescription is not None]
        pairs = sorted({(rx.printer, rx.formulation) for rx in valid})
        self.factors = {pair: self.recorder.mass_factor(*pair) for pair in pairs}
        self.options = {**self.config.options(self.inp.fhir), "mass_factors": {
            f"{p}/{f}": v for (p, f), v in self.factors.items() if v is not None}}
        self.batch_id = batch_id_for(self.inp.sha256, self.options)
        lots = self.lots()
        printers = sorted({rx.printer for rx in valid})
        self.recorder.start(
            self.batch_id, self.inp.path, self.inp.sha256, self.options,
            lot=_lot_text(lots),
            expiry=min((e for _, e in lots.values()), default=None),
            printer=",".join(printers) or None, output_dir=self.config.out_dir)
        for r in self.inp.rows:
            if not r.ok:
                self.rows[r.row] = error_row(r)
                self.recorder.record_row(self.keys[r.row], self.rows[r.row])

    def lots(self) -> dict[str, tuple[str, dt.date]]:
        return self.config.lots.for_formulations(
            {r.prescription.formulation for r in self.inp.valid if r.prescription})

    # -- stage 2: prescriptions ---------------------------------------------------------

    def pending_rows(self) -> list[RowTask]:
        """Tasks for the prescriptions not done yet; the done ones are (re-)recorded."""
        tasks = []
        for r in self.inp.valid:
            rx = r.prescription
            assert rx is not None
            factor = self.factors.get((rx.printer, rx.formulation))
            fp = row_fingerprint(rx, self.formulation(rx.formulation), self.profile(rx.printer),
                                 factor, self.config.until)
            row = done_row(self.out, rx.rx_id, fp)
            if row is None:
                tasks.append(RowTask(r.row, rx, factor, fp))
            else:
                self.add_rows([row])
        return tasks

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.rows[int(row["row"])] = row
            self.recorder.record_row(self.keys[int(row["row"])], row)

    def ordered_rows(self) -> list[dict[str, Any]]:
        return [self.rows[k] for k in sorted(self.rows)]

    # -- stage 3: plates ----------------------------------------------------------------

    def pending_plates(self) -> list[PlateSpec]:
        """Plan the plates from the finished rows; return those not done yet."""
        prescriptions = {r.prescription.rx_id: r.prescription for r in self.inp.valid
                         if r.prescription is not None}
        self.specs = plan_plates(self.ordered_rows(), prescriptions, self.batch_id,
                                 self._profile_strict, max_tablets=self.config.plate_max)
        pending = []
        for spec in self.specs:
            marker = done_plate(self.out, spec.plate_id, spec.fingerprint)
            if marker is None:
                pending.append(spec)
            else:
                self.markers[spec.plate_id] = marker
        return pending

    def add_plates(self, markers: Iterable[dict[str, Any]]) -> None:
        for marker in markers:
            self.markers[str(marker["plate_id"])] = marker

    def _apply_plates(self) -> list[dict[str, Any]]:
        """Note each row's plates; a plate that failed its check fails its prescriptions."""
        by_rx: dict[str, list[dict[str, Any]]] = {}
        ordered = [self.markers[s.plate_id] for s in self.specs if s.plate_id in self.markers]
        for marker in ordered:
            for rx_id in marker.get("prescriptions") or []:
                by_rx.setdefault(rx_id, []).append(marker)
        for key, row in self.rows.items():
            plates = by_rx.get(str(row.get("rx_id")))
            if not plates or row.get("status") != "ok":
                continue
            row["plates"] = [m["plate_id"] for m in plates]
            bad = [m for m in plates if m.get("status") != "ok"]
            if bad:
                row["status"] = "error"
                row["error"] = "; ".join(f"plate {m['plate_id']}: {m.get('error')}" for m in bad)
                self.recorder.record_row(self.keys[key], row)
        return ordered

    # -- stage 4: documents -------------------------------------------------------------

    def finish(self) -> BatchSummary:
        from dosecraft.batch.runner import BatchSummary

        plates = self._apply_plates()
        rows = self.ordered_rows()
        # A row failed only by its plate keeps its own (checked) G-code.
        remove_stale(self.out, {r.prescription.rx_id for r in self.inp.valid if r.prescription},
                     {f["path"] for r in rows for f in r.get("gcode_files") or []},
                     {s.plate_id for s in self.specs})
        for m in plates:
            if m.get("status") == "ok":
                self.recorder.record_output("plate", m["path"], m["sha256"], int(m["bytes"]))
        summary = BatchSummary(self.batch_id, self.out, rows, plates,
                               records_path=self.config.records)
        summary.documents = self._documents(rows, plates, summary.notes)
        if self.config.send is not None:
            from dosecraft.batch.send import send_plates

            summary.assignments = send_plates(plates, self.out, self.config.send,
                                              self.recorder)
        internal = any(r.get("internal") for r in rows) or any(
            m.get("internal") for m in plates) or len(self.markers) < len(self.specs)
        if not internal:
            remove_cache(self.out)
        summary.status = self.recorder.finish()
        return summary

    def _documents(self, rows: list[dict[str, Any]], plates: list[dict[str, Any]],
                   notes: list[str]) -> list[docs.Document]:
        header = {"batch_id": self.batch_id, "source": self.inp.path.name,
                  "source_sha256": self.inp.sha256, "options": self.options}
        out: list[docs.Document] = []
        for rx_id, plot in docs.write_release_plots(self.out, rows):
            out.append(plot)
            self.recorder.record_output(plot.kind, plot.path, plot.sha256, plot.bytes,
                                        rx_id=rx_id)
        bj = docs.write_batch_json(self.out, header, rows, plates)
        out.append(bj)
        self.recorder.record_output(bj.kind, bj.path, bj.sha256, bj.bytes)
        lots = self.lots()
        date = self.recorder.batch_date(self.today)
        info = docs.batch_info(
            batch_id=self.batch_id, date=date, operator=self.recorder.batch_operator(),
            source=self.inp.path, source_sha256=self.inp.sha256,
            lots=docs.formulation_lots(lots, self.config.formulary_dirs),
            printers=[str(r["printer"]) for r in rows if r.get("printer")],
            anchor=self.recorder.anchor())
        ws = docs.write_worksheet_pdf(self.out, info, rows)
        out.append(ws)
        use_by = self.config.use_by or default_use_by(date, [e for _, e in lots.values()])
        labels, skipped = docs.write_labels_pdf(self.out, rows, lots, use_by=use_by,
                                                storage=self.config.storage, today=self.today)
        notes.extend(skipped)
        unknown = self.config.lots.unknown(
            r.prescription.formulation for r in self.inp.valid if r.prescription)
        if unknown:
            notes.append(f"--lot names formulation(s) not used in this batch: "
                         f"{', '.join(unknown)}")
        self.recorder.record_output(ws.kind, ws.path, ws.sha256, ws.bytes)
        if labels is not None:
            out.append(labels)
            self.recorder.record_output(labels.kind, labels.path, labels.sha256, labels.bytes)
        return out



def _lot_text(lots: dict[str, tuple[str, dt.date]]) -> str | None:
    """The batch's lot for the records: the lot, or ``formulation=lot, …`` when several."""
    distinct = {lot for lot, _ in lots.values()}
    if len(distinct) <= 1:
        return next(iter(distinct), None)
    return ", ".join(f"{f}={lot}" for f, (lot, _) in sorted(lots.items()))
