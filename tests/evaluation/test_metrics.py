"""Metrics against hand-computed values."""

import numpy as np
import pytest

from pneumo_desktop.evaluation import metrics


def test_auc_perfect_random_and_ties():
    y = np.array([0, 0, 1, 1])
    assert metrics.roc_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.roc_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert metrics.roc_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    # one discordant pair out of four
    assert metrics.roc_auc(y, np.array([0.1, 0.85, 0.8, 0.9])) == pytest.approx(0.75)


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) + y * 0.3, 2)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (
        len(pos) * len(neg))
    assert metrics.roc_auc(y, s) == pytest.approx(pairwise)


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95, 1.0])
def test_threshold_reaches_target_sensitivity_and_is_highest(target):
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(200), np.ones(100)]
    s = np.r_[rng.random(200) * 0.7, 0.3 + rng.random(100) * 0.7]
    t = metrics.threshold_for_sensitivity(y, s, target)
    sens = np.mean(s[y == 1] >= t)
    assert sens >= target
    # any higher threshold among the positive scores loses the target
    higher = np.sort(s[y == 1])[np.sort(s[y == 1]) > t]
    if len(higher):
        assert np.mean(s[y == 1] >= higher[0]) < target


def test_confusion_and_report_fields():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.6, 0.2, 0.7, 0.4])
    assert metrics.confusion(y, s, 0.5).tolist() == [[2, 1], [1, 1]]
    r = metrics.report(y, s, 0.5)
    for key in ("auc", "accuracy", "sensitivity", "specificity", "precision", "f1", "log_loss",
                "confusion_matrix", "roc", "threshold", "n"):
        assert key in r
    assert r["sensitivity"] == 0.5 and r["specificity"] == pytest.approx(2 / 3)
    assert r["accuracy"] == pytest.approx(3 / 5) and r["n"] == 5


def test_platt_scaling_improves_calibration():
    rng = np.random.default_rng(3)
    true_logit = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-true_logit))).astype(float)
    over_confident = 3.0 * true_logit + 1.0
    a, b = metrics.fit_platt(y, over_confident)
    assert a == pytest.approx(1 / 3, rel=0.15)
    before = metrics.expected_calibration_error(y, 1 / (1 + np.exp(-over_confident)))
    after = metrics.expected_calibration_error(y, 1 / (1 + np.exp(-(a * over_confident + b))))
    assert after < before / 2


def test_confident_threshold_keeps_a_margin():
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(300), np.ones(600)]
    s = np.r_[rng.random(300) * 0.6, 0.2 + rng.random(600) * 0.8]
    exact = metrics.threshold_for_sensitivity(y, s, 0.95)
    safe = metrics.threshold_for_sensitivity(y, s, 0.95, confidence=0.95)
    assert safe < exact
    n_kept = int(np.sum(s[y == 1] >= safe))
    assert metrics.wilson_lower_bound(n_kept, 600) >= 0.95
    # one positive fewer would break the bound: the threshold is the highest that keeps it
    assert metrics.wilson_lower_bound(n_kept - 1, 600) < 0.95


def test_wilson_lower_bound_known_value():
    # 95 of 100, one-sided 95 %: about 0.900
    assert metrics.wilson_lower_bound(95, 100, 0.95) == pytest.approx(0.9001, abs=2e-3)
