"""Every selectable architecture builds offline with the exact-CAM head."""

import numpy as np
import pytest

from pneumo_desktop.core.architectures import (
    ARCHITECTURES,
    FEATURES_LAYER,
    LOGIT_LAYER,
    build_model,
    parse_architecture,
)
from pneumo_desktop.core.errors import PneumoError


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_architecture_builds_with_gap_dense_head(arch):
    model = build_model(arch, 64)
    assert model.input_shape == (None, 64, 64, 1)
    assert model.get_layer(FEATURES_LAYER).input.shape[-1] == \
        model.get_layer(LOGIT_LAYER).get_weights()[0].shape[0]
    out = model.predict(np.full((1, 64, 64, 1), 128.0, np.float32), verbose=0)
    assert out.shape == (1, 1) and 0.0 <= float(out[0, 0]) <= 1.0


@pytest.mark.parametrize("arch, cells", [("compact_cnn", 7), ("compact_cnn_fine", 14),
                                         ("compact_cnn_fine_x2", 14)])
def test_feature_map_size_sets_the_heat_map_resolution(arch, cells):
    model = build_model(arch, 224)
    assert tuple(model.get_layer(FEATURES_LAYER).input.shape[1:3]) == (cells, cells)


def test_ensemble_names_and_unknown_names():
    assert parse_architecture("compact_cnn") == ("compact_cnn", 1)
    assert parse_architecture("compact_cnn_x3") == ("compact_cnn", 3)
    for bad in ("nope", "compact_cnn_x0", "compact_cnn_x9"):
        with pytest.raises(PneumoError, match="Unknown architecture"):
            parse_architecture(bad)
