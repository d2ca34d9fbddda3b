"""Where the command line prints: the shared consoles and the one way to fail.

Every command reports an input problem the same way: one ``error:`` line on stderr naming
what was wrong and what would work, then exit 2 (1 when the input was fine but something
could not be made). The message is printed as text, never as Rich markup: it carries user
values (file names, IDs) in which ``[...]`` must not vanish as a style tag.
"""

import sys
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

#: Exit status of a wrong input (the file, option or value the user gave).
BAD_INPUT = 2

# Piped output (CI logs, files) gets a wide table instead of Rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def fail(message: str, code: int = BAD_INPUT) -> NoReturn:
    """Print ``error: <message>`` on one line (no traceback) and exit with `code`."""
    # one line whatever the width: a wrapped error is hard to grep in a log
    text = " ".join(str(message).split())
    err_console.print(f"[bold red]error:[/] {escape(text)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)
