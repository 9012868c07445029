"""Heat-map focus and border masking (issue 10's shortcut measures)."""

from __future__ import annotations

import numpy as np
import pytest

from pneumo_desktop.evaluation.shortcuts import border_masking, heatmap_focus, mass_share
from pneumo_desktop.imaging.regions import mask_borders, thorax_box, top_band


def test_thorax_box_covers_64_percent():
    box = thorax_box((100, 100))
    assert box.mean() == pytest.approx(0.64)
    assert not box[:12].any() and not box[92:].any() and box[12:92, 10:90].all()
    assert top_band((100, 100)).mean() == pytest.approx(0.12)


def test_mass_share_of_maps_inside_and_outside_a_known_mask():
    mask = thorax_box((50, 50))
    inside, outside, half = (np.zeros((50, 50)) for _ in range(3))
    inside[20:30, 20:30] = 1.0
    outside[0:3, :] = 1.0
    half[20:30, 20:30] = 1.0
    half[0:2, 0:50] = 2.0  # 2 rows x 50 x 2 = 200 outside, 100 inside
    shares = mass_share(np.stack([inside, outside, half, np.zeros((50, 50))]), mask)
    assert shares[0] == 1.0 and shares[1] == 0.0
    assert shares[2] == pytest.approx(100 / 300) and np.isnan(shares[3])


def test_heatmap_focus_per_class():
    cams = np.zeros((4, 7, 7), np.float32)
    cams[:2, 3, 3] = 1.0  # centre: inside the box
    cams[2:, 0, :] = 1.0  # top row: the top band
    focus = heatmap_focus(cams, np.array([1, 1, 0, 0], bool), 224)
    assert focus["pneumonia"]["inside_thorax_box"] > 0.95
    assert focus["normal"]["top_band"] > 0.5
    assert focus["overall"]["inside_thorax_box"] == pytest.approx(
        np.mean([focus["pneumonia"]["inside_thorax_box"], focus["normal"]["inside_thorax_box"]]))


def test_mask_borders_fills_the_bands_with_the_median_and_keeps_the_box():
    rng = np.random.default_rng(0)
    inputs = rng.uniform(0, 255, (2, 50, 50, 1)).astype(np.float32)
    out = mask_borders(inputs)
    box = thorax_box((50, 50))
    np.testing.assert_array_equal(out[:, box], inputs[:, box])
    for i in range(2):
        assert np.all(out[i][~box] == np.median(inputs[i]))
    assert inputs.dtype == out.dtype and not np.shares_memory(inputs, out)


def test_border_masking_figures():
    labels = np.array([0, 0, 1, 1], bool)
    report = border_masking(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.1, 0.6, 0.3, 0.9]),
                            labels, 0.5)
    assert report["auc"] == 1.0 and report["auc_masked"] == pytest.approx(0.75)
    assert report["flipped_decisions"] == 0.5
    assert report["mean_probability_change"] == pytest.approx(0.225)
