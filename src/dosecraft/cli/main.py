"""The full `dosecraft` application, every command registered (for tests and `python -m`).

The console script uses `dosecraft.cli.entry`, which registers only the command being run.
"""

from dosecraft.cli.commands import build_app

app = build_app()

if __name__ == "__main__":
    app()
