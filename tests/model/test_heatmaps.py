"""One heat-map scale for every film (issue 24): evidence in the model's own units, a fixed
scale per model, no map below the display rule's probability, relative maps on request."""

from __future__ import annotations

import numpy as np
import pytest

from pneumo_desktop.model.heatmaps import (
    HeatScale,
    absolute_maps,
    evidence_maps,
    fit_heat_scale,
    relative_maps,
)
from pneumo_desktop.model.inference import Prediction
from pneumo_desktop.model.scoring import heatmap_image

SCALE = HeatScale(red=20.0, show_from=0.10, source="test")


def blob(strength: float, size: int = 14) -> np.ndarray:
    """Evidence (size, size): a Gaussian blob of peak `strength` on a faintly negative film."""
    yy, xx = np.mgrid[:size, :size]
    return (strength * np.exp(-((yy - 6) ** 2 + (xx - 8) ** 2) / 6.0) - 1.0).astype(np.float32)


def coloured_share(rgb: np.ndarray, gray: np.ndarray) -> float:
    return float((np.abs(rgb.astype(int) - gray[:, :, None].astype(int)).max(axis=2) > 8).mean())


def test_evidence_is_the_logit_spread_over_the_cells():
    rng = np.random.default_rng(0)
    features, weights = rng.normal(size=(3, 7, 7, 5)), rng.normal(size=5)
    evidence = evidence_maps(features, weights)
    pooled_logit = features.mean(axis=(1, 2)) @ weights
    assert np.allclose(evidence.mean(axis=(1, 2)), pooled_logit, atol=1e-5)


def test_a_weak_map_stays_uncoloured_and_a_strong_one_is_coloured():
    gray = np.full((140, 140), 100, np.uint8)
    weak = Prediction(0.5, 0.9, heatmap=None, evidence=blob(2.0), heat_scale=SCALE)
    strong = Prediction(0.99, 0.9, heatmap=None, evidence=blob(30.0), heat_scale=SCALE)
    for p in (weak, strong):
        p.heatmap = absolute_maps(p.evidence, SCALE)
        p.heatmap = np.kron(p.heatmap, np.ones((10, 10), np.float32))
    assert coloured_share(heatmap_image(gray, weak), gray) == 0.0
    assert coloured_share(heatmap_image(gray, strong), gray) > 0.05


def test_the_scale_is_monotone_in_the_evidence_and_the_same_on_every_film():
    values = [absolute_maps(blob(s), SCALE).max() for s in (1, 5, 10, 20, 40)]
    assert values == sorted(values) and values[-1] == 1.0
    # two films with the same evidence in one place get the same colour there, whatever
    # else is on them (a per-film scale would differ)
    a, b = blob(10.0), blob(10.0)
    b[0, 0] = 60.0
    assert absolute_maps(a, SCALE)[6, 8] == absolute_maps(b, SCALE)[6, 8]
    assert relative_maps(a[None])[0, 6, 8] != relative_maps(b[None])[0, 6, 8]


def test_below_show_from_no_map_is_shown_and_the_image_says_why():
    gray = np.full((300, 400), 90, np.uint8)
    low = Prediction(0.05, 0.9, heatmap=np.ones((300, 400), np.float32),
                     evidence=blob(30.0), heat_scale=SCALE)
    assert not low.heatmap_shown
    rgb = heatmap_image(gray, low)
    top = rgb[:200]  # the caption sits at the bottom; the film itself stays uncoloured
    assert (top == gray[:200, :, None]).all()
    assert low.relative_heatmap((300, 400)).max() == pytest.approx(1.0, abs=1e-3)  # on request


def test_a_bundle_without_a_scale_shows_relative_maps_captioned():
    gray = np.full((300, 400), 90, np.uint8)
    old = Prediction(0.01, 0.9, heatmap=np.ones((300, 400), np.float32), evidence=blob(3.0))
    assert old.heatmap_is_relative and old.heatmap_shown
    rgb = heatmap_image(gray, old)
    assert coloured_share(rgb[:200], gray[:200]) > 0.5


def test_fit_heat_scale_takes_the_percentile_of_flagged_films_only():
    evidence = np.stack([np.full((4, 4), v, np.float32) for v in (1, 2, 100)])
    evidence[1, 0, 0] = 50.0
    scale = fit_heat_scale(evidence, np.array([False, True, False]), "test")
    assert scale.red == pytest.approx(np.percentile(evidence[1], 90))
    assert fit_heat_scale(evidence, np.zeros(3, bool), "test") is None


def test_scale_survives_the_card_and_a_folded_calibration():
    again = HeatScale.from_card(SCALE.to_card())
    assert again == SCALE
    assert HeatScale.from_card({}) is None
    assert SCALE.rescaled(0.5).red == pytest.approx(10.0)


def test_predictor_carries_evidence_and_the_cards_scale(tiny_bundle, tmp_path):
    import json
    import shutil

    from pneumo_desktop.imaging.synthetic import synthetic_chest
    from pneumo_desktop.model.bundle import read_bundle
    from pneumo_desktop.model.inference import Predictor

    folder = tmp_path / "scaled"
    shutil.copytree(tiny_bundle, folder)
    card = json.loads((folder / "model.json").read_text())
    card["heatmap"] = HeatScale(red=0.5, show_from=0.0, source="test").to_card()
    (folder / "model.json").write_text(json.dumps(card))
    predictor = Predictor(read_bundle(folder), batch_size=2)
    film = synthetic_chest(size=200, seed=1)
    p = predictor.predict_image(film)
    assert p.heat_scale.red == 0.5 and not p.heatmap_is_relative
    assert p.heatmap.shape == film.shape and 0.0 <= p.heatmap.min() <= p.heatmap.max() <= 1.0
    assert np.allclose(p.heatmap.max(), min(1.0, p.evidence.max() / 0.5), atol=0.05)
