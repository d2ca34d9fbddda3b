"""Numbers typed with a comma: a decimal comma is explained, a thousands comma refused."""

import pytest

from dosecraft.model.prescription import Prescription
from dosecraft.number_text import comma_problem, signed_percent
from dosecraft.qc import read_weights_csv


@pytest.mark.parametrize(("text", "fragment"), [
    ("2,5", "decimal comma; write it with a point (2.5)"),
    ("1,000", "ambiguous: a thousands separator (1000) or a decimal comma (1.000)"),
    ("-12,500", "ambiguous"),
    ("1,5000", "decimal comma; write it with a point (1.5000)"),
    ("12,345,678", "thousands separators; write it as 12345678"),
])
def test_comma_numbers_are_explained(text: str, fragment: str) -> None:
    problem = comma_problem(text)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("text", ["1000", "2.5", "abc", "1.000,5"])
def test_other_text_is_not_a_comma_problem(text: str) -> None:
    assert comma_problem(text) is None


def test_a_thousands_comma_dose_is_never_read_as_one_mg() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        Prescription(rx_id="A", drug="x", dose_mg="1,000", formulation="f", printer="p")


def test_a_weighed_mass_with_a_thousands_comma_is_refused() -> None:
    weights = read_weights_csv(b"tablet_id,rx_id,mass_mg\nT1,RX-1,\"1,000\"\n")
    assert weights.rows == ()
    (error,) = weights.errors
    assert error.field == "mass_mg" and error.message.startswith("is ambiguous")


@pytest.mark.parametrize(("fraction", "text"), [(-1e-9, "+0.000%"), (0.00004, "+0.004%"),
                                                 (-0.0123, "-1.230%")])
def test_signed_percent_never_shows_minus_zero(fraction: float, text: str) -> None:
    assert signed_percent(fraction, 3) == text
