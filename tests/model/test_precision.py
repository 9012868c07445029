"""Mixed precision: chosen for GPUs only, logits in float32, bundles saved in float32 and
scoring like the mixed-precision model within 1e-3; a device out-of-memory error is explained."""

from __future__ import annotations

import numpy as np
import pytest

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.model import precision
from pneumo_desktop.model.architectures import LOGIT_LAYER, OUTPUT_LAYER, build_model
from pneumo_desktop.model.bundle import read_bundle
from pneumo_desktop.training.config import TrainConfig
from pneumo_desktop.training.train import save_result, train
from tests.training.test_training import FAST, Recorder, synthetic_data  # noqa: F401  (fixture)


def test_policy_is_mixed_on_a_gpu_only():
    assert precision.training_policy("auto", "GPU (NVIDIA H100)") == precision.MIXED
    assert precision.training_policy("auto", "CPU") == precision.FLOAT32
    assert precision.training_policy("float32", "GPU (x)") == precision.FLOAT32
    assert precision.training_policy("mixed_float16", "CPU") == precision.MIXED
    with pytest.raises(PneumoError, match="must be one of"):
        precision.training_policy("bfloat8", "CPU")


@pytest.mark.parametrize("arch", ["custom_cnn", "compact_cnn"])
def test_mixed_copy_keeps_weights_and_float32_logits(arch):
    model = build_model(arch, 64)
    mixed = precision.with_policy(model, precision.MIXED)
    for layer in mixed.layers:
        if layer.name in (LOGIT_LAYER, OUTPUT_LAYER, "standardize"):
            assert layer.dtype_policy.name == "float32"
        elif layer.weights:
            assert layer.dtype_policy.name == precision.MIXED
            assert all(w.dtype == "float32" for w in layer.weights)  # float32 master weights
    x = np.random.default_rng(0).uniform(0, 255, (4, 64, 64, 1)).astype("float32")
    p32 = np.asarray(model.predict_on_batch(x)).ravel()
    p16 = np.asarray(mixed.predict_on_batch(x)).ravel()
    assert p16.dtype == np.float32
    back = precision.with_policy(mixed, precision.FLOAT32)
    assert all(layer.dtype_policy.name == "float32" for layer in back.layers)
    assert np.allclose(np.asarray(back.predict_on_batch(x)).ravel(), p32, atol=1e-6)
    assert np.max(np.abs(p16 - p32)) < 1e-3  # float16 compute, same weights


def test_mixed_training_saves_a_float32_bundle_that_agrees(synthetic_data, tmp_path):  # noqa: F811
    rec = Recorder()
    result = train(synthetic_data, TrainConfig(**FAST, precision="mixed_float16"), rec)
    assert any("(mixed_float16)" in m for m in rec.messages)
    assert result.card.training["precision"] == "mixed_float16"
    assert all(np.isfinite(b.loss) for b in rec.batches)
    bundle = read_bundle(save_result(result, tmp_path / "mixed").path)
    loaded = bundle.load_keras_model()
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    x = np.random.default_rng(1).uniform(0, 255, (8, 64, 64, 1)).astype("float32")
    p32 = np.asarray(loaded.predict_on_batch(x)).ravel()
    p16 = np.asarray(precision.with_policy(loaded, precision.MIXED).predict_on_batch(x)).ravel()
    assert np.max(np.abs(p16 - p32)) < 1e-3, "float16 and float32 scores disagree"


def test_out_of_memory_is_recognised_and_explained():
    class ResourceExhaustedError(Exception):
        pass

    assert precision.is_out_of_memory(ResourceExhaustedError("OOM when allocating tensor"))
    assert precision.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory"))
    assert not precision.is_out_of_memory(ValueError("bad shape"))
    text = precision.out_of_memory_message("GPU (NVIDIA T400)", 32, 224)
    assert "Lower the batch size (e.g. to 16)" in text and "Nothing was saved" in text
