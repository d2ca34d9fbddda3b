"""QC of a recorded batch: weighed (and optionally assayed) tablets against their designs.

Per tablet, the mass accuracy is measured / designed mass − 1, judged against the
Ph. Eur. 2.9.5 uniformity-of-mass deviations for uncoated tablets (10 % up to 80 mg,
7.5 % up to 250 mg, 5 % above), applied here to the *designed* mass of each patient-
specific tablet rather than to the batch mean. Per prescription, the USP <905> acceptance
value comes from the assayed contents when the weights file gives ``content_pct`` for every
tablet, otherwise from the weights (content = weight × assay / mean weight with
``--assay-pct``, else weight / designed mass, see `dosecraft.qc.contents_from_weights`).
USP <905> needs 10 or 30 units; other counts are reported as not evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dosecraft.constants import MASS_LIMITS
from dosecraft.qc import (
    AVResult,
    PhEurResult,
    WeightsFile,
    acceptance_value,
    acceptance_value_from_weights,
    mass_accuracy,
    ph_eur_content_uniformity,
)
from dosecraft.qc.uniformity import USP_K
from dosecraft.records import RecordStore


def mass_tolerance(mass_mg: float) -> float:
    """Allowed relative mass deviation for a tablet of this designed mass."""
    if mass_mg <= MASS_LIMITS[0][0]:  # "80 mg or less"
        return MASS_LIMITS[0][1]
    return next(tol for limit, tol in MASS_LIMITS[1:] if mass_mg < limit)


@dataclass(frozen=True)
class TabletQC:
    """One weighed tablet: index is 0-based as on the plate (``<rx_id>_<index + 1>``)."""

    tablet_id: str
    index: int
    mass_mg: float
    content_pct: float | None
    target_mass_mg: float
    relative_error: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return abs(self.relative_error) <= self.tolerance


@dataclass
class RxQC:
    """QC of one prescription: its tablets, and its uniformity results when evaluable."""

    rx_id: str
    tablets: list[TabletQC]
    av: AVResult | None = None
    av_source: str = ""
    ph_eur: PhEurResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (all(t.passed for t in self.tablets) and (self.av is None or self.av.passed)
                and (self.ph_eur is None or self.ph_eur.passed))


def _indices(rx_id: str, tablet_ids: list[str]) -> list[int]:
    """Plate index of each tablet: from ``<rx_id>_<k>`` when every ID has that form and
    they are distinct, else the order in the file."""
    prefix = f"{rx_id}_"
    ks = [t[len(prefix):] for t in tablet_ids if t.startswith(prefix)]
    if len(ks) == len(tablet_ids) and all(k.isdigit() and int(k) >= 1 for k in ks) \
            and len(set(map(int, ks))) == len(ks):
        return [int(k) - 1 for k in ks]
    return list(range(len(tablet_ids)))


def evaluate_qc(report: Mapping[str, Any], weights: WeightsFile, *,
                assay_pct: float | None = None,
                mass_tol: float | None = None) -> tuple[list[RxQC], list[str]]:
    """QC results per prescription of the weights file, and problems with the file.

    Parameters
    ----------
    report : `RecordStore.batch_report` of the batch.
    weights : the read weights file (its row errors are reported as problems).
    assay_pct : batch assay (% label claim) for the USP weight-variation formula.
    mass_tol : fixed relative mass tolerance instead of the Ph. Eur. 2.9.5 bands.
    """
    problems = [str(e) for e in weights.errors]
    recorded = {p["rx_id"]: p for p in report["prescriptions"]}
    results: list[RxQC] = []
    groups: dict[str, list[Any]] = {}
    for row in weights.rows:
        groups.setdefault(row.rx_id, []).append(row)
    for rx_id, rows in groups.items():
        p = recorded.get(rx_id)
        design = (p or {}).get("design") or {}
        target = design.get("mass_mg")
        if p is None or p.get("status") != "ok" or not isinstance(target, int | float):
            why = "is not in this batch" if p is None else "has no printed design"
            problems.append(f"rx_id {rx_id!r} {why}; its {len(rows)} weight(s) are not used")
            continue
        masses = np.array([r.mass_mg for r in rows])
        errors = mass_accuracy(masses, float(target))
        tablets = [TabletQC(r.tablet_id, i, r.mass_mg, r.content_pct, float(target), float(e),
                            mass_tol if mass_tol is not None else mass_tolerance(float(target)))
                   for r, i, e in zip(rows, _indices(rx_id, [r.tablet_id for r in rows]),
                                      errors, strict=True)]
        qc = RxQC(rx_id, tablets)
        contents = [r.content_pct for r in rows]
        if len(rows) not in USP_K:
            qc.notes.append(f"USP <905> not evaluated: {len(rows)} tablet(s) weighed, it needs "
                            "10 (stage 1) or 30 (stage 2)")
        elif all(c is not None for c in contents):
            qc.av = acceptance_value(np.array(contents, dtype=np.float64))
            qc.av_source = "content assay"
            qc.ph_eur = ph_eur_content_uniformity(np.array(contents, dtype=np.float64))
        else:
            qc.av = acceptance_value_from_weights(masses, assay_pct, target_mass_mg=target)
            qc.av_source = ("weights × assay" if assay_pct is not None
                            else "weights / designed mass")
        results.append(qc)
    return results, problems


def record_results(store: RecordStore, batch_id: str, results: list[RxQC], *,
                   source: Mapping[str, Any]) -> int:
    """Record every result (idempotent); returns how many were new or changed.

    Methods: ``mass`` per tablet, ``USP905`` and ``PhEur2.9.6`` per prescription.
    `source` (weights file name and SHA-256, assay) goes into each result's details.
    """
    written = 0
    for qc in results:
        for t in qc.tablets:
            written += store.record_qc(
                batch_id, method="mass", rx_id=qc.rx_id, tablet_index=t.index,
                mass_mg=t.mass_mg, content_pct=t.content_pct, passed=t.passed,
                details={**source, "tablet_id": t.tablet_id, "target_mass_mg": t.target_mass_mg,
                         "relative_error": round(t.relative_error, 6),
                         "tolerance": t.tolerance})
        if qc.av is not None:
            av = qc.av
            written += store.record_qc(
                batch_id, method="USP905", rx_id=qc.rx_id, acceptance_value=av.av_reported,
                passed=av.passed,
                details={**source, "n": av.n, "mean_pct": round(av.mean_pct, 4),
                         "sd_pct": round(av.sd_pct, 4), "k": av.k, "m_pct": av.m_pct,
                         "av": round(av.av, 4), "stage": av.stage, "basis": qc.av_source,
                         "reasons": list(av.reasons), "next_step": av.next_step})
        if qc.ph_eur is not None:
            pe = qc.ph_eur
            written += store.record_qc(
                batch_id, method="PhEur2.9.6", rx_id=qc.rx_id, passed=pe.passed,
                details={**source, "n": pe.n, "stage": pe.stage, "reasons": list(pe.reasons),
                         "needs_more_units": pe.needs_more_units})
    return written
