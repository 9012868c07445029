"""The training input pipeline (NumPy/OpenCV augmentation, border masking, burned-in marks,
seeded batches) and the fixed shifted split: shape, range, which pixels change, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from pneumo_desktop.imaging.site_shift import (
    SHIFTS,
    SPLIT_SHIFTS,
    shifted,
    shifted_split,
    split_shifts,
)
from pneumo_desktop.imaging.synthetic import synthetic_chest


def rng(*seed: int) -> np.random.Generator:
    return np.random.default_rng(list(seed))


def test_border_masks_cover_bands_at_the_edges_only():
    from pneumo_desktop.training.augmentation import MAX_BAND, border_masks

    masks = border_masks((64, 100, 100), 1.0, rng(1, 2))
    assert masks.shape == (64, 100, 100) and set(np.unique(masks)) <= {0.0, 1.0}
    centre = masks[:, 16:84, 16:84]  # bands are at most 15 % wide
    assert centre.min() == 1.0
    # every side masked (bands under half a pixel wide leave the edge row as it was)
    assert (masks[:, 0, 50] == 0).mean() > 0.8 and (masks[:, 50, 99] == 0).mean() > 0.8
    widths = (masks[:, :, 50] == 0).sum(axis=1)  # masked rows at the centre column
    assert widths.max() <= 2 * MAX_BAND * 100 + 2
    assert border_masks((8, 50, 50), 0.0, rng(1, 2)).min() == 1.0


def test_border_masks_are_deterministic_with_a_seed_and_vary_without():
    from pneumo_desktop.training.augmentation import border_masks

    a = border_masks((16, 64, 64), 0.5, rng(7, 7))
    assert np.array_equal(a, border_masks((16, 64, 64), 0.5, rng(7, 7)))
    assert not np.array_equal(a, border_masks((16, 64, 64), 0.5, rng(7, 8)))
    share = 1 - a.mean()
    assert 0.02 < share < 0.3  # half the sides, bands of 0-15 %


def test_masked_bands_take_the_image_mean_and_the_rest_is_untouched():
    from pneumo_desktop.training.augmentation import border_masks, mask_borders_randomly

    x = np.random.default_rng(0).uniform(0, 255, (4, 80, 80)).astype("float32")
    y = mask_borders_randomly(x, 1.0, rng(3, 4))
    keep = border_masks((4, 80, 80), 1.0, rng(3, 4)).astype(bool)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    assert np.array_equal(y[keep], x[keep])
    for i in range(4):
        assert np.allclose(y[i][~keep[i]], x[i].mean(), atol=1e-3)


def test_mark_masks_lie_in_the_top_or_bottom_band_one_bar_per_image():
    from pneumo_desktop.training.augmentation import MARK_BAND, mark_masks

    masks = mark_masks((200, 100, 100), 1.0, rng(1, 2))
    assert masks.shape == (200, 100, 100) and set(np.unique(masks)) <= {0.0, 1.0}
    band = round(MARK_BAND * 100)
    assert masks[:, band:100 - band].max() == 0.0  # nothing outside the two bands
    rows, cols = masks.max(axis=2), masks.max(axis=1)
    heights, widths = rows.sum(axis=1), cols.sum(axis=1)
    assert heights.min() >= 1 and heights.max() <= 7  # 2-6 % of 100 px, pixel rounding
    assert widths.min() >= 2 and widths.max() <= 26
    assert 0.3 < (rows[:, :band].sum(axis=1) > 0).mean() < 0.7  # top and bottom alike
    assert np.array_equal(masks.sum(axis=(1, 2)), heights * widths)  # one bar
    assert mark_masks((8, 50, 50), 0.0, rng(1, 2)).max() == 0.0


def test_burned_in_marks_are_white_or_black_deterministic_with_a_seed():
    from pneumo_desktop.training.augmentation import burn_in_marks, mark_masks

    x = np.random.default_rng(0).uniform(1, 254, (32, 80, 80)).astype("float32")
    y = burn_in_marks(x, 1.0, rng(5, 6))
    marked = mark_masks((32, 80, 80), 1.0, rng(5, 6)).astype(bool)
    assert y.shape == x.shape and np.array_equal(y[~marked], x[~marked])
    assert set(np.unique(y[marked])) == {0.0, 255.0}
    assert (y[marked] == 255).mean() > 0.6  # white four times in five
    assert np.array_equal(y, burn_in_marks(x, 1.0, rng(5, 6)))
    assert not np.array_equal(y, burn_in_marks(x, 1.0, rng(5, 7)))
    half = burn_in_marks(x, 0.5, rng(1, 1))
    assert 0.2 < (half != x).any(axis=(1, 2)).mean() < 0.8


def test_affine_warp_rotates_shifts_and_zooms_about_the_centre():
    from pneumo_desktop.training.augmentation import affine_warp

    image = np.zeros((41, 41), np.float32)
    image[20, 30] = 1.0  # 10 px right of the centre
    assert np.allclose(affine_warp(image, 0.0, (0.0, 0.0), 1.0), image)
    shifted = affine_warp(image, 0.0, (3.0, -4.0), 1.0)  # 3 down, 4 left
    assert np.unravel_index(shifted.argmax(), shifted.shape) == (23, 26)
    turned = affine_warp(image, np.pi / 2, (0.0, 0.0), 1.0)
    assert np.unravel_index(turned.argmax(), turned.shape) in {(10, 20), (30, 20)}
    zoomed_out = affine_warp(image, 0.0, (0.0, 0.0), 2.0)  # the film looks half as big
    assert np.unravel_index(zoomed_out.argmax(), zoomed_out.shape) == (20, 25)
    assert affine_warp(np.ones((20, 20), np.float32), 0.0, (0.0, 10.0), 1.0)[:, :9].max() == 0


def test_augmenter_keeps_shape_and_range_and_is_fixed_by_its_seed():
    from pneumo_desktop.training.augmentation import Augmenter

    x = np.stack([synthetic_chest(64, seed=i) for i in range(8)])
    augment = Augmenter(64, 1.0, border_masking=0.5, marks=0.5)
    images = augment(x, rng(0))
    assert images.shape == (8, 64, 64) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    assert np.array_equal(images, augment(x, rng(0)))
    assert not np.array_equal(images, augment(x, rng(1)))
    # strength 0: no geometric change at all, and less change than at strength 1 (only the
    # batch-wide resampling remains)
    weak = Augmenter(64, 0.0)
    assert np.allclose(weak.geometric(x, rng(0)), x, atol=1e-3)
    change = np.abs(images - x).mean(axis=(1, 2))
    still = np.abs(weak(x, rng(0)) - x).mean(axis=(1, 2))
    assert change.min() > still.max()


def test_augmenter_draws_match_the_stated_ranges():
    """Gamma: the centre of many augmented flat grey images spreads as exp(U(-0.4, 0.4))
    says, and never beyond (photometric only)."""
    from pneumo_desktop.training.augmentation import Augmenter

    flat = np.full((400, 32, 32), 128.0, np.float32)
    out = Augmenter(32).photometric(flat.copy(), rng(3))
    means = out[:, 8:24, 8:24].mean(axis=(1, 2)) / 255  # away from the blur's zero padding
    base = 128 / 255
    low, high = base ** np.exp(0.4), base ** np.exp(-0.4)
    assert low - 0.02 < means.min() < low + 0.05 and high - 0.05 < means.max() < high + 0.02
    weak = Augmenter(32, strength=0.0).photometric(flat.copy(), rng(3))
    assert np.allclose(weak, 128.0, atol=0.6)  # strength 0: only the batch-wide resampling


def test_batches_cover_every_image_once_per_epoch_in_a_new_order():
    from pneumo_desktop.evaluation.datasets import ImageCache
    from pneumo_desktop.training.batches import ImageBatches

    images = np.arange(50, dtype=np.uint8)[:, None, None] * np.ones((1, 8, 8), np.uint8)
    cache = ImageCache(images, (np.arange(50) % 2).astype(np.float32), [None] * 50, [])
    batches = ImageBatches(cache, 16, training=True, seed=1)
    assert len(batches) == 4
    first = [batches.batch(i, 0) for i in range(4)]
    assert [len(y) for _x, y in first] == [16, 16, 16, 2]
    seen = np.concatenate([x[:, 0, 0, 0] for x, _y in first]).astype(int)
    assert sorted(seen) == list(range(50)) and list(seen) != list(range(50))
    labels = np.concatenate([y for _x, y in first])
    assert np.array_equal(labels, seen % 2)  # labels travel with their images
    second = np.concatenate([batches.batch(i, 1)[0][:, 0, 0, 0] for i in range(4)])
    assert sorted(second.astype(int)) == list(range(50)) and not np.array_equal(second, seen)
    batches.on_epoch_end()
    assert np.array_equal(batches[0][0], batches.batch(0, 1)[0])
    plain = ImageBatches(cache, 16, max_batches=2)
    assert len(plain) == 2 and np.array_equal(plain[1][0][:, 0, 0, 0], np.arange(16, 32))
    with pytest.raises(IndexError):
        plain[2]


def test_training_batches_are_augmented_shaped_and_fixed_by_the_seed():
    from pneumo_desktop.evaluation.datasets import ImageCache
    from pneumo_desktop.training.batches import evaluation_batches, training_batches
    from pneumo_desktop.training.config import TrainConfig

    images = np.stack([synthetic_chest(48, seed=i) for i in range(20)])
    cache = ImageCache(images, np.zeros(20, np.float32), [None] * 20, [])
    config = TrainConfig(image_size=48, batch_size=8, border_masking=0.5, burned_in_marks=0.5)
    x, y = training_batches(cache, config)[0]
    assert x.shape == (8, 48, 48, 1) and x.dtype == np.float32 and y.shape == (8,)
    assert x.min() >= 0 and x.max() <= 255
    again = training_batches(cache, config)[0][0]
    assert np.array_equal(x, again)
    other = training_batches(cache, TrainConfig(**{**config.__dict__, "init_seed": 7}))[0][0]
    assert not np.array_equal(x, other)
    val_x, _ = evaluation_batches(cache, 8)[2]
    assert val_x.shape == (4, 48, 48, 1) and np.array_equal(val_x[..., 0], images[16:])
    plain = training_batches(cache, TrainConfig(**{**config.__dict__, "augment": False}))
    assert set(map(tuple, plain[0][0][:, :, :, 0].reshape(8, -1).astype(int))) <= set(
        map(tuple, images.reshape(20, -1).astype(int)))


@pytest.mark.parametrize("name", sorted(set(SHIFTS) | set(SPLIT_SHIFTS)))
def test_each_shift_gives_a_grey_uint8_film(name):
    film = synthetic_chest(200, seed=1)
    out = shifted(film, name)
    assert out.dtype == np.uint8 and out.ndim == 2
    if name == "as is":
        assert np.array_equal(out, film)
    else:
        assert out.shape != film.shape or not np.array_equal(out, film)
    if name == "crop 85 %":
        assert out.shape == (170, 170)
    elif name == "black border 8 %":
        assert out.shape == (232, 232) and out[0, 0] == 0
    elif name not in ("black border 8 %", "crop 85 %"):
        assert out.shape == film.shape


def test_unknown_shift_is_an_error():
    with pytest.raises(ValueError, match="unknown shift"):
        shifted(synthetic_chest(64), "sepia")


def test_shifted_split_is_fixed_by_its_seed():
    films = [synthetic_chest(96, seed=i) for i in range(20)]
    pairs = split_shifts(20, seed=0)
    assert pairs == split_shifts(20, seed=0) and pairs != split_shifts(20, seed=1)
    assert all(a != b and {a, b} <= set(SPLIT_SHIFTS) for a, b in pairs)
    first, again = shifted_split(films, seed=0), shifted_split(films, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert sum(not np.array_equal(a, f) for a, f in zip(first, films, strict=True)
               if a.shape == f.shape) >= 15


def test_keras_fit_draws_epochs_0_1_2_with_the_epoch_follower():
    import keras

    from pneumo_desktop.evaluation.datasets import ImageCache
    from pneumo_desktop.training.batches import EpochFollower, ImageBatches

    seen: list[tuple[int, int]] = []

    class Recorded(ImageBatches):
        def __getitem__(self, index):
            seen.append((self.epoch, index))
            return super().__getitem__(index)

    images = np.stack([synthetic_chest(32, seed=i) for i in range(12)])
    batches = Recorded(ImageCache(images, (np.arange(12) % 2).astype(np.float32), [None] * 12,
                                  []), 4, training=True, seed=3, workers=2)
    model = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(batches, epochs=3, verbose=0, shuffle=False, callbacks=[EpochFollower(batches)])
    assert sorted({epoch for epoch, _ in seen}) == [0, 1, 2]
    for epoch in range(3):  # every batch of every epoch, made in two threads
        assert {i for e, i in seen if e == epoch} == {0, 1, 2}
