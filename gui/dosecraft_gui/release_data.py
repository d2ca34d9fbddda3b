"""Dissolution profiles for the release panel: read a CSV, compare with the prediction.

Qt-free. Averaging replicates is the core's `mean_profile` and the comparison its
`similarity` (f1/f2 with the regulatory conditions); this module only reads the file and
samples the predicted curve at the profile's times.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dosecraft.errors import DosecraftError
from dosecraft.io.dissolution import read_dissolution
from dosecraft.model.results import ReleaseEstimate
from dosecraft.release import Similarity, similarity
from dosecraft.reports.plots import Profile


def read_profile_csv(path: str | os.PathLike, label: str | None = None) -> Profile:
    """Read `time_min,percent_released[,replicate]` into a mean profile with its SD.

    Parameters
    ----------
    path : the CSV file (header row required), read by `dosecraft.io.dissolution`.
    label : legend text; the file name by default.

    Raises
    ------
    ValueError
        The core's message: missing columns, or a cell that is not a number (naming the
        line and column).
    """
    p = Path(path)
    try:
        mean = read_dissolution(p).mean
    except DosecraftError as exc:
        raise ValueError(str(exc)) from None
    sd = mean.sd_pct if np.any(np.isfinite(mean.sd_pct)) else None
    if sd is not None:
        sd = np.nan_to_num(sd, nan=0.0)
    return Profile(mean.time_min, mean.mean_pct, sd, label or p.stem)


def compare(estimate: ReleaseEstimate, reference: Profile) -> Similarity | None:
    """f1/f2 of the predicted curve against a profile, at the profile's times.

    Returns None when the profile cannot be compared (fewer than two times after 0).
    """
    t = np.asarray(reference.time_min, dtype=float)
    if np.count_nonzero(t > 0) < 2:
        return None
    # The prediction is on a fine uniform grid; linear interpolation between its points
    # is far below the noise of a dissolution measurement.
    predicted = 100.0 * np.interp(t, estimate.time_min, estimate.fraction)
    try:
        return similarity(t, np.asarray(reference.percent, dtype=float), predicted)
    except DosecraftError:
        return None
