"""`pneumo-desktop calibrate`: threshold rule, intervals, cross-validated figures, the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_desktop.cli import main
from pneumo_desktop.evaluation import metrics
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model.bundle import read_bundle
from pneumo_desktop.training.config import TrainConfig
from pneumo_desktop.training.local_calibration import (
    MIN_BELOW,
    site_threshold,
    smooth_threshold,
    wilson_interval,
)
from pneumo_desktop.training.train import save_result, train


def test_wilson_interval():
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.2775, abs=1e-3)
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-3) and high == pytest.approx(0.9785, abs=1e-3)
    assert wilson_interval(0, 0) == [0.0, 1.0]
    for n in (19, 38, 94, 147):  # all or none: the interval reaches the proportion itself
        assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0


def test_smooth_threshold_keeps_the_target_and_does_not_collapse_on_few_studies():
    rng = np.random.default_rng(0)
    logits = np.r_[rng.normal(2.0, 1.0, 4000), rng.normal(-2.0, 1.0, 4000)]
    labels = np.r_[np.ones(4000, bool), np.zeros(4000, bool)]
    threshold = smooth_threshold(labels, logits, 0.95)
    fresh = rng.normal(2.0, 1.0, 20000)
    assert np.mean(metrics.sigmoid(fresh) >= threshold) == pytest.approx(0.95, abs=0.01)
    # 20 pneumonia studies: dropping the lowest one moves the threshold a little, where the
    # confidence-bound rule sits on the lowest score and jumps with it
    few = np.sort(rng.normal(2.0, 1.0, 20))
    small = smooth_threshold(np.ones(20, bool), few, 0.95)
    without = smooth_threshold(np.ones(19, bool), few[1:], 0.95)
    bound = metrics.threshold_for_sensitivity(np.ones(20, bool), metrics.sigmoid(few), 0.95,
                                              0.95)
    assert bound == pytest.approx(metrics.sigmoid(few[0]))
    assert abs(without - small) < abs(metrics.sigmoid(few[1]) - metrics.sigmoid(few[0]))


def test_smooth_threshold_follows_a_long_lower_tail():
    """Pneumonia scores crowd near 1 with a tail of low ones: the threshold comes from the
    lower half, so the target holds on fresh studies from the same distribution."""
    rng = np.random.default_rng(1)

    def skewed(n):  # logits: most high, a long tail towards low values
        return 6.0 - rng.gamma(1.2, 1.8, n)

    labels = np.ones(400, bool)
    threshold = smooth_threshold(labels, skewed(400), 0.95)
    fresh = metrics.sigmoid(skewed(50000))
    assert np.mean(fresh >= threshold) == pytest.approx(0.95, abs=0.02)


def test_site_threshold_keeps_the_target_whatever_the_shape_of_the_scores():
    """The empirical quantile lands on the target on average for skewed and for bimodal
    pneumonia scores (a group that looks normal at the new site), where the half-normal fit
    misses one way or the other; on few studies it falls back to the half-normal fit."""
    rng = np.random.default_rng(2)
    shapes = {"skewed": lambda n: 6.0 - rng.gamma(1.2, 1.8, n),
              "bimodal": lambda n: np.where(rng.random(n) < 0.08, rng.normal(-1.0, 0.7, n),
                                            rng.normal(5.0, 1.0, n))}
    for draw in shapes.values():
        fresh = metrics.sigmoid(draw(50000))
        quantile = [np.mean(fresh >= site_threshold(np.ones(115, bool), draw(115), 0.95))
                    for _ in range(300)]
        assert np.mean(quantile) == pytest.approx(0.95, abs=0.01)
    bimodal = shapes["bimodal"]
    fresh = metrics.sigmoid(bimodal(50000))
    half_normal = [np.mean(fresh >= smooth_threshold(np.ones(115, bool), bimodal(115), 0.95))
                   for _ in range(300)]
    assert abs(np.mean(half_normal) - 0.95) > 0.02  # the shape misleads the parametric fit
    few = rng.normal(2.0, 1.0, int(MIN_BELOW / 0.05) - 1)
    labels = np.ones(len(few), bool)
    assert site_threshold(labels, few, 0.95) == smooth_threshold(labels, few, 0.95)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, Path]:
    """A small 'hospital' of synthetic studies and a model trained briefly on other ones."""
    root = tmp_path_factory.mktemp("calib")
    for folder, offset, count in (("train", 0, 24), ("site", 7000, 12)):
        for label in ("NORMAL", "PNEUMONIA"):
            (root / folder / label).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(root / folder / "NORMAL" / f"IM-{i:04d}-0001.jpeg"),
                        synthetic_chest(160, seed=offset + i))
            cv2.imwrite(str(root / folder / "PNEUMONIA" / f"person{i}_virus_1.jpeg"),
                        synthetic_chest(160, seed=offset + 500 + i, opacity=True))
    config = TrainConfig(architecture="custom_cnn", image_size=64, epochs=2, batch_size=8,
                         val_fraction=0.25, test_fraction=0.0)
    bundle = save_result(train(root / "train", config, name="parent"), root / "parent")
    return root / "site", bundle.path


def test_calibrate_writes_a_bundle_with_cross_validated_local_figures(site, tmp_path, capsys):
    data, parent = site
    out = tmp_path / "calibrated"
    assert main(["calibrate", str(data), "--model", str(parent), "--out", str(out),
                 "--target-sensitivity", "0.9", "--folds", "3"]) == 0
    bundle, before = read_bundle(out), read_bundle(parent)
    local = bundle.card.local
    # every study is scored or counted as refused (the briefly trained parent's learned check
    # may refuse a synthetic film or two)
    refused = local["refused_by_input_check"]
    assert local["n"] + refused == 24 and refused <= 2
    assert local["n_pneumonia"] + local["n_normal"] == local["n"]
    for key in ("sensitivity", "specificity"):
        low, high = local[f"{key}_ci95"]
        assert 0.0 <= low <= local[key] <= high <= 1.0
    assert local["folds"] == 3 and "cross-validation" in local["method"]
    assert local["active_model"]["name"] == "parent"
    assert any("fewer than 30" in w for w in local["warnings"])
    err = capsys.readouterr().err
    assert "fewer than 30" in err
    # the figures it prints name their source: these studies first, the training hospital's
    assert err.index(f"On {local['n']} of your studies, cross-validated: it flagged") < \
        err.index("At the hospital the model was trained on (validation split, 12 studies)")
    assert "The model it was adapted from (parent)" in err
    assert bundle.card.threshold_rule["method"] == "local_calibration"
    assert 0 < bundle.card.threshold < 1
    assert bundle.card.sha256 != before.card.sha256  # the last layer carries the calibration
    assert bundle.has_learned_check and bundle.card.input_check["sha256"] == \
        before.card.input_check["sha256"]  # same features: the input check carries over
    card = json.loads((out / "model.json").read_text())
    assert str(data) not in json.dumps(card)


def test_calibrate_refuses_to_overwrite_its_model_and_too_few_studies(site, tmp_path, capsys):
    data, parent = site
    assert main(["calibrate", str(data), "--model", str(parent), "--out", str(parent)]) == 2
    tiny = tmp_path / "tiny"
    for label in ("NORMAL", "PNEUMONIA"):
        (tiny / label).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(tiny / label / f"{label}{i}.png"), synthetic_chest(160, seed=i))
    assert main(["calibrate", str(tiny), "--model", str(parent), "--out",
                 str(tmp_path / "x")]) == 2
    assert "Too few studies to calibrate" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
