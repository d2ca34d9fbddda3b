"""The `dosecraft` command line (typer + rich): a thin front over `dosecraft.pipeline`."""

from dosecraft.cli.main import app

__all__ = ["app"]
