"""Slicer: mesh → layer outlines → walls → infill → ordered, role-tagged toolpath."""
