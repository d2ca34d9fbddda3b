"""The `dosecraft` command line (typer + rich): a thin front over `dosecraft.pipeline`."""

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    # `app` (every command) is built on first use: `dosecraft.cli.entry` builds only the
    # command being run and must not pay for the rest by importing this package.
    if name == "app":
        from dosecraft.cli.main import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
