"""What a compounding worksheet says about the batch as a whole (not per prescription)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dosecraft import __version__
from dosecraft.constants import RX_ID_PATTERN

#: Lot numbers as printed on supplier labels: letters, digits, '-', '_', '/', '.'.
LOT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-/.]{0,23}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

Text = Annotated[str, Field(min_length=1, max_length=120)]


class FormulationLot(BaseModel):
    """One formulation used in the batch, with the lot of material actually loaded.

    Attributes
    ----------
    formulation_id : formulary ID. name : display name. lot : supplier or in-house lot.
    expiry : the lot's expiry date (labels may not give a use-by date beyond it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    formulation_id: Text
    name: Annotated[str, Field(max_length=120)] = ""
    lot: Annotated[str, Field(pattern=LOT_PATTERN)]
    expiry: dt.date


class BatchInfo(BaseModel):
    """Batch-level facts printed at the head of the compounding worksheet.

    Attributes
    ----------
    batch_id : batch identifier (same character rules as an rx_id).
    date : compounding date. operator : who prepared the batch.
    source_file : prescriptions file name; source_sha256 : its SHA-256 (hex), if known.
    formulations : formulation lots used. printers : printer IDs (or names) used.
    dosecraft_version : software version that produced the G-code.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    batch_id: Annotated[str, Field(pattern=RX_ID_PATTERN)]
    date: dt.date
    operator: Text
    source_file: Annotated[str, Field(max_length=255)] = ""
    source_sha256: Annotated[str, Field(pattern=SHA256_PATTERN)] | None = None
    formulations: tuple[FormulationLot, ...] = ()
    printers: tuple[Text, ...] = ()
    dosecraft_version: str = __version__

    def lot_for(self, formulation_id: str) -> FormulationLot | None:
        """The lot recorded for a formulation ID, or None."""
        return next((f for f in self.formulations if f.formulation_id == formulation_id), None)
