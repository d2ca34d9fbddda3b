"""Slicer: mesh → layer outlines → walls → infill → ordered, role-tagged toolpath."""

from dosecraft.slicer.infill import REGISTRY as INFILL_PATTERNS
from dosecraft.slicer.infill import infill_generator
from dosecraft.slicer.slicing import LayerOutline, layer_outlines
from dosecraft.slicer.toolpath_builder import (
    plan_layers,
    predict_deposited_volume_mm3,
    slice_tablet,
)

__all__ = [
    "INFILL_PATTERNS", "LayerOutline", "infill_generator", "layer_outlines", "plan_layers",
    "predict_deposited_volume_mm3", "slice_tablet",
]
