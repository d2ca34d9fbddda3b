"""dosecraft: patient-specific 3D-printed tablets with the dose exact in the G-code."""

__version__ = "0.2.0"
