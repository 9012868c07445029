"""Predictor: probabilities equal the model's, CAM equals Grad-CAM, batching keeps order,
bad files become error rows, cancellation stops early."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.imaging.image_io import load_xray
from pneumo_desktop.imaging.preprocessing import prepare
from pneumo_desktop.imaging.synthetic import synthetic_chest
from pneumo_desktop.model import inference
from pneumo_desktop.model.heatmaps import grad_cam


def _bundle_with_signed_head(folder, arch: str, size: int, seed: int):
    """A random bundle whose logit weights are random but centred on the features of a few
    synthetic chests: CAMs of both signs (so the ReLU matters) and logits of spread ~2, so
    probabilities spread over 0..1 instead of bunching at one value."""
    import keras

    from pneumo_desktop.model.architectures import FEATURES_LAYER, LOGIT_LAYER, build_model
    from pneumo_desktop.model.bundle import ModelCard, write_bundle

    keras.utils.set_random_seed(seed)
    model = build_model(arch, size)
    probe = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).input)
    pooled = probe.predict(_inputs(size, n=8, seed=100), verbose=0).mean(axis=(1, 2))
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.0, pooled.shape[1])
    centre = pooled.mean(axis=0)
    weights -= (weights @ centre) / (centre @ centre) * centre  # mean logit 0 on the sample
    weights *= 2.0 / (pooled @ weights).std()
    logit = model.get_layer(LOGIT_LAYER)
    logit.set_weights([weights.reshape(-1, 1).astype(np.float32),
                       np.zeros_like(logit.get_weights()[1])])
    card = ModelCard(name=folder.name, architecture=arch, input_size=size, threshold=0.5)
    return write_bundle(folder, model, card)


@pytest.fixture(scope="module")
def spread_predictor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundles") / "spread"
    return inference.Predictor(_bundle_with_signed_head(folder, "custom_cnn", 64, 1),
                               batch_size=4)


@pytest.fixture(scope="module")
def mobilenet_predictor(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundles") / "mnv2_96"
    return inference.Predictor(_bundle_with_signed_head(folder, "mobilenet_v2", 96, 2),
                               batch_size=4)


def _inputs(size: int, n: int = 5, seed: int = 0) -> np.ndarray:
    return np.stack([prepare(synthetic_chest(160, seed=seed + i, opacity=i % 2 == 1), size)
                     for i in range(n)])


# -- CAM == Grad-CAM, probabilities == model.predict ----------------------------------------
@pytest.mark.parametrize("which", ["tiny_predictor", "spread_predictor", "mobilenet_predictor"])
def test_cam_equals_grad_cam(request, which):
    predictor = request.getfixturevalue(which)
    batch = _inputs(predictor.size)
    _, cams = predictor.predict_inputs(batch)
    reference = grad_cam(predictor.model, batch, "gap", "logit")
    assert cams.shape == reference.shape == (len(batch),) + cams.shape[1:]
    flat = cams.reshape(len(cams), -1)
    assert np.all(flat.max(axis=1) == pytest.approx(1.0)), "maps are all zero: vacuous test"
    assert np.all(flat.std(axis=1) > 0.01), "flat maps: vacuous test"
    assert float(np.abs(cams - reference).max()) < 1e-4


def test_signed_head_cam_has_zeros_from_the_relu(spread_predictor, mobilenet_predictor):
    for predictor in (spread_predictor, mobilenet_predictor):
        _, cams = predictor.predict_inputs(_inputs(predictor.size))
        assert (cams == 0).mean() > 0.05  # negative evidence clipped: the ReLU was exercised


@pytest.mark.parametrize("which", ["tiny_predictor", "spread_predictor", "mobilenet_predictor"])
def test_probabilities_equal_model_predict(request, which):
    predictor = request.getfixturevalue(which)
    batch = _inputs(predictor.size, n=6)  # not a multiple of the batch size (4)
    probs, _ = predictor.predict_inputs(batch)
    expected = predictor.model.predict(batch, verbose=0, batch_size=3)[:, 0]
    assert probs.shape == (6,)
    np.testing.assert_allclose(probs, expected, atol=1e-5)


def test_spread_predictor_really_spreads(spread_predictor):
    probs, _ = spread_predictor.predict_inputs(_inputs(64, n=8))
    assert probs.max() - probs.min() > 0.2


def test_predict_inputs_empty(tiny_predictor):
    probs, cams = tiny_predictor.predict_inputs(np.zeros((0, 64, 64, 1), np.float32))
    assert probs.shape == (0,) and len(cams) == 0


def test_predict_image_heatmap_at_image_size(tiny_predictor):
    image = synthetic_chest(300, width=220)
    prediction = tiny_predictor.predict_image(image)
    assert prediction.heatmap.shape == image.shape
    assert prediction.heatmap.min() >= 0 and prediction.heatmap.max() <= 1
    assert tiny_predictor.predict_image(image, heatmap=False).heatmap is None


def test_label_uses_threshold():
    assert inference.Prediction(0.3, 0.3).label == "PNEUMONIA"
    assert inference.Prediction(0.2999, 0.3).label == "NORMAL"


def test_bad_settings_are_refused(tiny_bundle):
    from pneumo_desktop.model.bundle import read_bundle

    bundle = read_bundle(tiny_bundle)
    for threshold in (0.0, 1.0, 1.2):
        with pytest.raises(PneumoError, match="must be between 0 and 1"):
            inference.Predictor(bundle, threshold=threshold)
    with pytest.raises(PneumoError, match="Batch size 0"):
        inference.Predictor(bundle, batch_size=0)


def test_model_without_cam_head_is_refused(tmp_path):
    import keras

    from pneumo_desktop.model.bundle import ModelCard, write_bundle

    inputs = keras.Input((32, 32, 1))
    outputs = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Flatten()(inputs))
    bundle = write_bundle(tmp_path / "flat", keras.Model(inputs, outputs),
                          ModelCard(name="flat", architecture="custom", input_size=32,
                                    threshold=0.5))
    with pytest.raises(PneumoError, match="lacks the 'gap' -> 'logit' head"):
        inference.Predictor(bundle)


# -- files ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    """Seven distinct PNG studies (lossless, decoded at full size)."""
    folder = tmp_path_factory.mktemp("studies")
    paths = []
    for i in range(7):
        path = folder / f"s{i}.png"
        cv2.imwrite(str(path), synthetic_chest(160, width=140 + 10 * i, seed=10 + i,
                                               opacity=i % 3 == 0))
        paths.append(path)
    return paths


def _one_by_one(predictor, paths) -> list[float]:
    return [predictor.predict_image(load_xray(p), heatmap=False).probability for p in paths]


def test_batches_keep_order(spread_predictor, studies):
    expected = _one_by_one(spread_predictor, studies)
    assert len({round(p, 4) for p in expected}) == len(studies), "order would be untestable"
    results = list(spread_predictor.score_files(studies))  # 7 = 4 + 3
    assert [r.path for r in results] == studies
    assert all(r.error is None and r.image is None for r in results)
    np.testing.assert_allclose([r.prediction.probability for r in results], expected, atol=1e-5)
    assert all(r.prediction.heatmap is None for r in results)
    shuffled = studies[::-1]
    again = list(spread_predictor.score_files(shuffled))
    np.testing.assert_allclose([r.prediction.probability for r in again], expected[::-1],
                               atol=1e-5)


def test_broken_files_in_the_middle_become_error_rows(spread_predictor, studies, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.png"
    data = studies[0].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    missing = tmp_path / "gone.png"
    paths = [studies[0], studies[1], truncated, studies[2], empty, studies[3], missing, studies[4]]
    results = list(spread_predictor.score_files(paths))
    assert [r.path for r in results] == paths
    errors = {r.path.name: r.error for r in results if r.error}
    assert set(errors) == {"cut.png", "empty.png", "gone.png"}
    assert "truncated PNG" in errors["cut.png"]
    assert "empty file" in errors["empty.png"]
    assert "File not found" in errors["gone.png"]
    good = [r for r in results if r.error is None]
    assert all(r.prediction is not None for r in good)
    np.testing.assert_allclose([r.prediction.probability for r in good],
                               _one_by_one(spread_predictor, studies[:5]), atol=1e-5)


def test_unexpected_decoder_exception_is_contained(spread_predictor, studies, monkeypatch):
    real = inference.load_xray

    def flaky(path, **kwargs):
        if path == studies[1]:
            raise RuntimeError("decoder bug")
        return real(path, **kwargs)

    monkeypatch.setattr(inference, "load_xray", flaky)
    results = list(spread_predictor.score_files(studies[:3]))
    assert results[1].error == "s1.png: cannot read (decoder bug)"
    assert results[0].prediction and results[2].prediction


def test_heatmaps_come_with_the_images(tiny_predictor, studies):
    results = list(tiny_predictor.score_files(studies[:5], heatmaps=True))
    for item in results:
        assert item.image is not None
        assert item.prediction.heatmap.shape == item.image.pixels.shape
        assert item.prediction.heatmap.min() >= 0.0 and item.prediction.heatmap.max() <= 1.0


def test_cancel_stops_early(tiny_predictor, studies):
    seen = []
    results = tiny_predictor.score_files(studies * 3, cancelled=lambda: bool(seen))
    for item in results:
        seen.append(item)
    assert len(seen) == tiny_predictor.batch_size < len(studies) * 3
    never = list(tiny_predictor.score_files(studies, cancelled=lambda: True))
    assert never == []
