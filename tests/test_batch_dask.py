"""The same batch on a real Dask LocalCluster gives the same files as a local run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("distributed")

from dosecraft.batch.runner import BatchConfig, run_batch  # noqa: E402
from dosecraft.model.prescription import PRESCRIPTION_COLUMNS  # noqa: E402

ROWS = [
    "D-01,PD-01,hydrocortisone,2.5,,,11,hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,2",
    "D-02,PD-02,propranolol,5,,,8,propranolol_gel_sse,generic_sse_syringe,caplet,,,,2",
    "D-03,PD-03,hydrocortisone,2.0,,,11,hydrocortisone_gel_sse,generic_sse_syringe,oval,,,,2",
]


def test_dask_local_cluster_matches_the_inline_run(tmp_path: Path) -> None:
    src = tmp_path / "rx.csv"
    src.write_text(",".join(PRESCRIPTION_COLUMNS) + "\n" + "\n".join(ROWS) + "\n")
    dask = run_batch(BatchConfig(source=src, out_dir=tmp_path / "dask", workers=2,
                                 dask="local", release=False, records=None))
    assert dask.executor.startswith("Dask LocalCluster, 2 worker")
    assert (dask.ok, dask.failed, dask.redone) == (3, 0, 3)
    inline = run_batch(BatchConfig(source=src, out_dir=tmp_path / "inline", workers=1,
                                   release=False, records=None))
    for sub in ("gcode", "plates", "rows"):
        names = sorted(p.name for p in (tmp_path / "dask" / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "inline" / sub).iterdir())
        for name in names:
            assert (tmp_path / "dask" / sub / name).read_bytes() == \
                (tmp_path / "inline" / sub / name).read_bytes(), f"{sub}/{name}"
    assert inline.batch_id == dask.batch_id
