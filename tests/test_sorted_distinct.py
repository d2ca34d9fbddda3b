"""`sorted_distinct` gives what `numpy.unique` gives, for the arrays the slicer passes."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dosecraft.sorted_distinct import sorted_distinct

_values = st.one_of(
    arrays(np.int64, st.integers(0, 60), elements=st.integers(-5, 5)),
    arrays(np.float64, st.tuples(st.integers(0, 8), st.integers(1, 4)),
           elements=st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 1))),
)


@given(_values)
def test_matches_numpy_unique(values: np.ndarray) -> None:
    got = sorted_distinct(values)
    want = np.unique(values)
    assert got.dtype == values.dtype
    assert np.array_equal(got, want)


def test_negative_zero_merges_with_zero() -> None:
    assert sorted_distinct(np.array([0.0, -0.0, 1.0])).tolist() == [0.0, 1.0]
