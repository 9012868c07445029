"""Border masking and burned-in marks (training augmentation) and the fixed shifted split:
shape, range, which pixels change, determinism with a seed."""

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


def test_border_masks_cover_bands_at_the_edges_only():
    from pneumo_desktop.training.augmentation import MAX_BAND, border_masks

    masks = border_masks((64, 100, 100, 1), 1.0, seed=(1, 2)).numpy()
    assert masks.shape == (64, 100, 100, 1) and set(np.unique(masks)) <= {0.0, 1.0}
    centre = masks[:, 16:84, 16:84]  # bands are at most 15 % wide
    assert centre.min() == 1.0
    # every side masked (bands under half a pixel wide leave the edge row as it was)
    assert (masks[:, 0, 50] == 0).mean() > 0.8 and (masks[:, 50, 99] == 0).mean() > 0.8
    widths = (masks[:, :, 50, 0] == 0).sum(axis=1)  # masked rows at the centre column
    assert widths.max() <= 2 * MAX_BAND * 100 + 2
    assert border_masks((8, 50, 50, 1), 0.0, seed=(1, 2)).numpy().min() == 1.0


def test_border_masks_are_deterministic_with_a_seed_and_vary_without():
    from pneumo_desktop.training.augmentation import border_masks

    a = border_masks((16, 64, 64, 1), 0.5, seed=(7, 7)).numpy()
    assert np.array_equal(a, border_masks((16, 64, 64, 1), 0.5, seed=(7, 7)).numpy())
    assert not np.array_equal(a, border_masks((16, 64, 64, 1), 0.5, seed=(7, 8)).numpy())
    share = 1 - a.mean()
    assert 0.02 < share < 0.3  # half the sides, bands of 0-15 %


def test_masked_bands_take_the_image_mean_and_the_rest_is_untouched():
    import tensorflow as tf

    from pneumo_desktop.training.augmentation import border_masks, mask_borders_randomly

    x = np.random.default_rng(0).uniform(0, 255, (4, 80, 80, 1)).astype("float32")
    y = mask_borders_randomly(tf.constant(x), 1.0, seed=(3, 4)).numpy()
    keep = border_masks((4, 80, 80, 1), 1.0, seed=(3, 4)).numpy().astype(bool)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    assert np.array_equal(y[keep], x[keep])
    for i in range(4):
        assert np.allclose(y[i][~keep[i]], x[i].mean(), atol=1e-3)


def test_augmenter_with_border_masking_keeps_shape_and_range():
    import tensorflow as tf

    from pneumo_desktop.training.augmentation import make_augmenter

    x = tf.constant(np.stack([synthetic_chest(64, seed=i) for i in range(8)])[..., None]
                    .astype("float32"))
    images, labels = make_augmenter(64, 1.0, border_masking=0.5, marks=0.5)(x, tf.zeros(8))
    assert images.shape == (8, 64, 64, 1) and labels.shape == (8,)
    assert float(tf.reduce_min(images)) >= 0 and float(tf.reduce_max(images)) <= 255


def test_mark_masks_lie_in_the_top_or_bottom_band_one_bar_per_image():
    from pneumo_desktop.training.augmentation import MARK_BAND, mark_masks

    masks = mark_masks((200, 100, 100, 1), 1.0, seed=(1, 2)).numpy()
    assert masks.shape == (200, 100, 100, 1) and set(np.unique(masks)) <= {0.0, 1.0}
    band = round(MARK_BAND * 100)
    assert masks[:, band:100 - band].max() == 0.0  # nothing outside the two bands
    rows, cols = masks[..., 0].max(axis=2), masks[..., 0].max(axis=1)
    heights, widths = rows.sum(axis=1), cols.sum(axis=1)
    assert heights.min() >= 1 and heights.max() <= 7  # 2-6 % of 100 px, pixel rounding
    assert widths.min() >= 2 and widths.max() <= 26
    assert 0.3 < (rows[:, :band].sum(axis=1) > 0).mean() < 0.7  # top and bottom alike
    assert np.array_equal(masks[..., 0].sum(axis=(1, 2)), heights * widths)  # one bar
    assert mark_masks((8, 50, 50, 1), 0.0, seed=(1, 2)).numpy().max() == 0.0


def test_burned_in_marks_are_white_or_black_deterministic_with_a_seed():
    import tensorflow as tf

    from pneumo_desktop.training.augmentation import burn_in_marks, mark_masks

    x = np.random.default_rng(0).uniform(1, 254, (32, 80, 80, 1)).astype("float32")
    y = burn_in_marks(tf.constant(x), 1.0, seed=(5, 6)).numpy()
    marked = mark_masks((32, 80, 80, 1), 1.0, seed=(5, 6)).numpy().astype(bool)
    assert y.shape == x.shape and np.array_equal(y[~marked], x[~marked])
    assert set(np.unique(y[marked])) == {0.0, 255.0}
    assert np.array_equal(y, burn_in_marks(tf.constant(x), 1.0, seed=(5, 6)).numpy())
    assert not np.array_equal(y, burn_in_marks(tf.constant(x), 1.0, seed=(5, 7)).numpy())
    half = burn_in_marks(tf.constant(x), 0.5, seed=(1, 1)).numpy()
    assert 0.2 < (half != x).any(axis=(1, 2, 3)).mean() < 0.8


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
