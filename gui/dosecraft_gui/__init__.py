"""dosecraft desktop app: a thin PySide6 layer over the `dosecraft` core.

Every figure the app shows comes from `dosecraft.pipeline.run_job`; the widgets only
display it. Start it with ``dosecraft-gui`` (see `dosecraft_gui.app.main`).
"""

from dosecraft import __version__

__all__ = ["__version__"]
