"""Medication → formulation matching for FHIR prescriptions (see `dosecraft.io.fhir`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from dosecraft.dose.checks import drug_matches
from dosecraft.errors import DosecraftError
from dosecraft.io.fhir_map import EXT_FORMULATION, _EntryError
from dosecraft.slicer.flow import filament_mismatch


def _drug_part(name: str) -> str:
    """'Propranolol hydrochloride 1 mg/mL gel' → 'propranolol hydrochloride'."""
    return " ".join(re.split(r"[\d(,;]", name, maxsplit=1)[0].lower().split())


class FormularyMatcher:
    """Picks the formulation for a medication name and a printer.

    Only an exact drug name (or the base of a salt form, as `drug_matches` allows) counts:
    a combination product named after its first ingredient must not match that ingredient.
    """

    def __init__(self, formulary_dirs: Iterable[str] = ()) -> None:
        self.dirs = tuple(formulary_dirs)
        self._all: list[Any] | None = None

    def formulations(self) -> list[Any]:
        if self._all is None:
            from dosecraft.formulary import formulation_ids, get_formulation

            self._all = []
            for fid in formulation_ids(self.dirs):
                try:
                    self._all.append(get_formulation(fid, self.dirs))
                except DosecraftError:
                    continue  # a broken file is reported when a row names it
        return self._all

    def choose(self, names: list[str], explicit: Any, printer: str) -> tuple[str, str]:
        """(drug, formulation ID) for a request; raises `_EntryError` with the reason."""
        from dosecraft.formulary import get_formulation
        from dosecraft.profiles import load_profile

        drugs = [d for d in (_drug_part(n) for n in names) if d]
        if explicit is not None:
            f = get_formulation(str(explicit), self.dirs)
            if drugs and not any(drug_matches(d, f.drug) for d in drugs):
                raise _EntryError(f"medication {names[0]!r} does not match formulation "
                                  f"{f.id!r}, which contains {f.drug!r}")
            return f.drug, f.id
        if not drugs:
            raise _EntryError("no medication: give medicationCodeableConcept.text (or a "
                              "coding display) or a referenced Medication with a code")
        candidates = [f for f in self.formulations()
                      if any(drug_matches(d, f.drug) for d in drugs)]
        if not candidates:
            known = sorted({f.drug for f in self.formulations()})
            raise _EntryError(f"unknown medication {names[0]!r}: no formulation in the "
                              f"formulary is for it (drugs: {', '.join(known)}); add the "
                              f"extension {EXT_FORMULATION} to name one")
        profile = load_profile(printer)
        fits = [f for f in candidates if f.technology == profile.technology
                and filament_mismatch(f.filament_diameter_mm, profile.feed_diameter_mm) is None]
        listed = ", ".join(f"{f.id} ({f.technology})" for f in candidates)
        if not fits:
            raise _EntryError(f"no formulation of {candidates[0].drug!r} prints on printer "
                              f"{printer!r} ({profile.technology}); formulary has: {listed}")
        if len(fits) > 1:
            raise _EntryError(f"medication {names[0]!r} is ambiguous on printer {printer!r}: "
                              f"{', '.join(f.id for f in fits)}; name one with the "
                              f"extension {EXT_FORMULATION}")
        return fits[0].drug, fits[0].id
