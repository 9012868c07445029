"""The training input pipeline: batches from the in-memory `ImageCache`, augmented in NumPy and
OpenCV, as a `keras.utils.PyDataset`, so any Keras backend (TensorFlow, JAX) trains on it.

Batch `i` of epoch `e` is fixed by `(seed, e, i)`: the epoch's shuffle comes from
`default_rng([seed, e])`, the batch's augmentation from `default_rng([seed, e, i])`, so a run is
reproducible whatever order the batches are made in (Keras may make a few ahead, or in threads).
The epoch advances in `on_epoch_end`; `EpochFollower`, a Keras callback, sets it to Keras's own
epoch number before each epoch's first batch is asked for (TensorFlow's trainer also calls
`on_epoch_end` once after reading two batches to learn their shapes), so every backend draws the
same batches.
"""

from __future__ import annotations

import numpy as np

from pneumo_desktop.evaluation.datasets import ImageCache
from pneumo_desktop.model.backend import keras_module
from pneumo_desktop.training.augmentation import Augmenter
from pneumo_desktop.training.config import TrainConfig

keras = keras_module()
AUGMENT_THREADS = 2  # batches made ahead in threads while the model trains (OpenCV and NumPy
# release the GIL); the batches are the same whatever thread makes them


class ImageBatches(keras.utils.PyDataset):
    """(images (B, S, S, 1) float32 0..255, labels (B,) float32) batches of `cache`.
    `training`: shuffled each epoch and augmented by `augmenter` (None: as they are);
    `max_batches`: at most this many batches an epoch (0: all)."""

    def __init__(self, cache: ImageCache, batch_size: int, training: bool = False,
                 augmenter: Augmenter | None = None, seed: int = 0, max_batches: int = 0,
                 **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = cache.images, cache.labels.astype(np.float32)
        self.batch_size, self.training, self.augmenter = batch_size, training, augmenter
        self.seed, self.epoch = seed, 0
        batches = int(np.ceil(len(self.images) / batch_size))
        self.batches = min(batches, max_batches) if max_batches else batches
        self._order_epoch, self._order = -1, np.arange(len(self.images))

    def __len__(self) -> int:
        return self.batches

    def order(self, epoch: int) -> np.ndarray:
        """The image order of `epoch`: a permutation when training, else as cached."""
        if not self.training:
            return np.arange(len(self.images))
        if self._order_epoch != epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
            self._order_epoch = epoch
        return self._order

    def batch(self, index: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `index` of `epoch` (see the module's docstring)."""
        if not 0 <= index < self.batches:
            raise IndexError(f"batch {index} of {self.batches}")
        take = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.images[take]
        if self.training and self.augmenter is not None:
            x = self.augmenter(images, np.random.default_rng([self.seed, epoch, index]))
        else:
            x = images.astype(np.float32)
        return x[..., None], self.labels[take]

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch(index, self.epoch)

    def on_epoch_end(self) -> None:
        self.epoch += 1


class EpochFollower(keras.callbacks.Callback):
    """Keeps `batches.epoch` equal to the epoch Keras is about to train."""

    def __init__(self, batches: ImageBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.batches.epoch = epoch


def training_batches(cache: ImageCache, config: TrainConfig) -> ImageBatches:
    """The shuffled, augmented training batches of a run (`config.augment`, its strength,
    border masking and marks; seeded by `init_seed`, else `seed`)."""
    augmenter = Augmenter(config.image_size, config.augment_strength, config.border_masking,
                          config.burned_in_marks) if config.augment else None
    seed = config.seed if config.init_seed is None else config.init_seed
    return ImageBatches(cache, config.batch_size, True, augmenter, seed,
                        config.max_steps_per_epoch, workers=AUGMENT_THREADS)


def evaluation_batches(cache: ImageCache, batch_size: int) -> ImageBatches:
    """The batches of `cache` in order, as they are (validation)."""
    return ImageBatches(cache, batch_size)
