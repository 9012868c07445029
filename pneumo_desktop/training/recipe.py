"""Which layers learn when a bundle is fine-tuned (`TrainConfig.trainable`,
`freeze_batch_norm`): the recipe of `train --init-from` and of the wizard's fine-tune path."""

from __future__ import annotations

import numpy as np

from pneumo_desktop.errors import PneumoError
from pneumo_desktop.model.architectures import LOGIT_LAYER
from pneumo_desktop.training.config import TrainConfig

TRAINABLE_SCOPES = ("head", "top", "all")


def leaves(model) -> list:
    """Every layer of `model` in order, looking inside nested models (ensemble members)."""
    out = []
    for layer in model.layers:
        if getattr(layer, "layers", None):
            out.extend(leaves(layer))
        else:
            out.append(layer)
    return out


def _is_batch_norm(layer) -> bool:
    return type(layer).__name__ == "BatchNormalization"


def apply_recipe(model, config: TrainConfig) -> dict[str, int]:
    """Set which layers learn when fine-tuning (see the module's docstring); returns counts."""
    if config.trainable not in TRAINABLE_SCOPES:
        raise PneumoError(f"trainable must be one of {', '.join(TRAINABLE_SCOPES)}, "
                          f"not {config.trainable!r}")
    model.trainable = True
    containers = [model] + [layer for layer in model.layers if getattr(layer, "layers", None)]
    chosen: set[int] = set()
    for container in containers:
        for layer in container.layers:
            if getattr(layer, "layers", None):
                continue
            layer.trainable = config.trainable == "all"
        if config.trainable == "top":  # the last convolution of this backbone and after it
            own = [layer for layer in container.layers if not getattr(layer, "layers", None)]
            weighted = [i for i, layer in enumerate(own) if layer.weights
                        and not _is_batch_norm(layer) and layer.name != LOGIT_LAYER]
            if weighted:
                chosen.update(id(layer) for layer in own[weighted[-1]:]
                              if layer.name != LOGIT_LAYER)
    for layer in leaves(model):
        if id(layer) in chosen or layer.name == LOGIT_LAYER:
            layer.trainable = True
        if config.freeze_batch_norm and _is_batch_norm(layer):
            layer.trainable = False  # Keras 3: also runs it in inference mode
    every = leaves(model)
    return {"layers": len(every), "trainable_layers": sum(
        bool(layer.trainable and layer.weights) for layer in every),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights))}


def all_trainable(model) -> None:
    for layer in leaves(model):
        layer.trainable = True
