"""Mass-factor calibration from weighed tablets."""

import math

import numpy as np
import pytest
from scipy import stats

from dosecraft.qc import CalibrationRefused, QCError, mass_factor_from_weights


def test_new_factor_is_current_times_mean_ratio_with_t_interval():
    predicted = np.array([100.0, 100.0, 200.0, 200.0, 150.0, 150.0])
    ratios = np.array([1.02, 1.04, 1.03, 1.05, 1.01, 1.03])
    r = mass_factor_from_weights(predicted * ratios, predicted, current_factor=0.95)
    assert r.accepted and r.reasons == ()
    assert r.n == 6
    np.testing.assert_allclose(r.ratios, ratios)
    assert r.new_factor == pytest.approx(0.95 * ratios.mean())
    sd = ratios.std(ddof=1)
    lo, hi = stats.t.interval(0.95, 5, loc=ratios.mean(), scale=sd / math.sqrt(6))
    assert r.ci_low == pytest.approx(0.95 * lo)
    assert r.ci_high == pytest.approx(0.95 * hi)
    assert r.cv == pytest.approx(sd / ratios.mean())
    assert r.to_dict()["accepted"] is True


def test_one_predicted_mass_for_all_tablets():
    r = mass_factor_from_weights([107.0, 108.0, 107.5, 106.5, 108.5], 100.0, 1.0)
    assert r.new_factor == pytest.approx(1.075)


def test_refuses_fewer_than_5_tablets():
    r = mass_factor_from_weights([101.0, 102.0, 103.0, 101.0], 100.0, 1.0)
    assert not r.accepted
    assert any("at least 5" in s for s in r.reasons)
    with pytest.raises(CalibrationRefused, match="at least 5"):
        _ = r.new_factor


def test_refuses_scattered_tablets():
    r = mass_factor_from_weights([90.0, 110.0, 95.0, 105.0, 100.0, 88.0], 100.0, 1.0)
    assert r.cv > 0.05 and not r.accepted
    assert any("CV" in s for s in r.reasons)
    assert r.proposed_factor == pytest.approx(98.0 / 100.0)  # still shown, not stored


def test_refuses_factor_outside_range_with_all_reasons():
    r = mass_factor_from_weights([160.0, 161.0, 159.0], 100.0, 1.0)
    assert not r.accepted
    assert len(r.reasons) == 2  # too few and out of range, both reported
    assert any("outside (0.5, 1.5)" in s for s in r.reasons)


def test_single_tablet_gives_nan_spread_and_is_refused():
    r = mass_factor_from_weights([101.0], 100.0, 1.0)
    assert math.isnan(r.sd_ratio) and math.isnan(r.ci_low)
    assert not r.accepted
    assert r.to_dict()["sd_ratio"] is None


@pytest.mark.parametrize(("measured", "predicted", "factor"), [
    ([], 100.0, 1.0),
    ([100.0, np.nan, 100.0, 100.0, 100.0], 100.0, 1.0),
    ([100.0, -1.0, 100.0, 100.0, 100.0], 100.0, 1.0),
    ([100.0] * 5, [100.0] * 4, 1.0),
    ([100.0] * 5, 0.0, 1.0),
    ([100.0] * 5, 100.0, 1.7),
])
def test_unusable_inputs_raise(measured, predicted, factor):
    with pytest.raises(QCError):
        mass_factor_from_weights(measured, predicted, factor)
