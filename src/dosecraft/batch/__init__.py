"""Batch compounding runs: many prescriptions through `run_job`, with safe outputs.

`run_batch(BatchConfig(...))` is the entry point (see `dosecraft.batch.runner`); the
modules, in the order a run uses them:

- `inputs`: the prescriptions file (CSV, JSON, FHIR Bundle) and batch-only row rules;
- `planning`: row fingerprints and plate plans; `lots`: formulation lots, use-by;
- `executors`: inline, local process pool, Dask; `work`, `plates`: what workers run;
- `resume`: the output-folder lock, completion markers, cleaning up;
- `recording`: the compounding records; `documents`: batch.json, worksheet, labels;
- `send`: plates to printers; `qc_run`, `calibration`: QC and mass-factor calibration.
"""
