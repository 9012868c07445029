"""Training-time augmentation as tf.data batch functions (geometric + photometric).

Horizontal flips are off: the heart is on the left. Photometric changes (gamma, contrast, blur,
sharpening, noise, resolution loss) imitate other detectors, exposures and resamplings, which
is what differs between clinics. Border masking fills random bands along the edges (where the
neck, shoulders, side markers and labels are, and no lung) with the image's mean grey, so they
carry no signal the model could learn instead of the lungs (issue 10's shortcut). Burned-in
marks paint random white or black bars in the top and bottom bands (where side markers, labels
and text sit on real films), with no relation to the class, so such marks cannot carry it either.
"""

from __future__ import annotations

MAX_BAND = 0.15  # border masking: a band is up to this fraction of the side
MARK_BAND = 0.15  # burned-in marks lie within this fraction of the top or bottom edge


def _pixel_centres(height, width):
    """Row and column centres of a (height, width) image as fractions of its sides, 0..1."""
    import tensorflow as tf

    return ((tf.range(height, dtype=tf.float32) + 0.5) / tf.cast(height, tf.float32),
            (tf.range(width, dtype=tf.float32) + 0.5) / tf.cast(width, tf.float32))


def border_masks(shape, probability: float, max_band: float = MAX_BAND, seed=None):
    """(B, S, S, 1) float masks, 1 where an image keeps its pixels: each of the four sides is
    masked with `probability`, over a band of uniform width up to `max_band` of the side."""
    import tensorflow as tf

    batch, height, width = shape[0], shape[1], shape[2]
    draws = (tf.random.uniform((batch, 8)) if seed is None else
             tf.random.stateless_uniform((batch, 8), seed=seed))  # seed: (int, int)
    on = tf.cast(draws[:, :4] < probability, tf.float32)
    widths = draws[:, 4:] * max_band * on  # top, bottom, left, right
    rows, cols = _pixel_centres(height, width)
    keep_rows = tf.cast((rows[None] >= widths[:, 0:1]) & (rows[None] <= 1 - widths[:, 1:2]),
                        tf.float32)
    keep_cols = tf.cast((cols[None] >= widths[:, 2:3]) & (cols[None] <= 1 - widths[:, 3:4]),
                        tf.float32)
    return (keep_rows[:, :, None] * keep_cols[:, None, :])[..., None]


def mask_borders_randomly(x, probability: float, max_band: float = MAX_BAND, seed=None):
    """Images (B, S, S, 1) with random border bands filled with each image's mean."""
    import tensorflow as tf

    keep = border_masks(tf.shape(x), probability, max_band, seed)
    mean = tf.reduce_mean(x, axis=(1, 2, 3), keepdims=True)
    return x * keep + mean * (1.0 - keep)


def mark_masks(shape, probability: float, seed=None):
    """(B, S, S, 1) float masks, 1 on a burned-in mark: with `probability` an image gets one
    bar (2-6 % of the side high, 3-25 % wide) inside the top or the bottom `MARK_BAND`."""
    import tensorflow as tf

    batch, height, width = shape[0], shape[1], shape[2]
    u = (tf.random.uniform((batch, 6)) if seed is None else
         tf.random.stateless_uniform((batch, 6), seed=seed))
    on = tf.cast(u[:, 0:1] < probability, tf.float32)
    bar_h, bar_w = 0.02 + 0.04 * u[:, 1:2], 0.03 + 0.22 * u[:, 2:3]
    top = u[:, 3:4] * (MARK_BAND - bar_h)
    top = tf.where(u[:, 4:5] < 0.5, top, 1.0 - MARK_BAND + top)  # top or bottom band
    left = u[:, 5:6] * (1.0 - bar_w)
    rows, cols = _pixel_centres(height, width)
    in_rows = tf.cast((rows[None] >= top) & (rows[None] <= top + bar_h), tf.float32)
    in_cols = tf.cast((cols[None] >= left) & (cols[None] <= left + bar_w), tf.float32)
    return (on[:, :, None] * in_rows[:, :, None] * in_cols[:, None, :])[..., None]


def burn_in_marks(x, probability: float, seed=None):
    """Images (B, S, S, 1), 0..255, with random bars burned in: white (255) four times in
    five, else black (0)."""
    import tensorflow as tf

    marks = mark_masks(tf.shape(x), probability, seed)
    u = (tf.random.uniform((tf.shape(x)[0], 1, 1, 1)) if seed is None else
         tf.random.stateless_uniform((tf.shape(x)[0], 1, 1, 1), seed=(seed[1], seed[0])))
    value = tf.where(u < 0.8, 255.0, 0.0)
    return x * (1.0 - marks) + value * marks


def make_augmenter(image_size: int, strength: float = 1.0, border_masking: float = 0.0,
                   marks: float = 0.0):
    """A function (B, S, S, 1) float 0..255 -> same, for `dataset.map` after batching.
    `border_masking`: probability that each side gets a masked band (0: never); `marks`:
    probability that an image gets a burned-in bar (0: never)."""
    import keras
    import tensorflow as tf

    geometric = keras.Sequential([
        keras.layers.RandomRotation(0.03 * strength, fill_mode="constant"),  # about ±10°
        keras.layers.RandomTranslation(0.06 * strength, 0.06 * strength, fill_mode="constant"),
        keras.layers.RandomZoom((-0.12 * strength, 0.12 * strength), fill_mode="constant"),
    ], name="geometric_augmentation")

    def gaussian_kernel(sigma):
        ax = tf.range(-2.0, 3.0)
        k = tf.exp(-(ax ** 2) / (2.0 * sigma ** 2))
        k = k / tf.reduce_sum(k)
        return tf.reshape(tf.tensordot(k, k, axes=0), (5, 5, 1, 1))

    def photometric(x):
        batch = tf.shape(x)[0]
        per_image = (batch, 1, 1, 1)
        x = x / 255.0
        gamma = tf.exp(tf.random.uniform(per_image, -0.4, 0.4) * strength)
        x = tf.pow(tf.clip_by_value(x, 1e-4, 1.0), gamma)
        mean = tf.reduce_mean(x, axis=(1, 2, 3), keepdims=True)
        contrast = tf.random.uniform(per_image, 1 - 0.25 * strength, 1 + 0.25 * strength)
        x = (x - mean) * contrast + mean
        # blur or sharpen the whole batch with one sigma; mild resolution loss
        sigma = tf.random.uniform((), 0.5, 1.5)
        blurred = tf.nn.conv2d(x, gaussian_kernel(sigma), 1, "SAME")
        amount = tf.random.uniform(per_image, -1.0, 1.0) * strength  # <0 sharpen, >0 blur
        x = x + amount * (blurred - x) * tf.cast(tf.random.uniform(per_image) < 0.5, x.dtype)
        scale = tf.random.uniform((), 0.5, 1.0)
        small = tf.cast(scale * image_size, tf.int32)
        resampled = tf.image.resize(tf.image.resize(x, (small, small), antialias=True),
                                    (image_size, image_size))
        x = tf.cond(tf.random.uniform(()) < 0.3, lambda: resampled, lambda: x)
        noise = tf.random.normal(tf.shape(x)) * tf.random.uniform(per_image, 0, 0.03) * strength
        return tf.clip_by_value(x + noise, 0.0, 1.0) * 255.0

    def augment(images, labels):
        x = photometric(geometric(images, training=True))
        if marks > 0:
            x = burn_in_marks(x, marks)
        if border_masking > 0:
            x = mask_borders_randomly(x, border_masking)
        return x, labels

    return augment
