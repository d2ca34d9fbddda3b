"""Batch compounding runs: many prescriptions through `run_job`, with safe outputs."""
