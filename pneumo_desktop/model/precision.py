"""Mixed precision for training on a GPU, float32 everywhere else.

On a GPU, training computes in float16 (tensor cores, half the activation memory) with float32
weights, logits and loss (`mixed_float16`, with dynamic loss scaling). On a CPU, float16 is
slower and no more exact, so it stays float32. Bundles are always saved in float32: the model is
rebuilt with float32 layers and the same weights after training, so a clinic's CPU scores a
GPU-trained model as it scores any other.
"""

from __future__ import annotations

from pneumo_desktop.errors import PneumoError

FLOAT32 = "float32"
MIXED = "mixed_float16"
CHOICES = ("auto", FLOAT32, MIXED)


def training_policy(choice: str, device: str) -> str:
    """The dtype policy for a training run: `choice` "auto" means mixed on a GPU."""
    if choice not in CHOICES:
        raise PneumoError(f"Precision {choice!r} must be one of {', '.join(CHOICES)}")
    if choice == "auto":
        return MIXED if device.startswith("GPU") else FLOAT32
    return choice


def with_policy(model, policy: str):
    """A copy of `model` computing in `policy`, with the same weights. The inputs, the
    per-image standardisation (sums of squared 0-255 pixels overflow float16's 65 504), the
    logit and the output stay float32 (logits, sigmoid and loss in full precision)."""
    from pneumo_desktop.model.architectures import LOGIT_LAYER, OUTPUT_LAYER
    from pneumo_desktop.model.backend import keras_module
    from pneumo_desktop.model.layers import PerImageStandardization

    keras = keras_module()
    keep = {LOGIT_LAYER, OUTPUT_LAYER}

    def clone(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            full = layer.name in keep or isinstance(layer, PerImageStandardization)
            config["dtype"] = FLOAT32 if full else policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device out-of-memory error (TensorFlow's ResourceExhaustedError, XLA's
    RESOURCE_EXHAUSTED)."""
    text = f"{type(exc).__name__} {exc}"
    return ("ResourceExhausted" in text or "RESOURCE_EXHAUSTED" in text
            or "out of memory" in text.lower())


def out_of_memory_message(device: str, batch_size: int, image_size: int) -> str:
    return (f"The {device} ran out of memory while training (batch size {batch_size}, images "
            f"{image_size} px). Lower the batch size (e.g. to {max(1, batch_size // 2)}) or the "
            f"image size, or close other programs using the GPU, then train again. Nothing was "
            f"saved; the app and its models are unaffected.")
