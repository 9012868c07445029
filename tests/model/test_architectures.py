"""Every selectable architecture builds offline with the exact-CAM head."""

import numpy as np
import pytest

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.model.architectures import (
    ARCHITECTURES,
    FEATURES_LAYER,
    LOGIT_LAYER,
    build_model,
    parse_architecture,
)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_builds_with_gap_dense_head(arch):
    model = build_model(arch, 64)
    assert model.input_shape == (None, 64, 64, 1)
    assert model.get_layer(FEATURES_LAYER).input.shape[-1] == \
        model.get_layer(LOGIT_LAYER).get_weights()[0].shape[0]
    out = model.predict(np.full((1, 64, 64, 1), 128.0, np.float32), verbose=0)
    assert out.shape == (1, 1) and 0.0 <= float(out[0, 0]) <= 1.0


@pytest.mark.parametrize("arch, cells", [("compact_cnn", 7), ("compact_cnn_fine", 14),
                                         ("compact_cnn_fine_x2", 14),
                                         ("compact_cnn_fine_thorax", 14)])
def test_feature_map_size_sets_the_heat_map_resolution(arch, cells):
    model = build_model(arch, 224)
    assert tuple(model.get_layer(FEATURES_LAYER).input.shape[1:3]) == (cells, cells)


def test_thorax_prior_weights_each_cell_by_its_share_inside_the_thorax_box():
    from pneumo_desktop.imaging.regions import thorax_box
    from pneumo_desktop.model.layers import thorax_cell_weights

    weights = thorax_cell_weights(14, 14)
    assert weights[0].max() == 0.0  # row 0: 0-7 % of the height, all in the top band
    assert np.allclose(weights[1, 7], (2 / 14 - 0.12) * 14)  # row 1 is 32 % inside
    assert np.allclose(weights[4:10, 4:10], 1.0)
    # the weights are the box's pixels pooled into cells
    box = thorax_box((224, 224)).reshape(14, 16, 14, 16).mean(axis=(1, 3))
    assert np.allclose(weights, box, atol=1 / 16)


def test_thorax_prior_model_has_no_evidence_outside_the_box_and_reloads(tmp_path):
    import keras

    from pneumo_desktop.model.heatmaps import class_activation_maps
    from pneumo_desktop.model.layers import thorax_cell_weights

    model = build_model("compact_cnn_fine_thorax_x2", 224)
    x = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 1)).astype("float32")
    probe = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).input)
    features = probe.predict(x, verbose=0)
    assert features.shape[1:3] == (14, 14)
    outside = thorax_cell_weights(14, 14) == 0
    assert np.abs(features[:, outside]).max() == 0.0
    cams = class_activation_maps(features, model.get_layer(LOGIT_LAYER).get_weights()[0])
    assert cams[:, outside].max() == 0.0
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert np.allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_ensemble_names_and_unknown_names():
    assert parse_architecture("compact_cnn") == ("compact_cnn", 1)
    assert parse_architecture("compact_cnn_x3") == ("compact_cnn", 3)
    for bad in ("nope", "compact_cnn_x0", "compact_cnn_x9"):
        with pytest.raises(PneumoError, match="Unknown architecture"):
            parse_architecture(bad)
