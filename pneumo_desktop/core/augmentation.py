"""Training-time augmentation as tf.data batch functions (geometric + photometric).

Horizontal flips are off: the heart is on the left. Photometric changes (gamma, contrast, blur,
sharpening, noise, resolution loss) imitate other detectors, exposures and resamplings, which
is what differs between clinics.
"""

from __future__ import annotations


def make_augmenter(image_size: int, strength: float = 1.0):
    """A function (B, S, S, 1) float 0..255 -> same, for `dataset.map` after batching."""
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
        return photometric(geometric(images, training=True)), labels

    return augment
