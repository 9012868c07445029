"""Training throughput (images/s) per architecture on this machine, printed as a table.

    python benchmarks/bench_training.py [--size 224] [--batch-size 16] [--steps 4]
                                        [--arch NAME ...] [--precision auto|float32|mixed_float16]
    python benchmarks/bench_training.py --pipeline DATA [--limit 512] [--epochs 3] [--steps 8]

Each architecture is compiled exactly as `pneumo-desktop train` compiles it (Adam, binary
cross-entropy, AUC/precision/recall/accuracy), warmed up for one step, then timed over
`--steps` training steps on random images. Inference images/s (batch 16) is printed too.
`--precision` as `train --precision` (auto: mixed_float16 on a GPU); the backend is Keras's
(KERAS_BACKEND, TensorFlow by default; JAX on the GPU machine that has no TensorFlow).

`--pipeline DATA` times whole training epochs instead, through `training.train.fit` as
`pneumo-desktop train` runs them (input pipeline, augmentation with border masking and marks,
progress callbacks): `--limit` images of DATA decoded once, `--epochs` epochs of `--steps`
batches without validation; images/s and CPU time (all threads) per image over the epochs
after the first (which traces the graph); CPU time varies less on a shared machine.
The same command run against two checkouts (PYTHONPATH) compares their pipelines.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    from pneumo_desktop.model import precision
    from pneumo_desktop.model.architectures import ARCHITECTURES, build_model
    from pneumo_desktop.model.backend import device_description, keras_module

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--arch", action="append", choices=sorted(ARCHITECTURES))
    parser.add_argument("--precision", choices=precision.CHOICES, default="auto")
    parser.add_argument("--pipeline", metavar="DATA", help="time training epochs on DATA")
    parser.add_argument("--limit", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if args.pipeline:
        pipeline(args)
        return
    keras = keras_module()
    policy = precision.training_policy(args.precision, device_description())
    print(f"device: {device_description()}, backend {keras.backend.backend()}, "
          f"{os.cpu_count()} CPU cores, {platform.machine()}, image {args.size} px, "
          f"batch {args.batch_size}, {args.steps} timed steps, {policy}")
    print(f"{'architecture':<18}{'params':>12}{'train img/s':>14}{'infer img/s':>14}"
          f"{'s/epoch (5216)':>16}")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.batch_size, args.size, args.size, 1)).astype("float32")
    y = rng.integers(0, 2, args.batch_size).astype("float32")
    for arch in args.arch or list(ARCHITECTURES):
        model = build_model(arch, args.size)
        optimizer = keras.optimizers.Adam(1e-3)
        if policy != precision.FLOAT32:
            model = precision.with_policy(model, policy)
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, loss="binary_crossentropy",
                      metrics=[keras.metrics.AUC(name="auc"), keras.metrics.Precision(),
                               keras.metrics.Recall(), keras.metrics.BinaryAccuracy()])
        model.train_on_batch(x, y)
        started = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(x, y)
        train_rate = args.steps * args.batch_size / (time.perf_counter() - started)
        model.predict_on_batch(x)
        started = time.perf_counter()
        for _ in range(args.steps):
            model.predict_on_batch(x)
        infer_rate = args.steps * args.batch_size / (time.perf_counter() - started)
        print(f"{arch:<18}{model.count_params():>12,}{train_rate:>14.1f}{infer_rate:>14.1f}"
              f"{5216 / train_rate:>16.0f}", flush=True)
        keras.backend.clear_session()


def pipeline(args: argparse.Namespace) -> None:
    """Images/s of whole training epochs through `training.train.fit` (see the docstring)."""
    from pneumo_desktop.evaluation.datasets import build_cache
    from pneumo_desktop.model.architectures import build_model
    from pneumo_desktop.model.backend import keras_module
    from pneumo_desktop.training.config import PreparedData, TrainConfig, TrainingCallbacks
    from pneumo_desktop.training.train import fit, scan_data

    arch = (args.arch or ["compact_cnn_fine"])[0]
    config = TrainConfig(architecture=arch, image_size=args.size, batch_size=args.batch_size,
                         epochs=args.epochs, max_steps_per_epoch=args.steps, limit=args.limit,
                         border_masking=0.5, burned_in_marks=0.3)
    scan = scan_data(args.pipeline, config)
    cache = build_cache(scan.samples, args.size)
    data = PreparedData(scan, {"train": scan.samples}, {"train": cache}, [])
    keras = keras_module()
    keras.utils.set_random_seed(0)
    seconds: list[float] = []
    cpu = [time.process_time()]

    class Timer(TrainingCallbacks):
        def on_epoch(self, progress) -> None:
            seconds.append(progress.seconds)
            cpu.append(time.process_time())

    fit(build_model(arch, args.size), data, config, Timer(), monitor=None)
    images = args.steps * args.batch_size
    rates = [images / s for s in seconds]
    print(f"{keras.backend.backend()} {arch} {args.size} px, batch {args.batch_size}, "
          f"{args.steps} steps/epoch, {os.cpu_count()} CPU cores: epoch img/s "
          + ", ".join(f"{r:.1f}" for r in rates)
          + f"; after the first: {images * (len(seconds) - 1) / sum(seconds[1:]):.1f} img/s, "
          f"{(cpu[-1] - cpu[1]) / (images * (len(seconds) - 1)) * 1000:.0f} CPU ms/img")


if __name__ == "__main__":
    main()
