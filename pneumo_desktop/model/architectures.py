"""Network architectures, all ending in global-average-pooling -> dropout -> dense(1).

That head makes the class activation map an exact Grad-CAM (see `heatmaps`). All weights start
random (`weights=None`): nothing is ever downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable

FEATURES_LAYER = "gap"  # its input is the last convolutional feature map
LOGIT_LAYER = "logit"
OUTPUT_LAYER = "probability"


def _custom_cnn(keras, x):
    """The seeds' small CNN: three conv 5x5 x32 + max-pool blocks, then 'dense 128' as 1x1 conv."""
    for i in range(3):
        x = keras.layers.Conv2D(32, 5, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    return keras.layers.Conv2D(128, 1, activation="relu", name="dense128")(x)


def _compact_cnn(keras, x, fine: bool = False):
    """A fast CPU network (~0.25 GMAC at 224 px): strided stem, three conv-BN-ReLU + pool
    blocks, then depthwise-separable blocks; its last feature map is 1/32 of the input (7 x 7
    at 224 px). `fine`: the last pooling is replaced by a dilation of the last block, so the
    map is 1/16 (14 x 14, a heat map twice as sharp) with the same receptive field."""
    def conv(x, filters, name, strides=1, separable=False, dilation=1):
        layer = keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
        x = layer(filters, 3, strides=strides, padding="same", use_bias=False,
                  dilation_rate=dilation, name=name)(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)

    x = conv(x, 32, "stem", strides=2)
    for i, filters in enumerate((32, 64, 128)):
        x = conv(x, filters, f"block{i + 1}")
        x = keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    x = conv(x, 192, "sep1", separable=True)
    x = conv(x, 192, "sep2", separable=True)
    if not fine:
        x = keras.layers.MaxPooling2D(2, name="sep_pool")(x)
    return conv(x, 256, "sep3", separable=True, dilation=2 if fine else 1)


def _compact_cnn_fine(keras, x):
    """`compact_cnn` with a 1/16 feature map (14 x 14 at 224 px): a sharper heat map."""
    return _compact_cnn(keras, x, fine=True)


def _compact_cnn_fine_thorax(keras, x):
    """`compact_cnn_fine` whose feature map is weighted by each cell's share inside the thorax
    box (`layers.ThoraxPrior`): the score and the heat map leave out the bands where no lung
    lies. (Border masking in training keeps the remaining cells from reading those bands
    through their receptive fields; `evaluation.shortcuts` measures it.)"""
    from pneumo_desktop.model.layers import ThoraxPrior

    return ThoraxPrior(name="thorax_prior")(_compact_cnn(keras, x, fine=True))


def _application(factory_name: str, **extra) -> Callable:
    def build(keras, x):
        factory = getattr(keras.applications, factory_name)
        backbone = factory(include_top=False, weights=None, input_shape=tuple(x.shape[1:]),
                           **extra)
        return backbone(x)

    build.__doc__ = f"keras.applications.{factory_name} backbone, random init."
    return build


ARCHITECTURES: dict[str, Callable] = {
    "custom_cnn": _custom_cnn,
    "compact_cnn": _compact_cnn,
    "compact_cnn_fine": _compact_cnn_fine,
    "compact_cnn_fine_thorax": _compact_cnn_fine_thorax,
    "mobilenet_v2": _application("MobileNetV2"),
    "mobilenet_v2_050": _application("MobileNetV2", alpha=0.5),
    "mobilenet": _application("MobileNet"),
    "efficientnet_b0": _application("EfficientNetB0"),
    "resnet50": _application("ResNet50"),
    "resnet50_v2": _application("ResNet50V2"),
    "densenet121": _application("DenseNet121"),
    "vgg16": _application("VGG16"),
}


def parse_architecture(arch: str) -> tuple[str, int]:
    """'compact_cnn' -> ('compact_cnn', 1); 'compact_cnn_x3' -> ('compact_cnn', 3) (ensemble)."""
    from pneumo_desktop.errors import PneumoError

    base, members = arch, 1
    match = re.fullmatch(r"(.+)_x(\d+)", arch)
    if match:
        base, members = match.group(1), int(match.group(2))
    if base not in ARCHITECTURES or not 1 <= members <= 8:
        choices = ", ".join(ARCHITECTURES)
        raise PneumoError(f"Unknown architecture {arch!r}; choose one of {choices} "
                          "(or NAME_xK for an ensemble of K)")
    return base, members


def build_model(arch: str, image_size: int, dropout: float = 0.3):
    """A compiled-free Keras model: (N, S, S, 1) grayscale in 0..255 -> P(pneumonia).

    `NAME_xK` builds an ensemble: K feature extractors (nested models `member1`..`memberK`)
    whose feature maps are concatenated before the shared GAP -> dense head, so the ensemble's
    logit is a weighted sum of the members' and its CAM is still exact.
    """
    from pneumo_desktop.model.backend import keras_module

    base, members = parse_architecture(arch)
    keras = keras_module()
    from pneumo_desktop.model.layers import PerImageStandardization

    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = PerImageStandardization(name="standardize")(inputs)
    if members == 1:
        x = ARCHITECTURES[base](keras, x)
    else:
        branches = []
        for i in range(members):
            member_input = keras.Input(tuple(x.shape[1:]), name=f"member{i + 1}_input")
            member = keras.Model(member_input, ARCHITECTURES[base](keras, member_input),
                                 name=f"member{i + 1}")
            branches.append(member(x))
        x = keras.layers.Concatenate(name="member_features")(branches)
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(1, name=LOGIT_LAYER)(x)
    outputs = keras.layers.Activation("sigmoid", name=OUTPUT_LAYER, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=arch)


def merge_into_ensemble(models: list, arch: str, image_size: int):
    """One model whose logit is the mean of the members' logits (members: single models of
    architecture `arch`, trained separately). Its CAM is the mean of their CAMs."""
    import numpy as np

    ensemble = build_model(f"{arch}_x{len(models)}", image_size)
    kernels, biases = [], []
    for i, model in enumerate(models):
        target = ensemble.get_layer(f"member{i + 1}")
        for layer in target.layers:
            if layer.weights:
                layer.set_weights(_source_layer(model, layer.name).get_weights())
        kernel, bias = model.get_layer(LOGIT_LAYER).get_weights()
        kernels.append(kernel / len(models))
        biases.append(bias)
    ensemble.get_layer(LOGIT_LAYER).set_weights([np.concatenate(kernels), np.mean(biases, 0)])
    return ensemble


def _source_layer(model, name: str):
    """A layer of `model` by name, looking inside a nested backbone model too."""
    try:
        return model.get_layer(name)
    except ValueError:
        for layer in model.layers:
            if hasattr(layer, "get_layer"):
                try:
                    return layer.get_layer(name)
                except ValueError:
                    continue
        raise
