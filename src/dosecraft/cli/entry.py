"""Console script `dosecraft`: import only the command that is run.

``dosecraft slice …`` imports the slicer and the G-code writer, not the batch runner,
printer clients, FHIR models and PDF writers. ``--version`` alone registers no command;
help and unknown commands get the full application, so every command is listed.
"""

import os
import sys


def main() -> None:
    """Run the `dosecraft` command line."""
    # One BLAS thread: dosecraft's numpy work is small vectors and sparse operators, and
    # the batch already runs one worker per core; OpenBLAS's default thread pool only adds
    # start-up time and oversubscribes the cores. The user's own setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from dosecraft.cli.commands import COMMAND_MODULES, build_app

    first = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    chosen: list[str] | None = [first] if first in COMMAND_MODULES else None
    if first is None and "--version" in sys.argv[1:]:
        chosen = []  # the version needs no command at all
    build_app(chosen)(prog_name="dosecraft")


if __name__ == "__main__":
    main()
