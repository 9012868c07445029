"""Network architectures, all ending in global-average-pooling -> dropout -> dense(1).

That head makes the class activation map an exact Grad-CAM (see `heatmaps`). All weights start
random (`weights=None`): nothing is ever downloaded.
"""

from __future__ import annotations

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


def _compact_cnn(keras, x):
    """Five conv-BN-ReLU blocks (32..256 channels), fast on a CPU."""
    for i, filters in enumerate((32, 64, 96, 128, 256)):
        for j in range(2 if i else 1):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                    name=f"block{i + 1}_conv{j + 1}")(x)
            x = keras.layers.BatchNormalization(name=f"block{i + 1}_bn{j + 1}")(x)
            x = keras.layers.ReLU(name=f"block{i + 1}_relu{j + 1}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    return x


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
    "mobilenet_v2": _application("MobileNetV2"),
    "mobilenet_v2_050": _application("MobileNetV2", alpha=0.5),
    "mobilenet": _application("MobileNet"),
    "efficientnet_b0": _application("EfficientNetB0", include_preprocessing=False),
    "resnet50": _application("ResNet50"),
    "resnet50_v2": _application("ResNet50V2"),
    "densenet121": _application("DenseNet121"),
    "vgg16": _application("VGG16"),
}


def build_model(arch: str, image_size: int, dropout: float = 0.3):
    """A compiled-free Keras model: (N, S, S, 1) grayscale in 0..255 -> P(pneumonia)."""
    from pneumo_desktop.core.backend import keras_module
    from pneumo_desktop.core.errors import PneumoError

    if arch not in ARCHITECTURES:
        raise PneumoError(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    keras = keras_module()
    from pneumo_desktop.core.layers import PerImageStandardization
    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = PerImageStandardization(name="standardize")(inputs)
    x = ARCHITECTURES[arch](keras, x)
    x = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(1, name=LOGIT_LAYER)(x)
    outputs = keras.layers.Activation("sigmoid", name=OUTPUT_LAYER, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=arch)
