"""Console script `dosecraft`: import only the command that is run.

``dosecraft slice …`` imports the slicer and the G-code writer, not the batch runner,
printer clients, FHIR models and PDF writers. ``--version`` alone registers no command;
help and unknown commands get the full application, so every command is listed.

Start-up is most of a short command's time, so the garbage collector is kept out of it:
it is off while modules are imported (imports build long-lived objects, not garbage), the
objects made by then are frozen out of later collections, and everything left at the end
is frozen too, so interpreter shutdown does not walk it again. Together ~50 ms of a
0.3 s `dosecraft slice`.
"""

import gc
import os
import sys


def main() -> None:
    """Run the `dosecraft` command line."""
    # One BLAS thread: dosecraft's numpy work is small vectors and sparse operators, and
    # the batch already runs one worker per core; OpenBLAS's default thread pool only adds
    # start-up time and oversubscribes the cores. The user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # dosecraft's models use no pydantic plugin; without this pydantic scans every
    # installed package's entry points when the first model is built (~5 ms a process).
    # Setting PYDANTIC_DISABLE_PLUGINS to "" (or a plugin list) turns plugins back on.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    gc.disable()
    try:
        from dosecraft.cli.commands import COMMAND_MODULES, build_app

        first = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
        chosen: list[str] | None = [first] if first in COMMAND_MODULES else None
        if first is None and "--version" in sys.argv[1:]:
            chosen = []  # the version needs no command at all
        app = build_app(chosen)
    finally:
        gc.freeze()
        gc.enable()
    try:
        app(prog_name="dosecraft")
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
