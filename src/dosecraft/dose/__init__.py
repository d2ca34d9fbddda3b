"""Dose engine: shape families, size limits, infill strategy and the dose → design solver."""
