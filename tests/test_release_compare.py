"""f1/f2 with the regulatory conditions, MDT and tX from sampled profiles."""

import numpy as np
import pytest

from dosecraft.errors import ReleaseModelError
from dosecraft.release.compare import (
    f1_factor,
    f2_factor,
    mdt_profile,
    release_times,
    similarity,
    time_to_percent,
)

REF = np.array([42.0, 67.0, 84.0, 91.0])
TEST = np.array([39.0, 64.0, 80.0, 89.0])
TIMES = np.array([15.0, 30.0, 45.0, 60.0])


def test_domain_vector_f1_f2():
    assert f1_factor(REF, TEST) == pytest.approx(4.225, abs=5e-4)
    assert f2_factor(REF, TEST) == pytest.approx(74.47, abs=5e-3)


def test_domain_vector_through_the_regulatory_wrapper():
    result = similarity(TIMES, REF, TEST)
    assert result.applicable and result.similar
    assert result.f1 == pytest.approx(4.225, abs=5e-4)
    assert result.f2 == pytest.approx(74.47, abs=5e-3)
    assert result.n_points == 4  # 91 is the first point above 85 %: included
    assert "74.47" in result.reason


def test_points_after_the_first_above_85_are_dropped():
    times = np.array([0.0, 10, 20, 30, 45, 60])
    ref = np.array([0.0, 30, 55, 80, 90, 98])
    test = np.array([0.0, 28, 50, 76, 88, 60])  # a wild last point must not matter
    result = similarity(times, ref, test)
    assert result.n_points == 4 and list(result.time_min) == [10, 20, 30, 45]
    assert result.f2 == pytest.approx(f2_factor(ref[1:5], test[1:5]))


def test_rapid_release_is_similar_without_f2():
    times = np.array([5.0, 10, 15, 30])
    result = similarity(times, [60, 80, 92, 99], [50, 70, 88, 98])
    assert not result.applicable and result.similar is True
    assert "without f2" in result.reason


def test_too_few_points_is_not_applicable():
    result = similarity([10.0, 20, 30], [70, 90, 99], [65, 88, 98])
    assert not result.applicable and result.similar is None
    assert "at least 3" in result.reason
    assert result.f2 is not None  # the value is still reported


def test_unit_level_data_must_meet_the_cv_limits():
    times = np.array([10.0, 20, 30, 45])
    rng = np.random.default_rng(0)
    ref_units = np.array([30, 55, 72, 84]) + rng.normal(0, 1.0, (12, 4))
    noisy = np.array([30, 55, 72, 84]) + rng.normal(0, 12.0, (12, 4))
    assert similarity(times, ref_units, ref_units + 2).applicable
    result = similarity(times, ref_units, noisy)
    assert not result.applicable and "CV" in result.reason


def test_dissimilar_profiles():
    result = similarity(TIMES, REF, REF - 20)
    assert result.applicable and result.similar is False and result.f2 < 50


def test_f2_above_50_with_f1_above_15_is_not_similar():
    # early points far apart in relative terms: f1 = 28.5 although f2 = 51.3
    result = similarity(np.array([10.0, 20.0, 30.0, 45.0]), np.array([10.0, 20.0, 40.0, 60.0]),
                        np.array([3.0, 11.0, 30.0, 49.0]))
    assert result.f2 == pytest.approx(51.3, abs=0.05) and result.f2 >= 50
    assert result.f1 == pytest.approx(28.5, abs=0.05) and result.f1 > 15
    assert result.applicable and result.similar is False
    assert "f1 = 28.46 (> 15): not similar" in result.reason


def test_mismatched_shapes_raise():
    with pytest.raises(ReleaseModelError, match="shape"):
        similarity(TIMES, REF, TEST[:3])
    with pytest.raises(ReleaseModelError):
        f2_factor(REF, TEST[:2])


def test_mdt_of_a_profile():
    # All release in the interval 10–20 min: MDT is its midpoint.
    assert mdt_profile([10.0, 20.0, 30.0], [0.0, 100.0, 100.0]) == pytest.approx(15.0)
    # (0, 0) is prepended: half released in 0–10 (mid 5), half in 10–30 (mid 20).
    assert mdt_profile([10.0, 30.0], [50.0, 100.0]) == pytest.approx(12.5)


def test_time_to_percent_by_linear_interpolation():
    t, p = [15.0, 30.0, 45.0, 60.0], [42.0, 67.0, 84.0, 91.0]
    assert time_to_percent(t, p, 50) == pytest.approx(15 + 8 / 25 * 15)
    assert time_to_percent(t, p, 20) == pytest.approx(20 / 42 * 15)  # from (0, 0)
    assert time_to_percent(t, p, 95) is None
    times = release_times(t, p)
    assert times["t80"] == pytest.approx(30 + 13 / 17 * 15)
    assert times["t90"] == pytest.approx(45 + 6 / 7 * 15)


def test_unsorted_times_raise():
    with pytest.raises(ReleaseModelError, match="increasing"):
        mdt_profile([10.0, 5.0], [20.0, 10.0])
