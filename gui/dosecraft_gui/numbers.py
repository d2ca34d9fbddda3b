"""Number formatting for the app's read-outs (the core's, so the CLI reads the same)."""

from dosecraft.number_text import signed

__all__ = ["signed"]
