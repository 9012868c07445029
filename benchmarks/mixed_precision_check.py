"""Mixed precision on this machine's device, printed as figures:

1. the shipped model scores synthetic chest films the same in float16 compute as in float32
   (largest |difference| of the probabilities);
2. a model of the shipped architecture trained for a few steps in mixed_float16 on synthetic
   films, then rebuilt in float32 as `train` saves it, scores like the mixed model;
3. training images/s in float32 and mixed_float16 at several batch sizes.

    python benchmarks/mixed_precision_check.py [--size 224] [--steps 10] [--batch 32 64 128]

Backend-neutral Keras (no tf.data), so it runs with KERAS_BACKEND=jax on a GPU machine without
TensorFlow as well as here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def films(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    from pneumo_desktop.imaging.synthetic import synthetic_chest

    labels = np.arange(n) % 2
    images = np.stack([cv2.resize(synthetic_chest(size, seed=seed + i, opacity=bool(y)),
                                  (size, size)) for i, y in enumerate(labels)])
    return images[..., None].astype("float32"), labels.astype("float32")


def compile_for(keras, model, mixed: bool):
    optimizer = keras.optimizers.Adam(1e-4)
    if mixed:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy())
    return model


def main() -> None:
    from pneumo_desktop.model import precision
    from pneumo_desktop.model.architectures import build_model
    from pneumo_desktop.model.backend import device_description, keras_module
    from pneumo_desktop.model.bundle import read_bundle

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--model", default=str(ROOT / "models" / "default"))
    args = parser.parse_args()
    keras = keras_module()
    print(f"device: {device_description()}, Keras {keras.__version__}, backend "
          f"{keras.backend.backend()}")

    bundle = read_bundle(args.model)
    shipped = bundle.load_keras_model()
    x, y = films(64, bundle.card.input_size, seed=0)
    p32 = np.asarray(shipped.predict(x, batch_size=32, verbose=0)).ravel()
    p16 = np.asarray(precision.with_policy(shipped, precision.MIXED)
                     .predict(x, batch_size=32, verbose=0)).ravel()
    print(f"shipped {bundle.card.architecture}: max |p16 - p32| = "
          f"{np.max(np.abs(p16 - p32)):.2e} over {len(x)} films")

    arch = bundle.card.architecture.split("_x")[0]
    mixed = compile_for(keras, precision.with_policy(build_model(arch, args.size),
                                                     precision.MIXED), True)
    xt, yt = films(64, args.size, seed=100)
    losses = [float(mixed.train_on_batch(xt[i % 2 * 32:][:32], yt[i % 2 * 32:][:32]))
              for i in range(args.steps)]
    saved = precision.with_policy(mixed, precision.FLOAT32)
    xv, _ = films(64, args.size, seed=1)
    q16 = np.asarray(mixed.predict(xv, batch_size=32, verbose=0)).ravel()
    q32 = np.asarray(saved.predict(xv, batch_size=32, verbose=0)).ravel()
    print(f"{arch} trained {args.steps} steps in mixed_float16 (loss {losses[0]:.3f} -> "
          f"{losses[-1]:.3f}): max |p16 - p32 after saving as float32| = "
          f"{np.max(np.abs(q16 - q32)):.2e}")

    print(f"{'precision':<16}{'batch':>6}{'train img/s':>14}")
    for batch in args.batch:
        xb, yb = films(batch, args.size, seed=200)
        for policy in (precision.FLOAT32, precision.MIXED):
            model = build_model(arch, args.size)
            if policy != precision.FLOAT32:
                model = precision.with_policy(model, policy)
            compile_for(keras, model, policy != precision.FLOAT32)
            model.train_on_batch(xb, yb)
            model.train_on_batch(xb, yb)
            started = time.perf_counter()
            for _ in range(args.steps):
                loss = model.train_on_batch(xb, yb)
            float(loss)  # wait for the device
            rate = args.steps * batch / (time.perf_counter() - started)
            print(f"{policy:<16}{batch:>6}{rate:>14.1f}", flush=True)
            keras.backend.clear_session()


if __name__ == "__main__":
    main()
