"""USP <905> acceptance value, Ph. Eur. 2.9.6 content uniformity and mass accuracy."""

import numpy as np
import pytest

from dosecraft.qc import (
    QCError,
    acceptance_value,
    acceptance_value_from_weights,
    contents_from_weights,
    mass_accuracy,
    ph_eur_content_uniformity,
    reference_value,
)
from dosecraft.qc.uniformity import _round_half_up


def with_mean_sd(mean: float, sd: float, n: int = 10, seed: int = 0) -> np.ndarray:
    """n values whose sample mean and sample SD (n − 1) are exactly `mean` and `sd`."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def test_usp_example_fails_stage_1():
    # DOMAIN.md / USP <905>: n = 10, X̄ = 105.9 %, s = 5.0 → M = 101.5, AV = 4.4 + 12.0 = 16.4.
    x = with_mean_sd(105.9, 5.0)
    assert x.mean() == pytest.approx(105.9, abs=1e-12)
    assert x.std(ddof=1) == pytest.approx(5.0, abs=1e-12)
    r = acceptance_value(x)
    assert r.stage == 1 and r.k == 2.4 and r.n == 10
    assert r.m_pct == 101.5
    assert r.av == pytest.approx(16.4, abs=1e-9)
    assert r.av_reported == 16.4
    assert not r.passed
    assert r.next_step is not None and "stage 2" in r.next_step
    assert "16.4" in r.reasons[0] and "> L1 15.0" in r.reasons[0]


@pytest.mark.parametrize(("mean", "m"), [(97.0, 98.5), (98.5, 98.5), (100.3, 100.3),
                                         (101.5, 101.5), (104.0, 101.5)])
def test_reference_value_clamps_mean(mean, m):
    assert reference_value(mean) == pytest.approx(m)


def test_reference_value_with_target_above_101_5():
    # T > 101.5 %: M = X̄ up to T, then T.
    assert reference_value(101.8, target_pct=102.0) == pytest.approx(101.8)
    assert reference_value(103.0, target_pct=102.0) == pytest.approx(102.0)
    assert reference_value(97.0, target_pct=102.0) == pytest.approx(98.5)


def test_mean_inside_window_av_is_k_times_s():
    r = acceptance_value(with_mean_sd(100.0, 2.0))
    assert r.av == pytest.approx(4.8)
    assert r.passed and r.next_step is None


def test_av_is_rounded_before_comparison():
    # USP General Notices 7.20: 15.04 reports as 15.0 and passes; 15.06 as 15.1 and fails.
    assert acceptance_value(with_mean_sd(100.0, 15.04 / 2.4)).passed
    r = acceptance_value(with_mean_sd(100.0, 15.06 / 2.4))
    assert r.av_reported == 15.1 and not r.passed


@pytest.mark.parametrize(("x", "expected"), [(15.05, 15.1), (16.45, 16.5), (2.25, 2.3),
                                             (14.95, 15.0), (15.049, 15.0)])
def test_rounding_is_half_up_on_the_decimal_value(x, expected):
    assert _round_half_up(x, 1) == expected


def test_stage_2_passes_with_30_uniform_units():
    r = acceptance_value(with_mean_sd(100.5, 3.0, n=30))
    assert r.stage == 2 and r.k == 2.0
    assert r.av == pytest.approx(6.0)
    assert r.passed and r.outside_l2 == ()


def test_stage_2_fails_on_a_unit_outside_l2_even_with_good_av():
    x = np.full(30, 100.0)
    x[7] = 74.0  # below 0.75 · M (M = X̄ ≈ 99.1 → limit 74.3)
    r = acceptance_value(x)
    assert r.av_reported <= 15.0
    assert not r.passed
    assert r.outside_l2 == (7,)
    assert "#8" in r.reasons[-1]


def test_other_n_needs_explicit_k():
    with pytest.raises(QCError, match="n = 7"):
        acceptance_value(with_mean_sd(100, 2, n=7))
    r = acceptance_value(with_mean_sd(100, 2, n=7), k=2.6)
    assert r.stage is None and r.av == pytest.approx(5.2)
    assert any("indicative" in s for s in r.reasons)


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], [100.0, np.nan] * 5, [100.0, -1.0] * 5])
def test_bad_values_are_refused(bad):
    with pytest.raises(QCError):
        acceptance_value(bad)


def test_contents_from_weights_usp_weight_variation():
    w = np.array([98.0, 100.0, 102.0, 101.0, 99.0, 100.0, 97.0, 103.0, 100.0, 100.0])
    c = contents_from_weights(w, assay_pct=99.0)
    np.testing.assert_allclose(c, w * 99.0 / w.mean())
    assert c.mean() == pytest.approx(99.0)
    # No assay: A = 100 %, so the mean content is 100 % by construction.
    assert contents_from_weights(w).mean() == pytest.approx(100.0)


def test_contents_from_target_mass_keeps_bias_visible():
    w = np.full(10, 105.0)
    np.testing.assert_allclose(contents_from_weights(w, target_mass_mg=100.0), 105.0)
    # With an assay given, the USP formula wins.
    np.testing.assert_allclose(contents_from_weights(w, 100.0, target_mass_mg=50.0), 100.0)
    r = acceptance_value_from_weights(w, target_mass_mg=100.0)
    assert r.av == pytest.approx(105.0 - 101.5)


def test_acceptance_value_from_weights_matches_contents_path():
    w = with_mean_sd(250.0, 5.0)
    direct = acceptance_value(w * 100.0 / w.mean())
    assert acceptance_value_from_weights(w).av == pytest.approx(direct.av)


def test_ph_eur_all_inside_passes():
    r = ph_eur_content_uniformity(np.linspace(92, 108, 10))
    assert r.passed and r.stage == 1 and not r.needs_more_units


def test_ph_eur_one_outside_85_115_needs_20_more():
    x = np.full(10, 100.0)
    x[3] = 80.0  # 80/98 = 81.6 % of the mean
    r = ph_eur_content_uniformity(x)
    assert not r.passed and r.needs_more_units
    assert r.outside_inner == (3,) and r.outside_outer == ()


def test_ph_eur_two_outside_85_115_fails():
    x = np.full(10, 100.0)
    x[[1, 2]] = [80.0, 120.0]
    r = ph_eur_content_uniformity(x)
    assert not r.passed and not r.needs_more_units and len(r.outside_inner) == 2


def test_ph_eur_one_outside_75_125_fails_at_once():
    x = np.full(10, 100.0)
    x[0] = 70.0
    r = ph_eur_content_uniformity(x)
    assert not r.passed and not r.needs_more_units and r.outside_outer == (0,)


def test_ph_eur_stage_2_allows_one_outside_85_115():
    x = np.full(30, 100.0)
    x[5] = 84.0
    assert ph_eur_content_uniformity(x).passed
    x[6] = 116.0
    r = ph_eur_content_uniformity(x)
    assert not r.passed and r.outside_inner == (5, 6)


def test_ph_eur_needs_10_or_30():
    with pytest.raises(QCError, match="n = 12"):
        ph_eur_content_uniformity(np.full(12, 100.0))


def test_mass_accuracy():
    acc = mass_accuracy([101.0, 99.0, 100.5], 100.0)
    np.testing.assert_allclose(acc, [0.01, -0.01, 0.005])
    np.testing.assert_allclose(mass_accuracy([50.0, 120.0], [50.0, 100.0]), [0.0, 0.2])
    with pytest.raises(QCError, match="shape"):
        mass_accuracy([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(QCError):
        mass_accuracy([1.0], 0.0)
