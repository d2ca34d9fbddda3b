"""Numbers as text: what is wrong with one typed with a comma, and signed read-outs.

``2,5`` is a decimal comma (2.5). ``1,000`` is ambiguous: a thousand in English, one in
most of Europe; guessing either way can be a 1000× dosing slip, so neither is accepted.
A dose error that rounds to zero is shown as ``+0.000 %``, never ``-0.000 %`` (which reads
as a small under-dose).
"""

import re

_ONE_GROUP = re.compile(r"[-+]?\d{1,3},\d{3}")
_GROUPS = re.compile(r"[-+]?\d{1,3}(,\d{3}){2,}")
_DECIMAL = re.compile(r"[-+]?\d+,\d+")


def comma_problem(text: str) -> str | None:
    """Why `text` (already stripped) is not accepted as a number, when a comma is the
    reason; None when it has no such comma."""
    if _ONE_GROUP.fullmatch(text):
        return (f"'{text}' is ambiguous: a thousands separator ({text.replace(',', '')}) or "
                f"a decimal comma ({text.replace(',', '.')})? write the number without a "
                "comma, with a point for decimals")
    if _GROUPS.fullmatch(text):
        return (f"'{text}' uses thousands separators; write it as {text.replace(',', '')} "
                "if that is the number meant")
    if _DECIMAL.fullmatch(text):
        return f"'{text}' uses a decimal comma; write it with a point ({text.replace(',', '.')})"
    return None


def signed(value: float, places: int) -> str:
    """``+0.12`` / ``-0.12`` to `places` decimals; a value that rounds to zero is ``+0.00``."""
    rounded = round(value, places) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{rounded:+.{places}f}"


def signed_percent(fraction: float, places: int) -> str:
    """A relative error as ``+0.004%`` (`places` decimals of the percentage)."""
    return f"{signed(100 * fraction, places)}%"
