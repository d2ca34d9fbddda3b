"""Number formatting for the app's read-outs."""


def signed(value: float, places: int) -> str:
    """``+0.12`` / ``-0.12`` to `places` decimals; a value that rounds to zero is ``+0.00``
    (never ``-0.00``, which reads as a small under-dose)."""
    rounded = round(value, places) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:+.{places}f}"
