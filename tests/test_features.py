"""SpikeFeatures against hand-computed values, and as a detector front end."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from skeeg.features import SpikeFeatures
from tests.conftest import bump_dataset


def test_features_match_hand_computation():
    # One window, two channels; median |x| over both channels is 1.
    x = np.array([[[1.0, -1.0, 4.0, 1.0], [1.0, 1.0, -1.0, 1.0]]])
    features = SpikeFeatures().fit_transform(x).reshape(2, 4)
    # Channel 0: max |x| = 4; |dx| = 2, 5, 3; Teager with repeated edges:
    # 1 - 1*(-1) = 2, 1 - 1*4 = -3, 16 - (-1)*1 = 17, 1 - 4*1 = -3.
    np.testing.assert_allclose(np.exp(features[0]), [4.0, 10 / 3, 17.0, 5.0])
    # Channel 1: max |x| = 1; |dx| = 0, 2, 2; Teager 0, 2, 2, 2.
    np.testing.assert_allclose(np.exp(features[1]), [1.0, 4 / 3, 2.0, 2.0])


def test_features_ignore_the_gain():
    X, _, _ = bump_dataset(n_windows=10)
    features = SpikeFeatures().fit(X)
    np.testing.assert_allclose(features.transform(X), features.transform(1e-6 * X))


def test_feature_names_follow_the_columns():
    X, _, _ = bump_dataset(n_windows=4, n_channels=2)
    names = SpikeFeatures().fit(X).get_feature_names_out()
    assert list(names[:5]) == [
        "ch0_max_abs",
        "ch0_line_length",
        "ch0_teager",
        "ch0_max_slope",
        "ch1_max_abs",
    ]


def test_bad_eps_is_a_clear_error():
    X, _, _ = bump_dataset(n_windows=4)
    with pytest.raises(ValueError, match="eps must be a float > 0"):
        SpikeFeatures(eps=0).fit(X)


def test_simple_detector_finds_bumps():
    X, y, _ = bump_dataset(n_windows=300, seed=1)
    X_test, y_test, _ = bump_dataset(n_windows=300, seed=2)
    detector = make_pipeline(SpikeFeatures(), LogisticRegression(max_iter=1000))
    detector.fit(X, y)
    assert roc_auc_score(y_test, detector.predict_proba(X_test)[:, 1]) > 0.9
